/**
 * The token manager's wording: the token endpoint's name in messages, and the login-required
 * errors for an empty store and an expired refresh token.
 *
 * @module
 */
import { LoginRequiredError } from '../errors.js';
import type { TokenRecord } from '../token.js';

/** The token endpoint for messages: `the token endpoint api.schwabapi.com`. */
export function endpointNameOf(url: string): string {
  return `the token endpoint ${endpointHost(url)}`;
}

/** The token endpoint's host for messages, e.g. `api.tdameritrade.com`. */
export function endpointHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'of the provider';
  }
}

/** No record in the store at `location`. */
export function noTokenError(location: string): LoginRequiredError {
  return new LoginRequiredError(
    `no token is stored in ${location}. run 'td-token login' to log in`,
  );
}

/** The stored refresh token's life is over. */
export function refreshTokenExpiredError(
  location: string,
  stored: TokenRecord,
): LoginRequiredError {
  return new LoginRequiredError(
    `the refresh token in ${location} expired on ${new Date(stored.refresh_token_expires_at).toISOString()}. run 'td-token login' to log in again`,
  );
}
