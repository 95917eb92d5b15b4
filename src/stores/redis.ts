/**
 * The Redis store (ioredis): for bots on several machines sharing one login.
 *
 * Keys: `<prefix>:<profile>:token` holds the record's text; `<prefix>:<profile>:lock` holds the
 * current lock holder's random value, set with `SET NX PX <ttl>` so that it expires if its holder
 * dies. A save through the lock and a release are Lua scripts that act only if the lock key still
 * holds this holder's value, so a holder that lost its lock cannot overwrite a newer token.
 *
 * `revision()`: every save and clear publishes a message on `<prefix>:<profile>:events`; a
 * second connection subscribes to it and bumps a local counter when another writer's message
 * arrives. The hot path reads that counter (a few nanoseconds, no round trip). Another machine's
 * save is noticed as soon as its message arrives (well under a millisecond on a LAN); until then
 * the previous token, still valid, is used. While the subscription is down (reconnecting), every
 * call returns a new value, so the manager reads the store each time; after a reconnect the
 * counter moves once, since messages may have been missed. Lock releases are published too and
 * wake this process's waiters at once; `onChange` hands the same messages (others' saves and
 * clears, every release, a resubscription) to the token manager, whose waiters then look at once.
 *
 * `compareAndSave` reads the record, compares its refresh token, and saves with a Lua script
 * only if the key still holds exactly the text it read.
 *
 * With a codec (`createStore`'s `encryption`: a passphrase or a key file), the key holds the same
 * AES-256-GCM envelope as an encrypted token file, so a shared Redis (its dumps, its replicas,
 * whoever can `GET`) never holds a plain refresh token.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { ConfigError, StoreError } from '../errors.js';
import type { TokenRecord } from '../token.js';
import { backoffMs } from '../util/backoff.js';
import { decodeRecord, encodeRecord, plainCodec, type RecordCodec } from './codec.js';
import {
  lockLostError,
  lockTimeoutError,
  newLockToken,
  pollDelayMs,
  resolveLockOptions,
  waitForRelease,
} from './lock-wait.js';
import { loadOptionalPackage } from './optional-package.js';
import { isRedisUrl, maskRedisUrl } from './redis-url.js';
import type { LockOptions, StoreLock, TokenStore } from './types.js';

export { maskRedisUrl } from './redis-url.js';

/**
 * The part of ioredis's client this store uses, as local types: the published declarations then
 * need no `ioredis` types, so a program without that optional package still type-checks against
 * td-token.
 */
interface RedisPipeline {
  set(key: string, value: string): RedisPipeline;
  del(key: string): RedisPipeline;
  publish(channel: string, message: string): RedisPipeline;
  exec(): Promise<unknown>;
}

interface RedisClient {
  connect(): Promise<unknown>;
  duplicate(): RedisClient;
  on(event: string, listener: (...args: never[]) => void): unknown;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<'OK' | null>;
  multi(): RedisPipeline;
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  subscribe(channel: string): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** ioredis's `Redis` class, as far as this store uses it. */
export type RedisClientConstructor = new (
  url: string,
  options: {
    lazyConnect: boolean;
    connectTimeout: number;
    commandTimeout: number;
    maxRetriesPerRequest: number;
    autoResubscribe: boolean;
    retryStrategy: (times: number) => number;
  },
) => RedisClient;

/** Options for {@link RedisStore.open}. */
export interface RedisStoreOptions {
  /** Key prefix (default `td-token`). */
  keyPrefix?: string | undefined;
  /** How the record's text is stored (plain by default; `createEncryptingCodec` encrypts it). */
  codec?: RecordCodec | undefined;
  /** How long to wait for the server when connecting, ms (default 5000). */
  connectTimeoutMs?: number | undefined;
  /** How long to wait for one command's answer, ms (default 10 000). */
  commandTimeoutMs?: number | undefined;
}

/** Saves the record only while the lock key holds our value; publishes the change. */
const FENCED_SAVE = `
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
return 0`;

/** Saves the record only while its key holds exactly the text read before; publishes the change. */
const SAVE_IF_UNCHANGED = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
return 0`;

/** Deletes the lock key only while it holds our value; announces the release. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0`;

/** Load ioredis once, only when the Redis store is chosen. */
export function loadIoredis(): Promise<RedisClientConstructor> {
  return loadOptionalPackage(
    'ioredis',
    'redis',
    () => import('ioredis'),
    (mod) => {
      const m = mod as { Redis?: RedisClientConstructor; default?: RedisClientConstructor };
      const ctor = m.Redis ?? m.default;
      if (typeof ctor !== 'function') throw new Error('ioredis exports no Redis class');
      return ctor;
    },
  );
}

/**
 * A copy of a client error that cannot carry a token: ioredis errors can hold the command's
 * arguments, which include the record.
 */
function safeCause(cause: unknown): Error {
  const e = cause as { name?: unknown; message?: unknown; code?: unknown };
  const copy = new Error(typeof e?.message === 'string' ? e.message : String(cause));
  if (typeof e?.name === 'string') copy.name = e.name;
  if (typeof e?.code === 'string') (copy as NodeJS.ErrnoException).code = e.code;
  return copy;
}

interface EventMessage {
  from: string;
  op: 'save' | 'clear' | 'release';
}

/**
 * Keeps token records in Redis, one key per profile, with an expiring, fenced lock.
 *
 * @example
 * const store = await RedisStore.open('redis://127.0.0.1:6379', 'alice');
 * const lock = await store.lock({ ttlMs: 15_000 });
 * try {
 *   await lock.save(record);
 * } finally {
 *   await lock.release();
 * }
 * await store.close();
 */
export class RedisStore implements TokenStore {
  readonly kind = 'redis' as const;
  /** The server (password masked) and the token key. */
  readonly location: string;
  readonly tokenKey: string;
  readonly lockKey: string;
  readonly channel: string;
  readonly #client: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #codec: RecordCodec;
  /** The place an encrypted record is bound to: its key (the server may move; the key stays). */
  readonly #binding: string;
  readonly #id = randomBytes(8).toString('hex');
  readonly #server: string;
  #counter = 0;
  #subscribed = false;
  #closed = false;
  #waiters = new Set<() => void>();
  #listeners = new Set<() => void>();

