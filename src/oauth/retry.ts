/**
 * Bounded retries with exponential backoff and jitter, for transient failures only (rate limits
 * and provider outages), honouring the provider's `Retry-After`.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isTdTokenError } from '../errors.js';
import { backoffMs } from '../util/backoff.js';

/** How {@link withRetry} retries. */
export interface RetryOptions {
  /** Retries after the first try (default 3, so at most 4 tries). */
  retries?: number;
  /** The first backoff, ms (default 500); it doubles each retry. */
  baseDelayMs?: number;
  /**
   * No wait is longer than this (default 30 000). An error whose `Retry-After` asks for longer
   * is thrown at once instead of being retried early.
   */
  maxDelayMs?: number;
  /** Waits `ms`; tests pass a fake (default: a timer). */
  sleep?: (ms: number) => Promise<void>;
  /** Random number in [0, 1) for jitter (default `Math.random`). */
  random?: () => number;
  /** Stops waiting and retrying; the abort reason is thrown. */
  signal?: AbortSignal | undefined;
  /** Called before each wait, e.g. to log it. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

/** Errors that must be thrown as they are, transient or not (see {@link doNotRetry}). */
const final = new WeakSet<object>();

/**
 * Mark `error` so that {@link withRetry} throws it at once although it is transient: a request
 * that must not be sent twice. Returns `error`.
 *
 * @internal
 */
export function doNotRetry<E extends object>(error: E): E {
  final.add(error);
  return error;
}

/** The defaults of {@link RetryOptions}. */
export const RETRY_DEFAULTS = Object.freeze({ retries: 3, baseDelayMs: 500, maxDelayMs: 30_000 });

function nonNegative(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`"${name}" must be a non-negative number`);
  }
  return value;
}

/**
 * The wait before retry number `retry` (1 for the first retry): `Retry-After` when the error
 * carries one, else exponential backoff with "equal jitter" (between half and all of
 * `baseDelayMs * 2^(retry-1)`); never more than `maxDelayMs`.
 */
export function backoffDelay(
  retry: number,
  error: unknown,
  options: { baseDelayMs: number; maxDelayMs: number; random: () => number },
): number {
  const retryAfter = isTdTokenError(error) ? error.retryAfterMs : undefined;
  if (retryAfter !== undefined) return Math.min(Math.max(0, retryAfter), options.maxDelayMs);
  const delay = backoffMs({
    baseMs: options.baseDelayMs,
    capMs: options.maxDelayMs,
    attempt: retry - 1,
    jitter: 'equal',
    random: options.random,
  });
  return Math.min(options.maxDelayMs, Math.round(delay));
}

/**
 * Run `fn` (attempt 1, 2, ...) until it resolves, retrying only td-token errors that are
 * `transient` (`rate_limited`, `provider_unavailable`), at most `retries` times. Anything else is
 * thrown at once; after the last retry the last error is thrown. A `Retry-After` longer than
 * `maxDelayMs` is not cut short: its error (which names the wait) is thrown at once, since
 * asking again early would only be refused again.
 *
 * @example
 * const record = await withRetry(() => refreshOnce(), { retries: 2 });
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  if (typeof fn !== 'function') throw new TypeError('"fn" must be a function');
  const retries = Math.floor(nonNegative(options.retries, 'retries', RETRY_DEFAULTS.retries));
  const baseDelayMs = nonNegative(options.baseDelayMs, 'baseDelayMs', RETRY_DEFAULTS.baseDelayMs);
  const maxDelayMs = nonNegative(options.maxDelayMs, 'maxDelayMs', RETRY_DEFAULTS.maxDelayMs);
  const random = options.random ?? Math.random;
  const signal = options.signal;
  const sleep =
    options.sleep ?? ((ms: number) => delay(ms, undefined, signal ? { signal } : undefined));
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (!isTdTokenError(error) || !error.transient || attempt > retries) throw error;
      if (signal?.aborted || final.has(error)) throw error;
      if (error.retryAfterMs !== undefined && error.retryAfterMs > maxDelayMs) throw error;
      const delayMs = backoffDelay(attempt, error, { baseDelayMs, maxDelayMs, random });
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}
