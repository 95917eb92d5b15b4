/**
 * The SQLite store (better-sqlite3): many profiles in one database file, safe for many processes
 * at once. WAL journal, a busy timeout, `synchronous=FULL`.
 *
 * Tables: `tokens(profile PRIMARY KEY, record, updated_at, revision)` and
 * `locks(profile PRIMARY KEY, owner, expires_at, pid, host, host_id)`. The lock is a row inserted
 * in a `BEGIN IMMEDIATE` transaction; a row whose `expires_at` passed, or whose holder's pid is
 * dead and whose `host_id` is this process's host identity (same kernel and pid namespace: see
 * host-id.ts), is taken over in the same transaction. A save through the lock updates the record
 * only if the lock row still names this holder and has not expired, in one transaction, so a
 * holder that lost its lock cannot overwrite a newer token.
 *
 * `revision()` is `PRAGMA data_version`, which moves whenever another connection commits to the
 * database (any profile, any table: at worst a needless reload) and never for this connection's
 * own commits. It costs about 1.6 µs (no file system call, no I/O; some 600 000 a second), so it
 * is looked up on every call. Read it before `load()`, as the token manager does, so that a
 * commit landing between the two shows up as a change on the next look.
 *
 * @module
 */
import { promises as fsp, realpathSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { StoreError } from '../errors.js';
import type { TokenRecord } from '../token.js';
import { ensureFolder, FILE_MODE, fileStoreError } from './atomic-file.js';
import { decodeRecord, encodeRecord, plainCodec, type RecordCodec } from './codec.js';
import { looseFileMessage, looseFolderWarning } from './folder-mode.js';
import { hostIdentity, isHolderDead } from './host-id.js';
import {
  lockLostError,
  lockTimeoutError,
  newLockToken,
  pollDelayMs,
  resolveLockOptions,
  sleepFor,
} from './lock-wait.js';
import { loadOptionalPackage } from './optional-package.js';
import type { LockOptions, StoreLock, TokenStore } from './types.js';

/**
 * The part of better-sqlite3's API this store uses, as local types: the published declarations
 * then need no `better-sqlite3` types, so a program without that optional package still
 * type-checks against td-token.
 */
interface Statement<Params extends unknown[], Row> {
  get(...params: Params): Row | undefined;
  run(...params: Params): { changes: number };
  /** Return the first column's value instead of the row (`Row` then names that value's type). */
  pluck(): Statement<Params, Row>;
}

interface Transaction<Args extends unknown[], Result> {
  immediate(...args: Args): Result;
}

interface Database {
  exec(sql: string): unknown;
  // biome-ignore lint/complexity/noBannedTypes: better-sqlite3's own signature, so that its class fits this type
  prepare<Params extends unknown[] | {} = unknown[], Row = unknown>(
    sql: string,
  ): Params extends unknown[] ? Statement<Params, Row> : Statement<[Params], Row>;
  transaction<Args extends unknown[], Result>(
    fn: (...args: Args) => Result,
  ): Transaction<Args, Result>;
  close(): unknown;
}

/** better-sqlite3's `Database` class, as far as this store uses it. */
export type SqliteDatabaseConstructor = new (
  path: string,
  options?: { timeout?: number; readonly?: boolean },
) => Database;

const HOST = hostname();

/** Options for {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** Warnings for people (a database file others can read). Default: `process.emitWarning`. */
  onWarning?: ((message: string) => void) | undefined;
  /** How the record's text is stored (plain by default; encryption wraps it). */
  codec?: RecordCodec | undefined;
  /** How long one statement waits for another process's write to finish, ms (default 5000). */
  busyTimeoutMs?: number | undefined;
}

