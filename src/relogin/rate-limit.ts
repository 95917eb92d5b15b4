/**
 * The re-login page's rate limit: every request counts, per remote address and overall, in
 * fixed windows (a minute by default). Past either limit a request is refused until the window
 * ends, whatever it carries, so trying link secrets is bounded by the limit and not by how fast
 * an attacker can send.
 *
 * @module
 */

/** The limits of {@link createRateLimiter}. */
export interface RateLimits {
  /** Requests one remote address may make per window (default 30). */
  perAddress?: number | undefined;
  /** Requests all addresses together may make per window (default 120). */
  overall?: number | undefined;
  /** The window, in ms (default 60 000). */
  windowMs?: number | undefined;
}

/** The default limits. */
export const DEFAULT_RATE_LIMITS = { perAddress: 30, overall: 120, windowMs: 60_000 } as const;

/** Addresses remembered per window; beyond that every new address counts as over its limit. */
const MAX_ADDRESSES = 10_000;

/** What the limiter says of one request. */
export type RateDecision =
  | { ok: true }
  | {
      ok: false;
      scope: 'address' | 'overall';
      retryAfterMs: number;
      /** When the current window began (ms epoch): the same for every refusal in it. */
      windowStart: number;
    };

/** A rate limiter over a clock. */
export interface RateLimiter {
  /** Count one request from `address` and say whether it may go ahead. */
  take(address: string): RateDecision;
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n <= 0) throw new TypeError(`"${name}" must be a positive integer`);
  return n;
}

/**
 * A limiter with `limits`, on the clock `now`.
 *
 * @example
 * const limiter = createRateLimiter({ perAddress: 30, overall: 120 });
 * const decision = limiter.take(req.socket.remoteAddress ?? '');
 * if (!decision.ok) refuse(429, decision.retryAfterMs);
 */
export function createRateLimiter(
  limits: RateLimits = {},
  now: () => number = Date.now,
): RateLimiter {
  const perAddress = positiveInteger(
    limits.perAddress,
    DEFAULT_RATE_LIMITS.perAddress,
    'rateLimit.perAddress',
  );
  const overall = positiveInteger(limits.overall, DEFAULT_RATE_LIMITS.overall, 'rateLimit.overall');
  const windowMs = positiveInteger(
    limits.windowMs,
    DEFAULT_RATE_LIMITS.windowMs,
    'rateLimit.windowMs',
  );
  let windowStart = Number.NEGATIVE_INFINITY;
  let total = 0;
  const byAddress = new Map<string, number>();

  return {
    take(address) {
      const at = now();
      if (at - windowStart >= windowMs) {
        windowStart = at;
        total = 0;
        byAddress.clear();
      }
      const retryAfterMs = Math.max(1, windowStart + windowMs - at);
      const mine = byAddress.get(address);
      if (mine === undefined && byAddress.size >= MAX_ADDRESSES) {
        return { ok: false, scope: 'overall', retryAfterMs, windowStart };
      }
      const count = (mine ?? 0) + 1;
      byAddress.set(address, count);
      if (count > perAddress) return { ok: false, scope: 'address', retryAfterMs, windowStart };
      total += 1;
      if (total > overall) return { ok: false, scope: 'overall', retryAfterMs, windowStart };
      return { ok: true };
    },
  };
}