  /** Connect (two connections: commands and the change subscription) to `url` for `profile`. */
  static async open(
    url: string,
    profile: string,
    options: RedisStoreOptions = {},
  ): Promise<RedisStore> {
    if (typeof url !== 'string' || url === '') {
      throw new TypeError('"url" must be a non-empty string');
    }
    if (typeof profile !== 'string' || profile === '') {
      throw new TypeError('"profile" must be a non-empty string');
    }
    const prefix = options.keyPrefix ?? 'td-token';
    if (typeof prefix !== 'string' || prefix === '') {
      throw new TypeError('"options.keyPrefix" must be a non-empty string');
    }
    const server = maskRedisUrl(url);
    if (!isRedisUrl(url)) {
      throw new ConfigError(
        `the redis store URL ${server} is not a redis:// or rediss:// URL. give one with --store-url redis://host:6379`,
      );
    }
    const Redis = await loadIoredis();
    const client = new Redis(url, {
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? 5000,
      commandTimeout: options.commandTimeoutMs ?? 10_000,
      maxRetriesPerRequest: 1,
      autoResubscribe: false,
      retryStrategy: (times: number) => backoffMs({ baseMs: 50, capMs: 2000, attempt: times }),
    });
    const subscriber = client.duplicate();
    for (const c of [client, subscriber]) c.on('error', () => undefined);
    const store = new RedisStore(client, subscriber, server, prefix, profile, options);
    try {
      await client.connect();
      await subscriber.connect();
      await store.#subscribe();
      store.#followSubscription();
    } catch (cause) {
      client.disconnect();
      subscriber.disconnect();
      throw new StoreError(
        'store_error',
        `could not connect to the redis server at ${server} (${safeCause(cause).message}). check that redis-server is running there and that --store-url is right`,
        { cause: safeCause(cause) },
      );
    }
    return store;
  }

