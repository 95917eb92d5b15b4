/**
 * The token endpoint's per-app rolling-minute limit (TD: 120 requests a minute, then 429).
 *
 * @module
 */

const WINDOW_MS = 60_000;

/** Counts requests per app over the last minute of sandbox time. */
export class RateLimiter {
  readonly #hits = new Map<string, number[]>();

  /**
   * Records a request for `key` at `now` unless the app already made `limit` requests in the
   * last minute; then returns the seconds until one more is allowed (at least 1).
   * A `limit` of 0 turns the limit off.
   */
  check(
    key: string,
    now: number,
    limit: number,
  ): { allowed: true } | { allowed: false; retryAfterSec: number } {
    if (limit <= 0) return { allowed: true };
    const hits = (this.#hits.get(key) ?? []).filter((at) => at > now - WINDOW_MS);
    if (hits.length >= limit) {
      this.#hits.set(key, hits);
      const oldest = hits[hits.length - limit] ?? now;
      const retryAfterSec = Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000));
      return { allowed: false, retryAfterSec };
    }
    hits.push(now);
    this.#hits.set(key, hits);
    return { allowed: true };
  }

  /** Forgets every recorded request. */
  reset(): void {
    this.#hits.clear();
  }
}
