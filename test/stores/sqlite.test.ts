/**
 * The SQLite store beyond the shared contract: file modes, many profiles in one database, a
 * file that is not a database, the mode warning, and the fenced lock row.
 */
import { promises as fsp, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTdTokenError } from '../../src/errors.js';
import { hostIdentity } from '../../src/stores/host-id.js';
import { type SqliteDatabaseConstructor, SqliteStore } from '../../src/stores/sqlite.js';
import type { TokenStore } from '../../src/stores/types.js';
import { spawnProcess, stopAll } from '../helpers/processes.js';
import { rejection } from '../helpers/rejection.js';
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

const mode = (p: string) => statSync(p).mode & 0o777;

afterAll(stopAll);

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const gone = spawnProcess(process.execPath, ['-e', '0']);
  await gone.exited;
  return gone.pid;
}

/** Write the profile's lock row behind the store's back. */
function writeLockRow(row: { pid: number; hostId: string | null; expiresAt: number }): void {
  const db = openDatabase(path);
  try {
    db.prepare(
      `INSERT OR REPLACE INTO locks (profile, owner, expires_at, pid, host, host_id)
       VALUES ('default', 'someone-else', ?, ?, ?, ?)`,
    ).run(row.expiresAt, row.pid, hostname(), row.hostId);
  } finally {
    db.close();
  }
}

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

  it('records its pid, hostname and host identity in the lock row', async () => {
    const store = await openStore('default');
    const lock = await store.lock({ ttlMs: 5000 });
    const db = openDatabase(path, { readonly: true });
    try {
      expect(db.prepare('SELECT pid, host, host_id FROM locks').all()).toEqual([
        { pid: process.pid, host: hostname(), host_id: hostIdentity() },
      ]);
    } finally {
      db.close();
    }
    await lock.release();
  });

  it("takes over at once a dead pid's lock row with this host identity", async () => {
    const store = await openStore('default');
    writeLockRow({ pid: await deadPid(), hostId: hostIdentity(), expiresAt: Date.now() + 60_000 });
    const lock = await store.lock({ waitMs: 0 });
    await lock.release();
  });

  for (const [what, hostId] of [
    ['another host identity (same hostname)', 'linux:other-boot:pidns:1'],
    ['no host identity (an older td-token)', null],
  ] as const) {
    it(`waits out, until it expires, a dead pid's lock row with ${what}`, async () => {
      const store = await openStore('default');
      const pid = await deadPid();
      const expiresAt = Date.now() + 1500;
      writeLockRow({ pid, hostId, expiresAt });
      const error = await rejection(store.lock({ waitMs: 100 }));
      expect(isTdTokenError(error, 'lock_timeout')).toBe(true);
      const lock = await store.lock({ waitMs: 5000 });
      expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
      await lock.release();
    });
  }

  it('adds the host_id column to a database made by an older td-token', async () => {
    await fsp.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const old = openDatabase(path);
    try {
      old
        .prepare(
          'CREATE TABLE tokens (profile TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at INTEGER NOT NULL, revision INTEGER NOT NULL)',
        )
        .run();
      old
        .prepare(
          'CREATE TABLE locks (profile TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL, pid INTEGER, host TEXT)',
        )
        .run();
    } finally {
      old.close();
    }
    const record = makeRecord();
    const store = await openStore('default');
    await (await openStore('default')).load(); // a second open finds the column there
    const lock = await store.lock();
    await lock.save(record);
    await lock.release();
    expect(await store.load()).toEqual(record);
  });

  it("has local client types that better-sqlite3's own class fits", () => {
    const ctor: SqliteDatabaseConstructor = Database;
    expect(typeof ctor).toBe('function');
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