  private constructor(
    client: RedisClient,
    subscriber: RedisClient,
    server: string,
    prefix: string,
    profile: string,
    options: RedisStoreOptions,
  ) {
    this.#client = client;
    this.#subscriber = subscriber;
    this.#server = server;
    this.#codec = options.codec ?? plainCodec;
    this.tokenKey = `${prefix}:${profile}:token`;
    this.lockKey = `${prefix}:${profile}:lock`;
    this.channel = `${prefix}:${profile}:events`;
    this.location = `${server} (key ${this.tokenKey})`;
    this.#binding = `redis:${this.tokenKey}`;
    subscriber.on('message', (channel: string, text: string) => this.#onMessage(channel, text));
  }

  /** After the first subscription: follow the subscriber connection's drops and returns. */
  #followSubscription(): void {
    this.#subscriber.on('close', () => {
      this.#subscribed = false;
    });
    this.#subscriber.on('ready', () => {
      if (this.#closed || this.#subscribed) return;
      this.#subscribe().catch(() => undefined);
    });
  }

  /** The record, or undefined. */
  async load(): Promise<TokenRecord | undefined> {
    const text = await this.#call('read', () => this.#client.get(this.tokenKey));
    if (text === null) return undefined;
    return decodeRecord(this.#codec, text, this.location, this.#binding);
  }

  /** Replace the record (and tell other processes). */
  async save(record: TokenRecord): Promise<void> {
    const text = await encodeRecord(this.#codec, record, this.#binding);
    await this.#call('write', () =>
      this.#client
        .multi()
        .set(this.tokenKey, text)
        .publish(this.channel, this.#message('save'))
        .exec(),
    );
  }

  /**
   * Replace the record only while it holds the refresh token `expectedRefreshToken`: read it,
   * compare, then save with a script that acts only if the key still holds the text read.
   */
  async compareAndSave(expectedRefreshToken: string, record: TokenRecord): Promise<boolean> {
    const text = await encodeRecord(this.#codec, record, this.#binding);
    // Another writer's save between the read and the script: look again (a few times).
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.#call('read', () => this.#client.get(this.tokenKey));
      if (current === null) return false;
      const stored = await decodeRecord(this.#codec, current, this.location, this.#binding);
      if (stored.refresh_token !== expectedRefreshToken) return false;
      const saved = await this.#call('write', () =>
        this.#client.eval(
          SAVE_IF_UNCHANGED,
          1,
          this.tokenKey,
          current,
          text,
          this.channel,
          this.#message('save'),
        ),
      );
      if (saved === 1) return true;
    }
    return false;
  }

  /**
   * Call `listener` when another process's save or clear, or any lock release, is announced, and
   * after a resubscription (messages may have been missed). Returns the function that removes it.
   */
  onChange(listener: () => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('"listener" must be a function');
    // A wrapper per call, so that the same function added twice is removed once per remover.
    const entry = () => listener();
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Delete the record (and tell other processes). */
  async clear(): Promise<void> {
    await this.#call('delete', () =>
      this.#client.multi().del(this.tokenKey).publish(this.channel, this.#message('clear')).exec(),
    );
  }

  /** A local counter moved by other writers' published changes. */
  revision(): number {
    if (!this.#subscribed) this.#counter++;
    return this.#counter;
  }

  /** Take the lock (`SET NX PX ttl`), waiting for a release message or polling. */
  async lock(options?: LockOptions): Promise<StoreLock> {
    const { waitMs, ttlMs, signal } = resolveLockOptions(options);
    signal?.throwIfAborted();
    const owner = newLockToken();
    const deadline = Date.now() + waitMs;
    for (let attempt = 0; ; attempt++) {
      const ok = await this.#call('lock', () =>
        this.#client.set(this.lockKey, owner, 'PX', ttlMs, 'NX'),
      );
      if (ok === 'OK') break;
      const now = Date.now();
      if (now >= deadline) {
        throw lockTimeoutError(this.location, waitMs);
      }
      await waitForRelease(this.#waiters, pollDelayMs(attempt, deadline, now), signal);
    }
    return {
      save: async (record) => {
        const text = await encodeRecord(this.#codec, record, this.#binding);
        const saved = await this.#call('write', () =>
          this.#client.eval(
            FENCED_SAVE,
            2,
            this.tokenKey,
            this.lockKey,
            owner,
            text,
            this.channel,
            this.#message('save'),
          ),
        );
        if (saved !== 1) throw lockLostError(this.location);
      },
      release: async () => {
        if (this.#closed) return;
        await this.#call('unlock', () =>
          this.#client.eval(
            RELEASE,
            1,
            this.lockKey,
            owner,
            this.channel,
            this.#message('release'),
          ),
        );
      },
    };
  }

  /** Close both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscribed = false;
    this.#listeners.clear();
    for (const wake of [...this.#waiters]) wake();
    await Promise.all(
      [this.#client, this.#subscriber].map((c) =>
        c.quit().then(
          () => undefined,
          () => c.disconnect(),
        ),
      ),
    );
  }

  async #subscribe(): Promise<void> {
    await this.#subscriber.subscribe(this.channel);
    this.#subscribed = true;
    // Messages sent while we were not subscribed are lost: count them as a change.
    this.#counter++;
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener();
      } catch {
        // A listener's failure is its own; the others still hear of the change.
      }
    }
  }

  #onMessage(channel: string, text: string): void {
    if (channel !== this.channel) return;
    let message: Partial<EventMessage>;
    try {
      message = JSON.parse(text) as Partial<EventMessage>;
    } catch {
      message = {};
    }
    if (message.op === 'release') {
      for (const wake of [...this.#waiters]) wake();
      this.#notify();
      return;
    }
    if (message.from !== this.#id) {
      this.#counter++;
      this.#notify();
    }
  }

  #message(op: EventMessage['op']): string {
    return JSON.stringify({ from: this.#id, op } satisfies EventMessage);
  }

  async #call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      throw new StoreError(
        'store_error',
        `could not ${action} ${this.location}: the store was closed. open it again`,
      );
    }
    try {
      return await fn();
    } catch (cause) {
      const safe = safeCause(cause);
      throw new StoreError(
        'store_error',
        `could not ${action} ${this.location} (${safe.message}). check that redis-server is running at ${this.#server} and that --store-url is right`,
        { cause: safe },
      );
    }
  }
}
