import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../helpers/sqlite.js';
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
  async disguiseLockHolder(spec) {
    if (spec.kind !== 'sqlite') throw new Error('an sqlite store spec was expected');
    const db = openDatabase(spec.path, { timeout: 5000 });
    try {
      const { changes } = db
        .prepare("UPDATE locks SET host_id = 'linux:another-boot:pidns:1' WHERE profile = ?")
        .run(spec.profile);
      if (changes !== 1) throw new Error('no lock row to disguise');
    } finally {
      db.close();
    }
  },
});
