/**
 * What every store's lock shares: defaults, the polling back-off (util/backoff.ts), and the
 * errors (`lock_timeout` for a lock not taken in time or lost).
 *
 * @internal
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import { StoreError } from '../errors.js';
import { backoffMs } from '../util/backoff.js';
import { randomHex } from '../util/random.js';
import type { LockOptions } from './types.js';

/** How long `lock()` waits by default, ms. */
export const DEFAULT_LOCK_WAIT_MS = 30_000;
/** How long a lock lives by default if its holder never releases it, ms. */
export const DEFAULT_LOCK_TTL_MS = 30_000;

/** Checked, defaulted lock options. */
export interface ResolvedLockOptions {
  waitMs: number;
  ttlMs: number;
  signal: AbortSignal | undefined;
}

/** Apply defaults to {@link LockOptions}; a bad value is a TypeError naming it. */
export function resolveLockOptions(options: LockOptions | undefined): ResolvedLockOptions {
  const waitMs = options?.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  const ttlMs = options?.ttlMs ?? DEFAULT_LOCK_TTL_MS;
  if (typeof waitMs !== 'number' || !Number.isFinite(waitMs) || waitMs < 0) {
    throw new TypeError('"options.waitMs" must be a non-negative number');
  }
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new TypeError('"options.ttlMs" must be a positive number');
  }
  return { waitMs, ttlMs: Math.ceil(ttlMs), signal: options?.signal };
}

/** A random value that identifies one holder of one lock. */
export function newLockToken(): string {
  return randomHex(16);
}

/**
 * The wait before the next attempt: starts at 2 ms and doubles to 25 ms, with jitter so that
 * many waiters do not poll in step, and never past the deadline.
 */
export function pollDelayMs(attempt: number, deadline: number, now: number): number {
  const jittered = backoffMs({ baseMs: 2, capMs: 25, attempt, jitter: 'centered' });
  return Math.max(0, Math.min(jittered, deadline - now));
}

/** Sleep, or throw the signal's reason when it aborts. */
export async function sleepFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    // Rethrow what the caller aborted with, not the timer's generic AbortError.
    if (signal?.aborted) throw signal.reason;
    throw error;
  }
}

/**
 * Wait until a release calls one of `waiters`, `ms` pass, or `signal` aborts (rejecting with its
 * reason). The waiter removes itself from `waiters` in every outcome.
 */
export function waitForRelease(
  waiters: Set<() => void>,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const cleanup = () => {
      clearTimeout(timer);
      waiters.delete(done);
      signal?.removeEventListener('abort', onAbort);
    };
    const done = () => {
      cleanup();
      resolve();
    };
    const onAbort = () => {
      cleanup();
      reject(signal?.reason);
    };
    const timer = setTimeout(done, Math.max(0, ms));
    waiters.add(done);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What a `lock_timeout` error may say beyond the store and the wait. */
export interface LockTimeoutDetails {
  /** Who holds the lock, for people (`pid 12 on host until ...`). */
  holder?: string | undefined;
  /** The fix (default: try again later; a dead holder's lock expires by itself). */
  fix?: string | undefined;
}

/** The error for a lock not taken within `waitMs`: every store's one message. */
export function lockTimeoutError(
  location: string,
  waitMs: number,
  details: LockTimeoutDetails = {},
): StoreError {
  const held = details.holder ? ` (held by ${details.holder})` : '';
  const fix = details.fix ?? "try again later (a dead holder's lock expires by itself)";
  return new StoreError(
    'lock_timeout',
    `could not take the lock on ${location} within ${waitMs} ms${held}. another td-token process is using it; ${fix}`,
  );
}

/** The error for a save through a lock that expired or was taken over. */
export function lockLostError(location: string): StoreError {
  return new StoreError(
    'lock_timeout',
    `the lock on ${location} was lost (it expired or another process took it over), so this save was refused to keep the newer token. load the token again and retry, or raise the lock's ttl`,
  );
}
