/**
 * Which store to use, as data: what `--store` / `--store-url` (and `TD_TOKEN_STORE`,
 * `TD_TOKEN_STORE_URL`) say, checked.
 *
 * @module
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import type { EncryptionOptions } from './crypto.js';
import type { StoreKind } from './types.js';

/** Options every file-backed store accepts. */
export interface FileBackedSpecOptions {
  /**
   * Called with warnings for people (a token file others can read, naming the `chmod` that
   * fixes it). Default: `process.emitWarning`.
   */
  onWarning?: ((message: string) => void) | undefined;
}

/** The memory store: nothing kept after the process exits. */
export interface MemoryStoreSpec {
  kind: 'memory';
}

/** The file store: the seed's `token.json` at `path`. */
export interface FileStoreSpec extends FileBackedSpecOptions {
  kind: 'file';
  path: string;
  /** Encrypt the record at rest (AES-256-GCM) with a passphrase or a key file; see `createEncryptingCodec`. */
  encryption?: EncryptionOptions | undefined;
}

/** The SQLite store: one database file, one row per profile. */
export interface SqliteStoreSpec extends FileBackedSpecOptions {
  kind: 'sqlite';
  path: string;
  profile: string;
  /** Encrypt the record at rest (AES-256-GCM) with a passphrase or a key file; see `createEncryptingCodec`. */
  encryption?: EncryptionOptions | undefined;
}

/** The Redis store: one key per profile, shared by machines. */
export interface RedisStoreSpec {
  kind: 'redis';
  /** `redis://[user:password@]host[:port][/db]` or `rediss://...` for TLS. */
  url: string;
  profile: string;
  /** Key prefix (default `td-token`): keys are `<prefix>:<profile>:token` and `...:lock`. */
  keyPrefix?: string | undefined;
}

/** Which store to open; see `createStore`. */
export type StoreSpec = MemoryStoreSpec | FileStoreSpec | SqliteStoreSpec | RedisStoreSpec;

/** The store kinds, in the order they are listed to people. */
export const STORE_KINDS: readonly StoreKind[] = ['file', 'sqlite', 'redis', 'memory'];

/** The database file name used for the SQLite store when no `--store-url` is given. */
export const DEFAULT_SQLITE_FILE = 'tokens.db';

function filePath(url: string): string {
  return url.startsWith('file:') ? fileURLToPath(url) : url;
}

/**
 * Turn a `--store` / `--store-url` pair into a {@link StoreSpec}.
 *
 * - `file`: the token file at `url`, or at `defaultPath` (the profile's default token file).
 * - `sqlite`: the database at `url`, or `tokens.db` in `defaultPath`'s folder; one row per profile.
 * - `redis`: `url` is required (`redis://` or `rediss://`).
 * - `memory`: `url` is ignored.
 *
 * @param kind `file`, `sqlite`, `redis` or `memory` (any case).
 * @param url `--store-url`: a file path (or `file:` URL) for file and SQLite, a Redis URL for Redis.
 * @param profile the profile's name (a row in SQLite, a key part in Redis).
 * @param defaultPath the profile's default token file.
 * @throws ConfigError for an unknown kind, a missing or non-Redis URL for Redis.
 * @example
 * storeSpecFrom('redis', 'redis://127.0.0.1:6379', 'default', defaultTokenPath('default', env));
 * // { kind: 'redis', url: 'redis://127.0.0.1:6379', profile: 'default' }
 */
export function storeSpecFrom(
  kind: string,
  url: string | undefined,
  profile: string,
  defaultPath: string,
): StoreSpec {
  if (typeof kind !== 'string') throw new TypeError('"kind" must be a string');
  if (url !== undefined && typeof url !== 'string') {
    throw new TypeError('"url" must be a string or undefined');
  }
  if (typeof profile !== 'string' || profile === '') {
    throw new TypeError('"profile" must be a non-empty string');
  }
  if (typeof defaultPath !== 'string' || defaultPath === '') {
    throw new TypeError('"defaultPath" must be a non-empty string');
  }
  const where = url === undefined || url.trim() === '' ? undefined : url.trim();
  switch (kind.trim().toLowerCase()) {
    case 'memory':
      return { kind: 'memory' };
    case 'file':
      return { kind: 'file', path: where === undefined ? defaultPath : filePath(where) };
    case 'sqlite':
      return {
        kind: 'sqlite',
        path:
          where === undefined ? join(dirname(defaultPath), DEFAULT_SQLITE_FILE) : filePath(where),
        profile,
      };
    case 'redis': {
      if (where === undefined) {
        throw new ConfigError(
          'the redis store needs a server URL. give it with --store-url redis://host:6379 (or TD_TOKEN_STORE_URL)',
        );
      }
      let parsed: URL | undefined;
      try {
        parsed = new URL(where);
      } catch {
        parsed = undefined;
      }
      if (parsed === undefined || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')) {
        throw new ConfigError(
          'the redis store URL must start with redis:// or rediss://. give it with --store-url redis://host:6379 (or TD_TOKEN_STORE_URL)',
        );
      }
      return { kind: 'redis', url: where, profile };
    }
    default:
      throw new ConfigError(
        `unknown store "${kind}". use one of: ${STORE_KINDS.join(', ')} (--store or TD_TOKEN_STORE)`,
      );
  }
}
