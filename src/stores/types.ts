/**
 * The contract every token store keeps: load, save, clear, and a lock that works as far as the
 * store reaches (one process for memory, processes on one machine for file and SQLite, machines
 * for Redis).
 *
 * @module
 */
import type { TokenRecord } from '../token.js';
import type { StoreSpecs } from './spec.js';

/**
 * A store kind: `memory`, `file`, `sqlite`, `redis`, or one a registered driver adds.
 *
 * @example
 * const kind: StoreKind = store.kind; // 'file' for the default store
 */
export type StoreKind = keyof StoreSpecs;

/**
 * How {@link TokenStore.lock} waits, and how long a lock outlives a holder that died.
 *
 * @example
 * const lock = await store.lock({ waitMs: 10_000, ttlMs: 30_000 });
 */
export interface LockOptions {
  /** How long to wait for the lock before failing with `lock_timeout`, ms (default 30 000). */
  waitMs?: number;
  /** How long the lock stays valid if its holder dies without releasing it, ms (default 30 000). */
  ttlMs?: number;
  signal?: AbortSignal;
}

/**
 * A held lock. Save through it, so that a holder whose lock expired cannot overwrite a newer token.
 *
 * @example
 * const lock = await store.lock();
 * try {
 *   await lock.save(newRecord);
 * } finally {
 *   await lock.release();
 * }
 */
export interface StoreLock {
  /** Save while holding the lock; throws `lock_timeout` (lock lost) instead of overwriting if the lock was taken over. */
  save(record: TokenRecord): Promise<void>;
  /** Release the lock; harmless if already released or expired. */
  release(): Promise<void>;
}

/**
 * The contract every token store keeps. A store holds one {@link TokenRecord} (one profile's
 * login): `load` reads it (undefined when there is none, `invalid_token_file` when it is
 * corrupt), `save` replaces it atomically, `clear` removes it, and `lock` keeps refreshes one at
 * a time as far as the store reaches. Because a refresh grant can rotate the refresh token, a
 * refresh must happen under the lock and be saved through it, or the token a second refresher
 * gets back is lost. Every store passes the same contract suite (`test/stores/contract.test.ts`).
 *
 * @example
 * import { createStore } from 'td-token';
 * const store = await createStore({ kind: 'file', path: 'output/token.json' });
 * const lock = await store.lock();
 * try {
 *   const record = await store.load();
 *   if (record) await lock.save({ ...record, scope: 'AccountAccess' });
 * } finally {
 *   await lock.release();
 *   await store.close();
 * }
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6 (a refresh may issue a new refresh token; the client must keep it)
 * @see https://www.rfc-editor.org/rfc/rfc6819#section-5.1.6 (keep refresh tokens confidential)
 */
export interface TokenStore {
  /** Which kind of store this is. */
  readonly kind: StoreKind;
  /** Where the record lives, for people (`status`); never holds a password or token. */
  readonly location: string;
  /** The stored record, or undefined when there is none. Throws `invalid_token_file` for a corrupt one. */
  load(): Promise<TokenRecord | undefined>;
  /** Replace the stored record atomically (never half-written). */
  save(record: TokenRecord): Promise<void>;
  /** Remove the stored record (logout). */
  clear(): Promise<void>;
  /** Take the store's lock (exclusive across everything that shares the store). */
  lock(options?: LockOptions): Promise<StoreLock>;
  /**
   * Save `record` only if the stored record's refresh token is still `expectedRefreshToken`, as
   * one atomic step against every other writer's save (and without the lock). True when saved;
   * false when the store holds another refresh token, or no record. The token manager uses it
   * to keep a refresh token the provider issued after this process lost its lock, which would
   * otherwise be lost while the provider has retired the old one. Optional: without it such a
   * refresh token is not saved.
   */
  compareAndSave?(expectedRefreshToken: string, record: TokenRecord): Promise<boolean>;
  /**
   * Optional: call `listener` soon after another writer saved or cleared the record, or a lock
   * holder released the lock, so that a process waiting for a refresh can look at once instead
   * of at its next poll. A hint only: it may come without a change, or (on a dropped
   * connection) not at all, so callers keep polling too. Returns a function that removes the
   * listener.
   */
  onChange?(listener: () => void): () => void;
  /**
   * A cheap, synchronous value that changes whenever another writer may have changed the stored
   * record since this process last loaded or saved it. The token manager's hot path compares it
   * and reloads only when it moved. `undefined` means the store cannot tell cheaply.
   */
  revision(): string | number | undefined;
  /** Free connections, watchers and handles. */
  close(): Promise<void>;
}
