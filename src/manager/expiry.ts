/**
 * The refresh token's lifetime policy: when a TD refresh token is renewed, and when the
 * `refresh-token-expiring` warnings fall due (once per threshold per refresh token per process).
 *
 * @module
 */
import type { Provider } from '../providers/types.js';
import { isRefreshTokenExpiryKnown, type TokenRecord } from '../token.js';
import type { RefreshTokenExpiringEvent } from './types.js';

const HOUR = 60 * 60_000;
const DAY = 24 * HOUR;

/** TD only: renew once fewer than `renewWithinDays` days of the refresh token's life remain. */
export function shouldRenew(
  provider: Provider,
  record: TokenRecord,
  now: number,
  renewWithinDays: number,
): boolean {
  if (!provider.canRenewRefreshToken) return false;
  return record.refresh_token_expires_at - now < renewWithinDays * DAY;
}

/** The `refresh-token-expiring` thresholds already warned about in this process. */
export class ExpiryWarnings {
  /** Thresholds already warned about, as `${refresh_token_expires_at}:${hours}`. */
  readonly #warned = new Set<string>();

  /**
   * The event to emit when `record`'s remaining life newly crossed one of `warnAtHours` (sorted
   * from the most hours to the fewest; one event when several are crossed at once); undefined
   * otherwise, and always for an assumed expiry (a generic server that did not say), which may
   * be wrong.
   */
  due(
    record: TokenRecord,
    now: number,
    warnAtHours: readonly number[],
  ): RefreshTokenExpiringEvent | undefined {
    if (!isRefreshTokenExpiryKnown(record)) return undefined;
    const leftMs = record.refresh_token_expires_at - now;
    let crossed: number | undefined;
    for (const hours of warnAtHours) {
      if (leftMs > hours * HOUR) continue;
      const key = `${record.refresh_token_expires_at}:${hours}`;
      if (this.#warned.has(key)) continue;
      this.#warned.add(key);
      crossed = hours;
    }
    if (crossed === undefined || leftMs <= 0) return undefined;
    return {
      expiresAt: record.refresh_token_expires_at,
      hoursLeft: Math.floor(leftMs / (HOUR / 10)) / 10,
    };
  }
}
