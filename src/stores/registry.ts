/**
 * The store drivers: one entry per store kind, saying what `--store-url` means for it
 * (`specFrom`), how to open it (`open`), how to name it for people (`describe`), and whether it
 * can encrypt its record (`encrypts`). `createStore`, `describeStoreSpec`, `STORE_KINDS`,
 * `storeSpecFrom` and the contract tests read this list; nothing else lists the kinds.
 *
 * Adding a store is one new file (its store class, its spec added to `StoreSpecs` by module
 * augmentation, and its driver) plus one line in {@link STORE_DRIVERS}. The file and memory
 * stores are loaded up front; SQLite, Redis and encryption (with their packages and
 * `node:crypto`) only when opened, so `td-token token` starts light.
 *
 * @module
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { SQLITE_FILE_NAME } from '../paths.js';
import type { RecordCodec } from './codec.js';
import type { EncryptionOptions } from './crypto.js';
import { FileStore } from './file.js';
import { MemoryStore } from './memory.js';
import { isRedisUrl, maskRedisUrl } from './redis-url.js';
import type { StoreSpec, StoreSpecs } from './spec.js';
import type { StoreKind, TokenStore } from './types.js';

/** What `storeSpecFrom` hands a driver: the `--store-url` value and the profile's defaults. */
export interface StoreSpecInput {
  /** `--store-url` (trimmed), or undefined when none was given. */
  url: string | undefined;
  /** The profile's name. */
  profile: string;
  /** The profile's default token file. */
  defaultPath: string;
}

/** One store kind: how it is chosen, opened and named. */
export interface StoreDriver<K extends StoreKind = StoreKind> {
  readonly kind: K;
  /** The spec for `--store <kind> --store-url <url>`; a bad URL is a `ConfigError` with the fix. */
  specFrom(input: StoreSpecInput): StoreSpecs[K];
  /** Open the store a (checked) spec names. */
  open(spec: StoreSpecs[K]): Promise<TokenStore>;
  /** Where the store keeps the record, for people; never a password or a token. */
  describe(spec: StoreSpecs[K]): string;
  /** Whether the spec's `encryption` is honoured (the record encrypted at rest). */
  readonly encrypts: boolean;
}

/** The database file name used for the SQLite store when no `--store-url` is given. */
export const DEFAULT_SQLITE_FILE = SQLITE_FILE_NAME;

function filePath(url: string): string {
  return url.startsWith('file:') ? fileURLToPath(url) : url;
}

/** The encrypting codec for a spec's `encryption`, or undefined (plain) when it has none. */
export async function codecFor(
  encryption: EncryptionOptions | undefined,
  onWarning: ((message: string) => void) | undefined,
): Promise<RecordCodec | undefined> {
  if (encryption === undefined) return undefined;
  const { createEncryptingCodec } = await import('./crypto.js');
  return createEncryptingCodec(encryption, { onWarning });
}

function encryptedNote(encryption: EncryptionOptions | undefined): string {
  if (encryption === undefined) return '';
  return encryption.keyFile !== undefined
    ? `, encrypted with the key file ${encryption.keyFile}`
    : ', encrypted with a passphrase';
}

const fileDriver: StoreDriver<'file'> = {
  kind: 'file',
  encrypts: true,
  specFrom: ({ url, defaultPath }) => ({
    kind: 'file',
    path: url === undefined ? defaultPath : filePath(url),
  }),
  open: async (spec) =>
    new FileStore(spec.path, {
      onWarning: spec.onWarning,
      codec: await codecFor(spec.encryption, spec.onWarning),
    }),
  describe: (spec) => `file ${spec.path}${encryptedNote(spec.encryption)}`,
};

const sqliteDriver: StoreDriver<'sqlite'> = {
  kind: 'sqlite',
  encrypts: true,
  specFrom: ({ url, profile, defaultPath }) => ({
    kind: 'sqlite',
    path: url === undefined ? join(dirname(defaultPath), DEFAULT_SQLITE_FILE) : filePath(url),
    profile,
  }),
  open: async (spec) => {
    const { SqliteStore } = await import('./sqlite.js');
    return SqliteStore.open(spec.path, spec.profile, {
      onWarning: spec.onWarning,
      codec: await codecFor(spec.encryption, spec.onWarning),
    });
  },
  describe: (spec) =>
    `sqlite ${spec.path} (profile ${spec.profile})${encryptedNote(spec.encryption)}`,
};

