/**
 * `createStore`: open the store a {@link StoreSpec} names, loading only what that store needs.
 * The file and memory stores are loaded up front; SQLite, Redis and encryption (with their
 * packages and `node:crypto`) only when chosen, so `td-token token` starts light.
 *
 * @module
 */
import type { RecordCodec } from './codec.js';
import type { EncryptionOptions } from './crypto.js';
import { FileStore } from './file.js';
import { MemoryStore } from './memory.js';
import type { StoreSpec } from './spec.js';
import type { TokenStore } from './types.js';

/** The encrypting codec for a spec's `encryption`, or undefined (plain) when it has none. */
async function codecFor(
  encryption: EncryptionOptions | undefined,
  onWarning: ((message: string) => void) | undefined,
): Promise<RecordCodec | undefined> {
  if (encryption === undefined) return undefined;
  const { createEncryptingCodec } = await import('./crypto.js');
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
        codec: await codecFor(spec.encryption, spec.onWarning),
      });
    case 'sqlite': {
      const { SqliteStore } = await import('./sqlite.js');
      return SqliteStore.open(spec.path, spec.profile, {
        onWarning: spec.onWarning,
        codec: await codecFor(spec.encryption, spec.onWarning),
      });
    }
    case 'redis': {
      const { RedisStore } = await import('./redis.js');
      return RedisStore.open(spec.url, spec.profile, { keyPrefix: spec.keyPrefix });
    }
    default:
      throw new TypeError('"spec.kind" must be one of file, sqlite, redis, memory');
  }
}