interface LockRow {
  owner: string;
  expires_at: number;
  pid: number | null;
  host: string | null;
  host_id: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (
  profile TEXT PRIMARY KEY,
  record TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS locks (
  profile TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  pid INTEGER,
  host TEXT,
  host_id TEXT
);
`;

/** Databases made before `locks.host_id` existed get it added; this one error means it is there. */
const ADD_HOST_ID = 'ALTER TABLE locks ADD COLUMN host_id TEXT';

/** Load better-sqlite3 once, only when the SQLite store is chosen. */
export function loadBetterSqlite3(): Promise<SqliteDatabaseConstructor> {
  return loadOptionalPackage(
    'better-sqlite3',
    'sqlite',
    () => import('better-sqlite3'),
    (mod) =>
      (mod as { default?: SqliteDatabaseConstructor }).default ??
      (mod as SqliteDatabaseConstructor),
  );
}

function sqliteError(action: string, location: string, cause: unknown): StoreError {
  const code = (cause as { code?: unknown }).code;
  const reason = typeof code === 'string' ? code : String(cause);
  let fix = 'check the database file and the disk, then run the command again';
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    fix = 'another process kept the database busy too long; run the command again';
  } else if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    fix =
      'the file is not a td-token database (or it is damaged): choose another path with --store-url, or move the file away and log in again';
  } else if (code === 'SQLITE_FULL') {
    fix = 'the disk is full: free some space and run the command again';
  } else if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') {
    fix =
      'check the permissions of the file and its folder, or choose another path with --store-url';
  }
  return new StoreError('store_error', `could not ${action} ${location} (${reason}). ${fix}`, {
    cause,
  });
}

/**
 * Keeps token records in an SQLite database, one row per profile.
 *
 * @example
 * const store = await SqliteStore.open('/srv/bots/tokens.db', 'alice');
 * const record = await store.load();
 * await store.close();
 */
/**
 * Closed databases and the stores holding their statements, kept reachable until the process
 * exits. On Node 24, a better-sqlite3 object that the garbage collector destroys can abort the
 * process (`Assertion failed: (env) != nullptr` in `node::RemoveEnvironmentCleanupHook`, called
 * from `ObjectWrap`'s destructor while no environment is current). Objects still reachable at
 * exit are freed by Node's own environment clean-up instead, which is safe. So the store never
 * lets one become garbage: its statements are prepared once, and a closed database is kept
 * here. The cost is a few kilobytes per store opened and closed.
 */
const retired: unknown[] = [];

function retire(db: Database, holder?: SqliteStore): void {
  try {
    db.close();
  } finally {
    retired.push(db, holder);
  }
}

export class SqliteStore implements TokenStore {
  readonly kind = 'sqlite' as const;
  /** `sqlite:<absolute path>#<profile>`. */
  readonly location: string;
  /** The database file's absolute path. */
  readonly path: string;
  readonly profile: string;
  readonly #db: Database;
  readonly #codec: RecordCodec;
  /** The place an encrypted record is bound to: the database's real path and the profile. */
  readonly #binding: string;
  readonly #dataVersion: Statement<[], number>;
  readonly #selectRecord: Statement<[string], { record: string; revision: number }>;
  readonly #upsert: Statement<[string, string, number], unknown>;
  readonly #updateIfUnchanged: Statement<[string, number, string, number, string], unknown>;
  readonly #delete: Statement<[string], unknown>;
  readonly #selectLock: Statement<[string], LockRow>;
  readonly #putLock: Statement<[string, string, number, number, string, string], unknown>;
  readonly #deleteLock: Statement<[string, string], unknown>;
  #closed = false;

  /**
   * Open (creating when missing, mode 0600 in a 0700 folder) the database at `path` for
   * `profile`. Loads better-sqlite3 on first use.
   */
  static async open(
    path: string,
    profile: string,
    options: SqliteStoreOptions = {},
  ): Promise<SqliteStore> {
    if (typeof path !== 'string' || path === '') {
      throw new TypeError('"path" must be a non-empty string');
    }
    if (typeof profile !== 'string' || profile === '') {
      throw new TypeError('"profile" must be a non-empty string');
    }
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    if (typeof busyTimeoutMs !== 'number' || !(busyTimeoutMs >= 0)) {
      throw new TypeError('"options.busyTimeoutMs" must be a non-negative number');
    }
    const Database = await loadBetterSqlite3();
    const absolute = resolve(path);
    await ensureFolder(dirname(absolute));
    try {
      // Created here so that it starts as 0600; SQLite gives -wal and -shm the same mode.
      await (await fsp.open(absolute, 'wx', FILE_MODE)).close();
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw fileStoreError('create the database', absolute, cause);
      }
    }
    checkMode(absolute, options.onWarning);
    const location = `sqlite:${absolute}#${profile}`;
    let db: Database | undefined;
    try {
      db = new Database(absolute, { timeout: busyTimeoutMs });
      // exec, not pragma(): pragma() makes a statement object that becomes garbage at once.
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
      db.exec(SCHEMA);
      try {
        db.exec(ADD_HOST_ID);
      } catch (cause) {
        if (!/duplicate column name/i.test(String((cause as Error).message))) throw cause;
      }
      return new SqliteStore(db, absolute, profile, location, options.codec ?? plainCodec);
    } catch (cause) {
      if (db !== undefined) retire(db);
      throw sqliteError('open the database', absolute, cause);
    }
  }

