/**
 * What every provider module implements. A provider knows its endpoints, how to build its
 * authorization URL, how to authenticate to its token endpoint, and how to read its answers and
 * errors. Nothing outside `src/providers/` knows a provider's quirks.
 *
 * @module
 */
import type { TdTokenError } from '../errors.js';
import type { TokenRecord } from '../token.js';

/**
 * The providers td-token speaks to.
 *
 * @example
 * const name: ProviderName = 'schwab';
 */
export type ProviderName = 'tdameritrade' | 'schwab' | 'generic';

/**
 * How a client proves itself at the token endpoint (RFC 6749 section 2.3).
 *
 * @example
 * createProvider('generic', { clientId, clientSecret, redirectUri, clientAuth: 'client_secret_post' });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 */
export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post';

/**
 * What a caller gives to make a provider. Every endpoint can be overridden.
 *
 * @example
 * const options: ProviderOptions = {
 *   clientId: process.env.TD_TOKEN_CLIENT_ID ?? '',
 *   clientSecret: process.env.TD_TOKEN_CLIENT_SECRET,
 *   redirectUri: 'https://127.0.0.1:8182',
 * };
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2 (the redirect URI must match the registered one)
 */
export interface ProviderOptions {
  /** TD's consumer key (the `@AMER.OAUTHAP` suffix is added when missing) or Schwab's app key. */
  clientId: string;
  /** Schwab's app secret; a generic server's client secret. TD has none. */
  clientSecret?: string | undefined;
  /** The callback URL registered with the app, exactly. */
  redirectUri: string;
  authorizeUrl?: string | undefined;
  tokenUrl?: string | undefined;
  /** Base of the API (accounts, quotes), e.g. `https://api.schwabapi.com`. */
  apiUrl?: string | undefined;
  /** Space-separated scopes; only the generic provider sends them. */
  scope?: string | undefined;
  /** Generic only: how to authenticate at the token endpoint (default `client_secret_basic` with a secret, else `none`). */
  clientAuth?: ClientAuthMethod | undefined;
  /** Generic only: use PKCE S256 (default true). */
  pkce?: boolean | undefined;
  /**
   * Generic only: how long the server's refresh tokens live, ms, when its answers do not say
   * (`refresh_token_expires_in`). Unset, the expiry is unknown: recorded as 90 days but marked
   * assumed (`refresh_token_expiry_assumed`), shown as unknown, and never warned about.
   */
  refreshTokenLifetime?: number | undefined;
}

/**
 * A token request ready to send: `POST url` with a form body.
 *
 * @example
 * const req = provider.refreshGrantRequest(record.refresh_token, { renewRefreshToken: false });
 * const res = await fetch(req.url, { method: 'POST', headers: req.headers, body: req.body });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 */
export interface TokenRequest {
  url: string;
  headers: Record<string, string>;
  body: URLSearchParams;
}

/**
 * A provider's answer that was not a 2xx, as read off the wire.
 *
 * @example
 * const answer: ErrorAnswer = { status: res.status, headers: res.headers, body: await res.text() };
 * throw provider.tokenError(answer, 'refresh_token');
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export interface ErrorAnswer {
  status: number;
  headers: Headers;
  /** The body as text (may be HTML, empty, or JSON). */
  body: string;
  response?: Response | undefined;
}

/**
 * The contract every provider keeps: its endpoints, how to build its authorization URL, how to
 * authenticate at its token endpoint, and how to read its answers and errors (TD's and Schwab's
 * quirks live only in their modules). Pure: a provider sends nothing itself; the grant functions
 * send what it builds and hand the answer back to it.
 *
 * @example
 * import { createProvider, sendRefreshTokenGrant, processRefreshTokenResponse } from 'td-token';
 * const provider: Provider = createProvider('schwab', { clientId, clientSecret, redirectUri });
 * const url = provider.authorizationUrl({ state: 'r4nd0m' });
 * const res = await sendRefreshTokenGrant(provider, record.refresh_token);
 * const next = await processRefreshTokenResponse(provider, res, { receivedAt: Date.now(), previous: record });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1 (the authorization code grant)
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6 (refreshing an access token)
 * @see https://www.rfc-editor.org/rfc/rfc7636 (PKCE, `usesPkce`)
 */
export interface Provider {
  /** Which provider this is. */
  readonly name: ProviderName;
  /** The client id as sent to the authorization endpoint (TD: with its suffix). */
  readonly clientId: string;
  readonly redirectUri: string;
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  readonly apiUrl: string;
  readonly scope: string | undefined;
  /** Whether the authorization URL carries a PKCE challenge. */
  readonly usesPkce: boolean;
  /** TD: a refresh grant with `access_type=offline` renews the refresh token. Schwab: never. */
  readonly canRenewRefreshToken: boolean;
  /** How long a new refresh token lives when the provider does not say, in ms. */
  readonly refreshTokenLifetimeMs: number;
  /**
   * True when `refreshTokenLifetimeMs` is a guess (a generic server with no configured
   * lifetime): records built from answers that do not state one have an unknown expiry.
   */
  readonly refreshTokenLifetimeAssumed?: boolean;

  /** The URL to send the person's browser to. */
  authorizationUrl(params: { state: string; codeChallenge?: string | undefined }): URL;
  /** The code grant request (`grant_type=authorization_code`). `code` is already decoded. */
  codeGrantRequest(code: string, codeVerifier?: string): TokenRequest;
  /** The refresh grant request; `renewRefreshToken` asks TD for a new refresh token. */
  refreshGrantRequest(refreshToken: string, options: { renewRefreshToken: boolean }): TokenRequest;
  /** Build the canonical record from a checked 200 body. */
  toRecord(body: unknown, receivedAt: number, previous?: TokenRecord): TokenRecord;
  /** Classify a token endpoint failure (`grant` says which grant was sent). */
  tokenError(answer: ErrorAnswer, grant: 'authorization_code' | 'refresh_token'): TdTokenError;
  /** Classify an API call failure (401 expired, 403 forbidden, 429, 5xx). */
  apiError(answer: ErrorAnswer): TdTokenError;
  /** `GET` this to list accounts. */
  accountsUrl(): URL;
  /** `GET` this for quotes of `symbols`. */
  quotesUrl(symbols: readonly string[]): URL;
}
