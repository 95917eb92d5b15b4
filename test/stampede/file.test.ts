import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stampedeSuite } from './suite.js';

stampedeSuite('file', {
  flavor: 'schwab',
  async open() {
    const dir = await mkdtemp(join(tmpdir(), 'td-token-stampede-'));
    return {
      spec: { kind: 'file', path: join(dir, 'profile', 'token.json') },
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  async disguiseLockHolder(spec) {
    if (spec.kind !== 'file') throw new Error('a file store spec was expected');
    // Rewritten whole (temp file, rename), as another host identity's lock file would be.
    const lockPath = `${spec.path}.lock`;
    const info = JSON.parse(await readFile(lockPath, 'utf8')) as Record<string, unknown>;
    const temp = `${lockPath}.disguise`;
    await writeFile(temp, JSON.stringify({ ...info, hostId: 'linux:another-boot:pidns:1' }), {
      mode: 0o600,
    });
    await rename(temp, lockPath);
  },
});