  private constructor(
    db: Database,
    path: string,
    profile: string,
    location: string,
    codec: RecordCodec,
  ) {
    this.#db = db;
    this.path = path;
    this.profile = profile;
    this.location = location;
    this.#codec = codec;
    this.#binding = `sqlite:${realPathOf(path)}#${profile}`;
    this.#dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.#selectRecord = db.prepare('SELECT record, revision FROM tokens WHERE profile = ?');
    this.#upsert = db.prepare(
      `INSERT INTO tokens (profile, record, updated_at, revision) VALUES (?, ?, ?, 1)
       ON CONFLICT (profile) DO UPDATE SET record = excluded.record,
         updated_at = excluded.updated_at, revision = tokens.revision + 1`,
    );
    this.#updateIfUnchanged = db.prepare(
      `UPDATE tokens SET record = ?, updated_at = ?, revision = revision + 1
       WHERE profile = ? AND revision = ? AND record = ?`,
    );
    this.#delete = db.prepare('DELETE FROM tokens WHERE profile = ?');
    this.#selectLock = db.prepare(
      'SELECT owner, expires_at, pid, host, host_id FROM locks WHERE profile = ?',
    );
    this.#putLock = db.prepare(
      `INSERT OR REPLACE INTO locks (profile, owner, expires_at, pid, host, host_id)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.#deleteLock = db.prepare('DELETE FROM locks WHERE profile = ? AND owner = ?');
  }

  /** The profile's record, or undefined. */
  async load(): Promise<TokenRecord | undefined> {
    return (await this.#read())?.record;
  }

  /**
   * Replace the profile's record only while it holds the refresh token `expectedRefreshToken`:
   * read it, compare, then update only if the row (its revision and text) has not changed since,
   * in one statement, so no other writer's save lands in between.
   */
  async compareAndSave(expectedRefreshToken: string, record: TokenRecord): Promise<boolean> {
    const text = await encodeRecord(this.#codec, record, this.#binding);
    // Another writer's save between the read and the update: look again (a few times).
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.#read();
      if (current === undefined || current.record.refresh_token !== expectedRefreshToken) {
        return false;
      }
      let changes: number;
      try {
        ({ changes } = this.#updateIfUnchanged.run(
          text,
          Date.now(),
          this.profile,
          current.revision,
          current.text,
        ));
      } catch (cause) {
        throw sqliteError('write', this.location, cause);
      }
      if (changes === 1) return true;
    }
    return false;
  }

  async #read(): Promise<{ record: TokenRecord; revision: number; text: string } | undefined> {
    let row: { record: string; revision: number } | undefined;
    try {
      row = this.#selectRecord.get(this.profile);
    } catch (cause) {
      throw sqliteError('read', this.location, cause);
    }
    if (row === undefined) return undefined;
    return {
      record: await decodeRecord(this.#codec, row.record, this.location, this.#binding),
      revision: row.revision,
      text: row.record,
    };
  }

  /** Replace the profile's record in one transaction. */
  async save(record: TokenRecord): Promise<void> {
    const text = await encodeRecord(this.#codec, record, this.#binding);
    try {
      this.#upsert.run(this.profile, text, Date.now());
    } catch (cause) {
      throw sqliteError('write', this.location, cause);
    }
  }

  /** Delete the profile's record. */
  async clear(): Promise<void> {
    try {
      this.#delete.run(this.profile);
    } catch (cause) {
      throw sqliteError('delete the record in', this.location, cause);
    }
  }

  /** `PRAGMA data_version`: moves when another connection commits. */
  revision(): number | undefined {
    if (this.#closed) return undefined;
    return this.#dataVersion.get();
  }

  /** Take the profile's lock row, taking over an expired or dead holder's. */
  async lock(options?: LockOptions): Promise<StoreLock> {
    const { waitMs, ttlMs, signal } = resolveLockOptions(options);
    signal?.throwIfAborted();
    const owner = newLockToken();
    const take = this.#db.transaction((now: number): LockRow | undefined => {
      const row = this.#selectLock.get(this.profile);
      if (row !== undefined && row.expires_at > now && !isHolderDead(row.pid, row.host_id)) {
        return row;
      }
      this.#putLock.run(this.profile, owner, now + ttlMs, process.pid, HOST, hostIdentity());
      return undefined;
    });
    const deadline = Date.now() + waitMs;
    let holder: LockRow | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        holder = take.immediate(Date.now());
        if (holder === undefined) break;
      } catch (cause) {
        if ((cause as { code?: unknown }).code !== 'SQLITE_BUSY') {
          throw sqliteError('lock', this.location, cause);
        }
      }
      const now = Date.now();
      if (now >= deadline) {
        throw lockTimeoutError(this.location, waitMs, {
          holder: holder
            ? `pid ${holder.pid ?? '?'} on ${holder.host ?? '?'} until ${new Date(holder.expires_at).toISOString()}`
            : undefined,
        });
      }
      await sleepFor(pollDelayMs(attempt, deadline, now), signal);
    }
    const fencedSave = this.#db.transaction((text: string, now: number) => {
      const row = this.#selectLock.get(this.profile);
      if (row === undefined || row.owner !== owner || row.expires_at <= now) {
        throw lockLostError(this.location);
      }
      this.#upsert.run(this.profile, text, now);
    });
    return {
      save: async (record) => {
        const text = await encodeRecord(this.#codec, record, this.#binding);
        try {
          fencedSave.immediate(text, Date.now());
        } catch (cause) {
          if (cause instanceof StoreError) throw cause;
          throw sqliteError('write', this.location, cause);
        }
      },
      release: async () => {
        if (this.#closed) return;
        try {
          this.#deleteLock.run(this.profile, owner);
        } catch (cause) {
          throw sqliteError('unlock', this.location, cause);
        }
      },
    };
  }

  /** Close the database connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    retire(this.#db, this);
  }
}

function realPathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function checkMode(path: string, onWarning: ((message: string) => void) | undefined): void {
  if (process.platform === 'win32') return;
  const warn = (message: string): void => {
    if (onWarning) onWarning(message);
    else process.emitWarning(message, 'TdTokenWarning');
  };
  const folder = looseFolderWarning(dirname(path), 'the token database');
  if (folder !== undefined) warn(folder);
  const message = looseFileMessage('the token database', path, statSync(path).mode);
  if (message !== undefined) warn(message);
}
