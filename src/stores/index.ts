/**
 * Token stores: memory, file, SQLite and Redis behind one contract, registered as drivers
 * (registry.ts), and `createStore` to open one from a {@link StoreSpec}.
 *
 * @module
 */

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
export type { StoreDriver, StoreSpecInput } from './registry.js';
export { createStore, describeStoreSpec, STORE_DRIVERS, storeDriver } from './registry.js';
export type {
  FileBackedSpecOptions,
  FileStoreSpec,
  MemoryStoreSpec,
  RedisStoreSpec,
  SqliteStoreSpec,
  StoreSpec,
  StoreSpecs,
} from './spec.js';
export { DEFAULT_SQLITE_FILE, STORE_KINDS, storeSpecFrom } from './spec.js';
export type { SqliteStoreOptions } from './sqlite.js';
export { SqliteStore } from './sqlite.js';
export type { LockOptions, StoreKind, StoreLock, TokenStore } from './types.js';
