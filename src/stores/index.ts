/**
 * Token stores: memory, file, SQLite and Redis behind one contract, and `createStore` to open
 * one from a {@link StoreSpec}.
 *
 * @module
 */
import type { RecordCodec } from './codec.js';
import { createEncryptingCodec, type EncryptionOptions } from './crypto.js';
import { FileStore } from './file.js';
import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import type { StoreSpec } from './spec.js';
import { SqliteStore } from './sqlite.js';
import type { TokenStore } from './types.js';

export type { RecordCodec } from './codec.js';
export { plainCodec } from './codec.js';
export type { EncryptingCodecOptions, EncryptionOptions, ScryptCost } from './crypto.js';
export { createEncryptingCodec, createKeyFile, DEFAULT_SCRYPT_COST } from './crypto.js';
export type { FileStoreOptions } from './file.js';
export { FileStore } from './file.js';
export { DEFAULT_LOCK_TTL_MS, DEFAULT_LOCK_WAIT_MS } from './lock-wait.js';
export { MemoryStore } from './memory.js';
export type { RedisStoreOptions } from './redis.js';
export { maskRedisUrl, RedisStore } from './redis.js';
export type {
  FileBackedSpecOptions,
  FileStoreSpec,
  MemoryStoreSpec,
  RedisStoreSpec,
  SqliteStoreSpec,
  StoreSpec,
} from './spec.js';
export { DEFAULT_SQLITE_FILE, STORE_KINDS, storeSpecFrom } from './spec.js';
export type { SqliteStoreOptions } from './sqlite.js';
export { SqliteStore } from './sqlite.js';
export type { LockOptions, StoreKind, StoreLock, TokenStore } from './types.js';

/** The encrypting codec for a spec's `encryption`, or undefined (plain) when it has none. */
function codecFor(
  encryption: EncryptionOptions | undefined,
  onWarning: ((message: string) => void) | undefined,
): RecordCodec | undefined {
  if (encryption === undefined) return undefined;
  return createEncryptingCodec(encryption, { onWarning });
}

/**
 * Open the store a spec names. SQLite and Redis load their packages (`better-sqlite3`,
 * `ioredis`) only here, only when chosen; a missing one is a `ConfigError` naming the
 * `npm install` that fixes it. A file or SQLite spec with `encryption` encrypts the record at
 * rest (AES-256-GCM; see `createEncryptingCodec`).
 *
 * @example
 * const store = await createStore({ kind: 'file', path: 'token.json' });
 * const record = await store.load();
 * await store.close();
 */
export async function createStore(spec: StoreSpec): Promise<TokenStore> {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('"spec" must be an object');
  switch (spec.kind) {
    case 'memory':
      return new MemoryStore();
    case 'file':
      return new FileStore(spec.path, {
        onWarning: spec.onWarning,
        codec: codecFor(spec.encryption, spec.onWarning),
      });
    case 'sqlite':
      return SqliteStore.open(spec.path, spec.profile, {
        onWarning: spec.onWarning,
        codec: codecFor(spec.encryption, spec.onWarning),
      });
    case 'redis':
      return RedisStore.open(spec.url, spec.profile, { keyPrefix: spec.keyPrefix });
    default:
      throw new TypeError('"spec.kind" must be one of file, sqlite, redis, memory');
  }
}
