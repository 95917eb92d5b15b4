/**
 * Lock or fresh: how the token manager takes the store's lock for a refresh. While another
 * holder has the lock it watches the store instead of queueing behind it, and returns the token
 * the holder saves as soon as this caller may use it (the `ChangeSignal` wakes it at once on a
 * store's change announcement).
 *
 * @module
 */
import { isTdTokenError } from '../errors.js';
import type { StoreLock, TokenStore } from '../stores/types.js';
import { isAccessTokenFresh, type TokenRecord } from '../token.js';
import { backoffMs } from '../util/backoff.js';

/** How long `lock()` waits by default, ms (the stores' default). */
const DEFAULT_LOCK_WAIT_MS = 30_000;
/**
 * While another process holds the lock, try to take it again after 50, 100, 200, 400, then
 * every 500 ms: a lock attempt costs far more than a look at the store, and 63 processes
 * hammering the lock would starve the one that holds it.
 */
const LOCK_RETRY_MS = 25;
const LOCK_RETRY_MAX_MS = 500;
/** ... and look at the store at most this long apart, ms (with jitter). */
const WATCH_MAX_MS = 16;
const UNSEEN: unique symbol = Symbol('unseen');

/** Why a refresh is wanted: `force` even when fresh; `rejected` the access token an API refused. */
export interface RefreshMode {
  force: boolean;
  rejected?: string;
}

/** What the watcher needs of the manager. */
export interface LockWatchContext {
  store: TokenStore;
  /** The manager's clock. */
  now: () => number;
  marginMs: number;
  /** `TokenManagerOptions.lockWaitMs`, undefined for the default. */
  lockWaitMs: number | undefined;
  /** One attempt at the store's lock, without waiting. */
  tryLock: () => Promise<StoreLock>;
  /** Use a fresh record another holder saved (cache it, check its expiry). */
  use: (stored: TokenRecord, revision: string | number | undefined, now: number) => void;
}

/** A store's change announcements for one waiter: a flag, and a wake-up for its sleep. */
export class ChangeSignal {
  #pending = false;
  #wake: (() => void) | undefined;

  notify(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Sleep `ms`, or less if a change is announced; true when one was (since the last wait). */
  async wait(ms: number): Promise<boolean> {
    if (!this.#pending) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        this.#wake = done;
      });
    }
    const announced = this.#pending;
    this.#pending = false;
    return announced;
  }
}

/**
 * Take the store's lock for a refresh. While another holder has it, watch the store instead of
 * queueing behind it: as soon as the holder saves a token this caller may use, return that,
 * so that a stampede of processes costs one refresh and no procession through the lock.
 * A store that announces changes (`onChange`: Redis) wakes the watcher at once, on a save to
 * look at, or on a release to try the lock; the timer stays, for announcements that are lost.
 */
export async function lockOrFresh(
  ctx: LockWatchContext,
  mode: RefreshMode,
  knownRevision: string | number | undefined,
): Promise<{ lock: StoreLock } | { record: TokenRecord }> {
  const signal = new ChangeSignal();
  const stop = ctx.store.onChange?.(() => signal.notify());
  try {
    return await watchForLockOrFresh(ctx, mode, knownRevision, signal);
  } finally {
    stop?.();
  }
}

async function watchForLockOrFresh(
  ctx: LockWatchContext,
  mode: RefreshMode,
  knownRevision: string | number | undefined,
  changed: ChangeSignal,
): Promise<{ lock: StoreLock } | { record: TokenRecord }> {
  const waitMs = ctx.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
  const deadline = Date.now() + waitMs;
  // The revision at which the store last held a token this caller cannot use.
  let seen: string | number | undefined | typeof UNSEEN = knownRevision ?? UNSEEN;
  let nextLockAttempt = 0;
  let lockAttempts = 0;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) {
      // Watching the store is cheap (a revision check); taking the lock is not.
      const revision = ctx.store.revision();
      if (revision === undefined || revision !== seen) {
        seen = revision;
        const stored = await ctx.store.load();
        const now = ctx.now();
        if (stored !== undefined && isAccessTokenFresh(stored, now, ctx.marginMs)) {
          const usable = mode.force
            ? mode.rejected !== undefined && stored.access_token !== mode.rejected
            : true;
          if (usable) {
            ctx.use(stored, revision, now);
            return { record: stored };
          }
        }
      }
    }
    const t = Date.now();
    if (t >= nextLockAttempt || t >= deadline) {
      try {
        return { lock: await ctx.tryLock() };
      } catch (err) {
        if (!isTdTokenError(err, 'lock_timeout') || Date.now() >= deadline) throw err;
      }
      lockAttempts++;
      nextLockAttempt =
        Date.now() +
        backoffMs({ baseMs: LOCK_RETRY_MS, capMs: LOCK_RETRY_MAX_MS, attempt: lockAttempts });
    }
    const look = backoffMs({ baseMs: 1, capMs: WATCH_MAX_MS, attempt, jitter: 'centered' });
    const ms = Math.max(0, Math.min(look, deadline - Date.now()));
    // Announced: a release means the lock is free now, so try it without the back-off.
    if (await changed.wait(ms)) nextLockAttempt = 0;
  }
}
