/**
 * The one back-off schedule: exponential from a base, capped, with optional jitter so that many
 * waiters do not retry in step. Lock waits, grant retries, the manager's waits and `watch`
 * differ only in their numbers and their jitter.
 *
 * @internal
 * @module
 */

/** How the delay is spread around the exponential step `d`. */
export type BackoffJitter =
  /** Exactly `d`. */
  | 'none'
  /** Between `d / 2` and `d` ("equal jitter"). */
  | 'equal'
  /** Between `d / 2` and `3d / 2`, centred on `d`. */
  | 'centered';

/** The inputs of {@link backoffMs}. */
export interface BackoffOptions {
  /** The first step (attempt 0), ms. */
  baseMs: number;
  /** The largest step before jitter, ms. */
  capMs: number;
  /** Which attempt this is: 0 for the first wait, then 1, 2, ... */
  attempt: number;
  /** How the step is spread (default `none`). */
  jitter?: BackoffJitter | undefined;
  /** A random number in [0, 1) (default `Math.random`), for tests. */
  random?: (() => number) | undefined;
}

/**
 * The wait before the next attempt: `min(capMs, baseMs * 2^attempt)`, spread by `jitter`.
 *
 * @example
 * backoffMs({ baseMs: 2, capMs: 25, attempt: 3, jitter: 'centered' }); // 8 to 24 ms
 */
export function backoffMs(options: BackoffOptions): number {
  const { baseMs, capMs, attempt, jitter = 'none', random = Math.random } = options;
  if (!(baseMs >= 0) || !(capMs >= 0) || !(attempt >= 0)) {
    throw new TypeError('"baseMs", "capMs" and "attempt" must be non-negative numbers');
  }
  const step = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 60));
  switch (jitter) {
    case 'none':
      return step;
    case 'equal':
      return step / 2 + (step / 2) * random();
    case 'centered':
      return step / 2 + step * random();
  }
}
