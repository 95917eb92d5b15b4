/**
 * Which store to use, as data: the spec of each store kind. What `--store` / `--store-url` (and
 * `TD_TOKEN_STORE`, `TD_TOKEN_STORE_URL`) mean is decided by each kind's driver (registry.ts);
 * `STORE_KINDS` and `storeSpecFrom` are re-exported from there.
 *
 * @module
 */
import type { EncryptionOptions } from './crypto.js';

/** Options every store that keeps its record outside the process accepts. */
export interface FileBackedSpecOptions {
  /**
   * Called with warnings for people (a token file others can read, naming the `chmod` that
   * fixes it). Default: `process.emitWarning`.
   */
  onWarning?: ((message: string) => void) | undefined;
  /**
   * Encrypt the record at rest (AES-256-GCM) with a passphrase or a key file; see
   * `createEncryptingCodec`. The record is bound to its place (the file, or the profile's row
   * or key): a copy moved to another profile or store does not open.
   */
  encryption?: EncryptionOptions | undefined;
}

/** The memory store: nothing kept after the process exits. */
export interface MemoryStoreSpec {
  kind: 'memory';
}

/** The file store: the seed's `token.json` at `path`. */
export interface FileStoreSpec extends FileBackedSpecOptions {
  kind: 'file';
  path: string;
}

/** The SQLite store: one database file, one row per profile. */
export interface SqliteStoreSpec extends FileBackedSpecOptions {
  kind: 'sqlite';
  path: string;
  profile: string;
}

/** The Redis store: one key per profile, shared by machines. */
export interface RedisStoreSpec extends FileBackedSpecOptions {
  kind: 'redis';
  /** `redis://[user:password@]host[:port][/db]` or `rediss://...` for TLS. */
  url: string;
  profile: string;
  /** Key prefix (default `td-token`): keys are `<prefix>:<profile>:token` and `...:lock`. */
  keyPrefix?: string | undefined;
}

/**
 * Every store kind and its spec, by kind. A store added in its own file extends this map
 * (`declare module './spec.js' { interface StoreSpecs { postgres: PostgresStoreSpec } }`) and
 * registers its driver in registry.ts; `StoreSpec` and `StoreKind` then include it.
 */
export interface StoreSpecs {
  memory: MemoryStoreSpec;
  file: FileStoreSpec;
  sqlite: SqliteStoreSpec;
  redis: RedisStoreSpec;
}

/**
 * Which store to open; see `createStore`.
 *
 * @example
 * const spec: StoreSpec = { kind: 'sqlite', path: 'tokens.db', profile: 'default' };
 * const store = await createStore(spec);
 */
export type StoreSpec = StoreSpecs[keyof StoreSpecs];

export { DEFAULT_SQLITE_FILE, STORE_KINDS, storeSpecFrom } from './registry.js';
