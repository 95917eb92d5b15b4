/**
 * The token manager's public shapes: its options and the payloads of the events it emits
 * (re-exported from `src/manager.ts`).
 *
 * @module
 */
import type { LoginRequiredError } from '../errors.js';
import type { RetryOptions } from '../oauth/index.js';

/**
 * Options of {@link TokenManager}. Every one has a default.
 *
 * @example
 * const td = new TokenManager(provider, store, { marginMs: 10 * 60_000, warnAtHours: [72, 24, 2] });
 */
export interface TokenManagerOptions {
  /** An access token is handed out only while it stays valid this much longer, ms (default 5 minutes). */
  marginMs?: number;
  /** TD: renew the refresh token once fewer than this many days of its life remain (default 7). */
  renewWithinDays?: number;
  /** Emit `refresh-token-expiring` as the refresh token's remaining life crosses these hours (default [48, 24]). */
  warnAtHours?: number[];
  /** The fetch used for the token endpoint and API calls (default the global fetch). */
  fetch?: typeof fetch;
  /** The clock, ms since the epoch (default `Date.now`). */
  now?: () => number;
  /** Retries of transient token endpoint failures (default 3, with backoff), or `false` for none. */
  retry?: RetryOptions | false;
  /** How long to wait for the store's lock before failing with `lock_timeout`, ms (default 30 000). */
  lockWaitMs?: number;
  /**
   * How long the store's lock outlives a holder that died, ms (default 30 000). A refresh is
   * abandoned before this runs out, so that a slow holder never writes after losing its lock.
   */
  lockTtlMs?: number;
}

/**
 * Payload of the `refresh` event.
 *
 * @example
 * td.on('refresh', ({ expiresAt }) => console.error(`new access token until ${new Date(expiresAt)}`));
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export interface RefreshEvent {
  /** When the new access token expires, ms epoch. */
  expiresAt: number;
  /** True when the provider also issued a new refresh token (a TD renewal). */
  refreshTokenRenewed: boolean;
}

/**
 * Payload of the `refresh-token-expiring` event.
 *
 * @example
 * td.on('refresh-token-expiring', ({ hoursLeft }) => console.warn(`log in again within ${hoursLeft} h`));
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export interface RefreshTokenExpiringEvent {
  /** When the refresh token expires, ms epoch. */
  expiresAt: number;
  /** Hours of life left, rounded down to a tenth. */
  hoursLeft: number;
}

/**
 * The events a {@link TokenManager} emits.
 *
 * - `refresh`: this process refreshed the access token (not when it picked up another
 *   process's refresh from the store).
 * - `refresh-token-expiring`: the refresh token's remaining life crossed one of `warnAtHours`
 *   (once per threshold per refresh token per process; one event when several are crossed at
 *   once). Checked whenever the manager reads the store or refreshes, so at least once per
 *   access token lifetime while the manager is used.
 * - `login-required`: a person must log in again; the same error is thrown to the caller (once
 *   per error, however many callers shared the refresh). Not emitted by `login()`'s silent
 *   refresh, which falls back to the browser login instead.
 *
 * @example
 * td.on('login-required', (err) => notifyMe(err.message));
 */
export interface TokenManagerEvents {
  refresh: [RefreshEvent];
  'refresh-token-expiring': [RefreshTokenExpiringEvent];
  'login-required': [LoginRequiredError];
}
