/**
 * The token manager's constructor arguments: their checks (a TypeError naming the parameter)
 * and the defaults of its options.
 *
 * @module
 */
import type { RetryOptions } from '../oauth/index.js';
import type { Provider } from '../providers/types.js';
import type { TokenStore } from '../stores/types.js';
import type { TokenManagerOptions } from './types.js';

const MINUTE = 60_000;

/** The options with their defaults filled in (`fetch`, `retry` and `lockWaitMs` stay optional). */
export interface ResolvedOptions {
  marginMs: number;
  renewWithinDays: number;
  /** Sorted from the most hours to the fewest. */
  warnAtHours: readonly number[];
  now: () => number;
  fetch: typeof fetch | undefined;
  retry: RetryOptions | false | undefined;
  lockWaitMs: number | undefined;
  lockTtlMs: number;
}

function checkNumber(value: unknown, name: string, min: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new TypeError(`"${name}" must be a number of at least ${min}`);
  }
}

/** Check the constructor's arguments (throwing a TypeError) and fill in the defaults. */
export function resolveManagerArgs(
  provider: Provider,
  store: TokenStore,
  options: TokenManagerOptions,
): ResolvedOptions {
  if (typeof provider !== 'object' || provider === null) {
    throw new TypeError('"provider" must be a provider (see createProvider)');
  }
  if (typeof store !== 'object' || store === null || typeof store.load !== 'function') {
    throw new TypeError('"store" must be a token store (see createStore)');
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('"options" must be an object');
  }
  checkNumber(options.marginMs, 'options.marginMs', 0);
  checkNumber(options.renewWithinDays, 'options.renewWithinDays', 0);
  checkNumber(options.lockWaitMs, 'options.lockWaitMs', 0);
  checkNumber(options.lockTtlMs, 'options.lockTtlMs', 1);
  if (options.warnAtHours !== undefined) {
    if (
      !Array.isArray(options.warnAtHours) ||
      options.warnAtHours.some((h) => typeof h !== 'number' || !Number.isFinite(h) || h <= 0)
    ) {
      throw new TypeError('"options.warnAtHours" must be an array of positive numbers');
    }
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new TypeError('"options.now" must be a function');
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw new TypeError('"options.fetch" must be a function');
  }
  return {
    marginMs: options.marginMs ?? 5 * MINUTE,
    renewWithinDays: options.renewWithinDays ?? 7,
    warnAtHours: [...(options.warnAtHours ?? [48, 24])].sort((a, b) => b - a),
    now: options.now ?? Date.now,
    fetch: options.fetch,
    retry: options.retry,
    lockWaitMs: options.lockWaitMs,
    lockTtlMs: options.lockTtlMs ?? 30_000,
  };
}
