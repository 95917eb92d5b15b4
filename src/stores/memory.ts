/**
 * The memory store: one record in this process, gone when it exits. Its lock is an in-process
 * mutex with the same expiry rules as the other stores' locks.
 *
 * @module
 */
import type { TokenRecord } from '../token.js';
import { validateTokenRecord } from '../token.js';
import {
  lockLostError,
  lockTimeoutError,
  newLockToken,
  resolveLockOptions,
  waitForRelease,
} from './lock-wait.js';
import type { LockOptions, StoreLock, TokenStore } from './types.js';

interface Holder {
  token: string;
  expiresAt: number;
}

/**
 * Keeps one token record in memory (the seed's `TD_STORE_TOKENS=false`).
 *
 * @example
 * const store = new MemoryStore();
 * await store.save(record);
 * const again = await store.load();
 */
export class MemoryStore implements TokenStore {
  readonly kind = 'memory' as const;
  readonly location = 'memory';
  #record: TokenRecord | undefined;
  #revision = 0;
  #holder: Holder | undefined;
  #waiters = new Set<() => void>();
  #closed = false;

  /** A copy of the record, or undefined. */
  async load(): Promise<TokenRecord | undefined> {
    return this.#record === undefined ? undefined : structuredClone(this.#record);
  }

  /** Keep a copy of the record (checked against the schema first). */
  async save(record: TokenRecord): Promise<void> {
    this.#put(record);
  }

  /** Save `record` only while the stored refresh token is `expectedRefreshToken`. */
  async compareAndSave(expectedRefreshToken: string, record: TokenRecord): Promise<boolean> {
    if (this.#record?.refresh_token !== expectedRefreshToken) return false;
    this.#put(record);
    return true;
  }

  /** Forget the record. */
  async clear(): Promise<void> {
    this.#record = undefined;
    this.#revision++;
  }

  /** A counter that moves on every save and clear. */
  revision(): number {
    return this.#revision;
  }

  /**
   * Take the in-process lock, waiting up to `waitMs`. A holder that keeps it past `ttlMs` loses
   * it to the next waiter and can no longer save through it.
   */
  async lock(options?: LockOptions): Promise<StoreLock> {
    const { waitMs, ttlMs, signal } = resolveLockOptions(options);
    signal?.throwIfAborted();
    const deadline = Date.now() + waitMs;
    for (;;) {
      const now = Date.now();
      if (this.#holder === undefined || this.#holder.expiresAt <= now) {
        const holder: Holder = { token: newLockToken(), expiresAt: now + ttlMs };
        this.#holder = holder;
        return this.#storeLock(holder);
      }
      if (now >= deadline)
        throw lockTimeoutError(this.location, waitMs, {
          holder: 'this process',
          fix: 'try again, or raise the lock wait time',
        });
      const until = Math.min(deadline, this.#holder.expiresAt);
      await waitForRelease(this.#waiters, until - now, signal);
    }
  }

  /** Drop the record and wake lock waiters. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake();
  }

  #put(record: TokenRecord): void {
    const copy = structuredClone(validateTokenRecord(record, 'the record to save'));
    this.#record = copy;
    this.#revision++;
  }

  #storeLock(holder: Holder): StoreLock {
    const owns = () => this.#holder === holder && holder.expiresAt > Date.now() && !this.#closed;
    return {
      save: async (record) => {
        if (!owns()) throw lockLostError(this.location);
        this.#put(record);
      },
      release: async () => {
        if (this.#holder === holder) {
          this.#holder = undefined;
          this.#wake();
        }
      },
    };
  }

  #wake(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }
}
