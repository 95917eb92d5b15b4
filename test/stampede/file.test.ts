import { mkdtemp, rm } from 'node:fs/promises';
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
});
