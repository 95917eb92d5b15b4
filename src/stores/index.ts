/**
 * Token stores: memory, file, SQLite and Redis behind one contract, and `createStore` to open
 * one from a {@link StoreSpec}.
 *
 * @module
 */
import { FileStore } from './file.js';
import { MemoryStore } from './memory.js';
import type { StoreSpec } from './spec.js';
import type { TokenStore } from './types.js';

export type { RecordCodec } from './codec.js';
export { plainCodec } from './codec.js';
export type { FileStoreOptions } from './file.js';
export { FileStore } from './file.js';
export { DEFAULT_LOCK_TTL_MS, DEFAULT_LOCK_WAIT_MS } from './lock-wait.js';
export { MemoryStore } from './memory.js';
export type {
  FileBackedSpecOptions,
  FileStoreSpec,
  MemoryStoreSpec,
  RedisStoreSpec,
  SqliteStoreSpec,
  StoreSpec,
} from './spec.js';
export { DEFAULT_SQLITE_FILE, STORE_KINDS, storeSpecFrom } from './spec.js';
export type { LockOptions, StoreKind, StoreLock, TokenStore } from './types.js';

/**
 * Open the store a spec names. SQLite and Redis load their packages (`better-sqlite3`,
 * `ioredis`) only here, only when chosen; a missing one is a `ConfigError` naming the
 * `npm install` that fixes it.
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
      return new FileStore(spec.path, { onWarning: spec.onWarning });
    default:
      throw new TypeError(`"spec.kind" must be one of file, sqlite, redis, memory`);
  }
}
