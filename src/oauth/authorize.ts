/**
 * The authorization request: a random `state` and, where the provider supports it, a PKCE S256
 * verifier and challenge.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Provider } from '../providers/types.js';

/**
 * What a login needs to remember between sending the person away and the callback.
 *
 * @example
 * const request: AuthorizationRequest = createAuthorizationRequest(provider);
 * console.error(`Open ${request.url.href}`);
 * // keep request.state and request.codeVerifier until the callback comes back
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1
 */
export interface AuthorizationRequest {
  /** Where to send the person's browser. */
  url: URL;
  /** The `state` the callback must carry back. */
  state: string;
  /** The PKCE verifier for the code grant, when the provider uses PKCE. */
  codeVerifier: string | undefined;
}

/** A random `state`: 32 bytes, base64url (43 characters). */
export function generateState(): string {
  return randomBytes(32).toString('base64url');
}

/** A PKCE code verifier: 32 random bytes, base64url (43 characters, RFC 7636 section 4.1). */
export function generateCodeVerifier(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The S256 code challenge of `codeVerifier`: base64url(SHA-256(verifier)).
 *
 * @example
 * codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
 * // 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.2
 */
export function codeChallengeS256(codeVerifier: string): string {
  if (typeof codeVerifier !== 'string') throw new TypeError('"codeVerifier" must be a string');
  return createHash('sha256').update(codeVerifier, 'ascii').digest('base64url');
}

/**
 * Start a login: a fresh `state` (and PKCE verifier where the provider uses PKCE) and the URL to
 * send the person's browser to. Keep `state` and `codeVerifier` for the callback.
 *
 * @example
 * const { url, state, codeVerifier } = createAuthorizationRequest(provider);
 * // open url; later: exchangeAuthorizationCode(provider, callbackUrl, { expectedState: state, codeVerifier })
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export function createAuthorizationRequest(provider: Provider): AuthorizationRequest {
  if (
    typeof provider !== 'object' ||
    provider === null ||
    typeof provider.authorizationUrl !== 'function'
  ) {
    throw new TypeError('"provider" must be a Provider');
  }
  const state = generateState();
  const codeVerifier = provider.usesPkce ? generateCodeVerifier() : undefined;
  const codeChallenge = codeVerifier === undefined ? undefined : codeChallengeS256(codeVerifier);
  const url = provider.authorizationUrl({ state, codeChallenge });
  return { url, state, codeVerifier };
}
