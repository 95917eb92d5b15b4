/**
 * The SQLite store beyond the shared contract: file modes, many profiles in one database, a
 * file that is not a database, the mode warning, and the fenced lock row.
 */
import { promises as fsp, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTdTokenError } from '../../src/errors.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import type { TokenStore } from '../../src/stores/types.js';
import { openDatabase } from '../helpers/sqlite.js';
import { makeRecord, makeTempDir } from './support.js';

let dir: string;
let path: string;
const open: TokenStore[] = [];

async function openStore(profile: string, options?: Parameters<typeof SqliteStore.open>[2]) {
  const store = await SqliteStore.open(path, profile, options);
  open.push(store);
  return store;
}

beforeEach(async () => {
  dir = await makeTempDir();
  path = join(dir, 'state', 'tokens.db');
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await fsp.rm(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

const mode = (p: string) => statSync(p).mode & 0o777;

describe('sqlite store', () => {
  it('creates the database 0600 (with its -wal and -shm) in a 0700 folder', async () => {
    const store = await openStore('default');
    await store.save(makeRecord());
    expect(mode(dirname(path))).toBe(0o700);
    for (const file of [path, `${path}-wal`, `${path}-shm`]) expect(mode(file)).toBe(0o600);
    expect(store.location).toBe(`sqlite:${path}#default`);
  });

  it('keeps many profiles apart in one file, each with its own lock', async () => {
    const alice = await openStore('alice');
    const bob = await openStore('bob');
    const a = makeRecord({ issued_at: 1 });
    const b = makeRecord({ issued_at: 2 });
    await alice.save(a);
    await bob.save(b);
    expect(await alice.load()).toEqual(a);
    expect(await bob.load()).toEqual(b);

    const aliceLock = await alice.lock();
    const bobLock = await bob.lock({ waitMs: 0 });
    await bobLock.release();
    await aliceLock.release();

    await alice.clear();
    expect(await alice.load()).toBeUndefined();
    expect(await bob.load()).toEqual(b);

    const db = openDatabase(path, { readonly: true });
    try {
      const rows = db.prepare('SELECT profile, revision FROM tokens ORDER BY profile').all();
      expect(rows).toEqual([{ profile: 'bob', revision: 1 }]);
    } finally {
      db.close();
    }
  });

  it('does not move its revision for its own writes, and does for another connection', async () => {
    const store = await openStore('default');
    const other = await openStore('default');
    const start = store.revision();
    await store.save(makeRecord());
    expect(store.revision()).toBe(start);
    await other.save(makeRecord());
    expect(store.revision()).not.toBe(start);
  });

  it('calls a file that is not a database a store_error naming it', async () => {
    await fsp.mkdir(dirname(path), { recursive: true });
    await fsp.writeFile(path, 'x'.repeat(4096), { mode: 0o600 });
    const error = await rejection(SqliteStore.open(path, 'default'));
    expect(isTdTokenError(error, 'store_error')).toBe(true);
    expect(error.message).toContain(path);
    expect(error.message).toMatch(/--store-url/);
  });

  it('warns, naming the chmod, when others can read the database', async () => {
    await fsp.mkdir(dirname(path), { recursive: true });
    await fsp.writeFile(path, '', { mode: 0o644 });
    await fsp.chmod(path, 0o644);
    const warnings: string[] = [];
    await openStore('default', { onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`chmod 600 ${path}`);
  });

  it('refuses a save through a lock whose row now names another owner', async () => {
    const store = await openStore('default');
    const first = makeRecord({ issued_at: 1 });
    await store.save(first);
    const lock = await store.lock({ ttlMs: 60_000 });
    const db = openDatabase(path);
    try {
      db.prepare("UPDATE locks SET owner = 'someone-else' WHERE profile = 'default'").run();
    } finally {
      db.close();
    }
    const error = await rejection(lock.save(makeRecord({ issued_at: 2 })));
    expect(isTdTokenError(error, 'lock_timeout')).toBe(true);
    expect(await store.load()).toEqual(first);
    await lock.release();
    // The other owner's row stays.
    expect(isTdTokenError(await rejection(store.lock({ waitMs: 0 })), 'lock_timeout')).toBe(true);
  });

  it('rejects bad arguments with a TypeError naming them', async () => {
    await expect(SqliteStore.open('', 'p')).rejects.toThrow(
      new TypeError('"path" must be a non-empty string'),
    );
    await expect(SqliteStore.open(path, '')).rejects.toThrow(
      new TypeError('"profile" must be a non-empty string'),
    );
  });
});