const redisDriver: StoreDriver<'redis'> = {
  kind: 'redis',
  encrypts: true,
  specFrom: ({ url, profile }) => {
    if (url === undefined) {
      throw new ConfigError(
        'the redis store needs a server URL. give it with --store-url redis://host:6379 (or TD_TOKEN_STORE_URL)',
      );
    }
    if (!isRedisUrl(url)) {
      throw new ConfigError(
        'the redis store URL must start with redis:// or rediss://. give it with --store-url redis://host:6379 (or TD_TOKEN_STORE_URL)',
      );
    }
    return { kind: 'redis', url, profile };
  },
  open: async (spec) => {
    const { RedisStore } = await import('./redis.js');
    return RedisStore.open(spec.url, spec.profile, {
      keyPrefix: spec.keyPrefix,
      codec: await codecFor(spec.encryption, spec.onWarning),
    });
  },
  describe: (spec) =>
    `redis ${maskRedisUrl(spec.url)} (profile ${spec.profile})${encryptedNote(spec.encryption)}`,
};

const memoryDriver: StoreDriver<'memory'> = {
  kind: 'memory',
  encrypts: false,
  specFrom: () => ({ kind: 'memory' }),
  open: async () => new MemoryStore(),
  describe: () => 'memory (nothing is saved; the token is gone when the process exits)',
};

/** Every store driver, in the order the kinds are listed to people. */
export const STORE_DRIVERS: readonly StoreDriver[] = [
  fileDriver,
  sqliteDriver,
  redisDriver,
  memoryDriver,
];

/** The store kinds, in the order they are listed to people. */
export const STORE_KINDS: readonly StoreKind[] = STORE_DRIVERS.map((d) => d.kind);

/** The driver of `kind`, or undefined when no store of that kind is registered. */
export function storeDriver(kind: string): StoreDriver | undefined {
  return STORE_DRIVERS.find((d) => d.kind === kind);
}

function driverOf(spec: StoreSpec): StoreDriver {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('"spec" must be an object');
  const driver = storeDriver((spec as { kind?: unknown }).kind as string);
  if (driver === undefined) {
    throw new TypeError(`"spec.kind" must be one of ${STORE_KINDS.join(', ')}`);
  }
  return driver;
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
  const driver = storeDriver(kind.trim().toLowerCase());
  if (driver === undefined) {
    throw new ConfigError(
      `unknown store "${kind}". use one of: ${STORE_KINDS.join(', ')} (--store or TD_TOKEN_STORE)`,
    );
  }
  const where = url === undefined || url.trim() === '' ? undefined : url.trim();
  return driver.specFrom({ url: where, profile, defaultPath });
}

/**
 * Open the store a spec names. SQLite and Redis load their packages (`better-sqlite3`,
 * `ioredis`) only here, only when chosen; a missing one is a `ConfigError` naming the
 * `npm install` that fixes it. A spec with `encryption` (file, SQLite, Redis) encrypts the
 * record at rest (AES-256-GCM; see `createEncryptingCodec`).
 *
 * @example
 * const store = await createStore({ kind: 'file', path: 'token.json' });
 * const record = await store.load();
 * await store.close();
 */
export function createStore(spec: StoreSpec): Promise<TokenStore> {
  try {
    return driverOf(spec).open(spec);
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Where a spec's store keeps the record, for people: `file /path`, `sqlite /path (profile p)`,
 * `redis redis://:****@host:6379/ (profile p)`, with `, encrypted with ...` when it is. A Redis
 * password is masked; no token or passphrase is ever shown.
 *
 * @example
 * describeStoreSpec({ kind: 'file', path: '/home/me/token.json' }); // 'file /home/me/token.json'
 */
export function describeStoreSpec(spec: StoreSpec): string {
  return driverOf(spec).describe(spec);
}
