import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stampedeSuite } from './suite.js';

stampedeSuite('sqlite', {
  flavor: 'tdameritrade',
  async open() {
    const dir = await mkdtemp(join(tmpdir(), 'td-token-stampede-'));
    return {
      spec: { kind: 'sqlite', path: join(dir, 'tokens.db'), profile: 'default' },
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
});
