/**
 * The plain RFC 6749 provider: authorization code grant, refresh grant, client authentication
 * `none` / `client_secret_basic` / `client_secret_post`, optional PKCE, and RFC error codes.
 * The generic provider is this class as is; TD Ameritrade and Schwab extend it with their quirks.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749
 * @module
 */
import { ConfigError, LoginRequiredError, ProviderError, type TdTokenError } from '../errors.js';
import { type TokenRecord, type TokenResponse, tokenRecordFromResponse } from '../token.js';
import { assertSecureUrl, joinUrl } from '../util/url.js';
import {
  type AnswerBody,
  classifyApiError,
  errorOptions,
  forbidden,
  rateLimited,
  readAnswerBody,
  safeErrorText,
  unavailable,
} from './answer.js';
import type {
  ClientAuthMethod,
  ErrorAnswer,
  Provider,
  ProviderName,
  TokenRequest,
} from './types.js';

/** Everything a provider needs once its options are resolved against its defaults. */
export interface ProviderConfig {
  name: ProviderName;
  /** For people: `TD Ameritrade`, `Schwab`, or the token endpoint's host. */
  label: string;
  /** The client id as sent to the authorization endpoint. */
  clientId: string;
  clientSecret: string | undefined;
  redirectUri: string;
  authorizeUrl: string;
  tokenUrl: string;
  apiUrl: string;
  scope: string | undefined;
  usesPkce: boolean;
  canRenewRefreshToken: boolean;
  refreshTokenLifetimeMs: number;
  /** True when `refreshTokenLifetimeMs` is a guess, not the provider's or the user's. */
  refreshTokenLifetimeAssumed?: boolean | undefined;
  clientAuth: ClientAuthMethod;
}

const DAY_MS = 86_400_000;

/**
 * The refresh-token lifetime recorded when a generic server says nothing and none is configured
 * (90 days), marked as assumed on the record (`refresh_token_expiry_assumed`).
 */
export const DEFAULT_REFRESH_LIFETIME_MS = 90 * DAY_MS;

/** `application/x-www-form-urlencoded` encoding of one value (RFC 6749 appendix B). */
export function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

/** `Basic` credentials as RFC 6749 section 2.3.1 wants them: each part form-encoded first. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const pair = `${formEncode(clientId)}:${formEncode(clientSecret)}`;
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}

/** Require a non-empty string option, else a ConfigError naming the flag and variable. */
export function requireSetting(
  value: string | undefined,
  what: string,
  flag: string,
  env: string,
): string {
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`no ${what} is set. pass ${flag} or set ${env}`);
  }
  return value.trim();
}

/** An RFC 6749 authorization server. */
export class Rfc6749Provider implements Provider {
  readonly name: ProviderName;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  readonly apiUrl: string;
  readonly scope: string | undefined;
  readonly usesPkce: boolean;
  readonly canRenewRefreshToken: boolean;
  readonly refreshTokenLifetimeMs: number;
  readonly refreshTokenLifetimeAssumed: boolean;
  /** How this client authenticates at the token endpoint. */
  readonly clientAuth: ClientAuthMethod;
  /** For people, in messages. */
  readonly label: string;
  readonly #clientSecret: string | undefined;

  constructor(config: ProviderConfig) {
    this.name = config.name;
    this.label = config.label;
    this.clientId = config.clientId;
    this.#clientSecret = config.clientSecret;
    assertSecureUrl(config.redirectUri, 'redirect URI');
    // The registered redirect URI must be sent exactly as registered (a URL parser would add a
    // trailing slash to a bare origin): keep the caller's text.
    this.redirectUri = config.redirectUri.trim();
    this.authorizeUrl = assertSecureUrl(config.authorizeUrl, 'authorize URL').href;
    this.tokenUrl = assertSecureUrl(config.tokenUrl, 'token URL').href;
    // The API base without a trailing slash (`https://api.schwabapi.com`), as the defaults read.
    this.apiUrl = assertSecureUrl(config.apiUrl, 'API URL').href.replace(/\/+$/, '');
    this.scope = config.scope;
    this.usesPkce = config.usesPkce;
    this.canRenewRefreshToken = config.canRenewRefreshToken;
    this.refreshTokenLifetimeMs = config.refreshTokenLifetimeMs;
    this.refreshTokenLifetimeAssumed = config.refreshTokenLifetimeAssumed === true;
    this.clientAuth = config.clientAuth;
    if (this.clientAuth !== 'none' && this.#clientSecret === undefined) {
      throw new ConfigError(
        `${this.label} client authentication ${this.clientAuth} needs a client secret. pass --client-secret or set TD_TOKEN_CLIENT_SECRET`,
      );
    }
  }

  /** Used in messages about the token endpoint. */
  protected get tokenEndpointName(): string {
    return `the ${this.label} token endpoint`;
  }

  /** Said of a refresh token's life in messages, e.g. ` (TD refresh tokens last 90 days)`. */
  protected get refreshLifeNote(): string {
    return '';
  }

  /** The fix for a refused client, ending the `invalid_client` message. */
  protected get clientFix(): string {
    return 'check the client id, client secret and redirect URI (--client-id, --client-secret, --redirect-uri)';
  }

  /** Used in messages about API calls. */
  protected get apiName(): string {
    return `the ${this.label} API`;
  }

  /** The query parameters of the authorization URL (RFC 6749 section 4.1.1, RFC 7636 4.3). */
  protected authorizationParams(params: {
    state: string;
    codeChallenge?: string | undefined;
  }): [string, string][] {
    const out: [string, string][] = [
      ['response_type', 'code'],
      ['client_id', this.clientId],
      ['redirect_uri', this.redirectUri],
    ];
    if (this.scope !== undefined && this.scope !== '') out.push(['scope', this.scope]);
    out.push(['state', params.state]);
    if (this.usesPkce && params.codeChallenge !== undefined) {
      out.push(['code_challenge', params.codeChallenge], ['code_challenge_method', 'S256']);
    }
    return out;
  }

  authorizationUrl(params: { state: string; codeChallenge?: string | undefined }): URL {
    if (typeof params?.state !== 'string' || params.state === '') {
      throw new TypeError('"state" must be a non-empty string');
    }
    if (this.usesPkce && typeof params.codeChallenge !== 'string') {
      throw new TypeError('"codeChallenge" must be a string');
    }
    const url = new URL(this.authorizeUrl);
    for (const [name, value] of this.authorizationParams(params)) url.searchParams.set(name, value);
    return url;
  }

  /** Add the client's credentials to a token request (RFC 6749 section 2.3). */
  protected authenticate(headers: Record<string, string>, body: URLSearchParams): void {
    const secret = this.#clientSecret ?? '';
    switch (this.clientAuth) {
      case 'client_secret_basic':
        headers['authorization'] = basicAuthorization(this.clientId, secret);
        break;
      case 'client_secret_post':
        body.set('client_id', this.clientId);
        body.set('client_secret', secret);
        break;
      case 'none':
        body.set('client_id', this.clientId);
        break;
    }
  }

  /** The secret, for subclasses with their own Basic scheme. */
  protected get clientSecret(): string | undefined {
    return this.#clientSecret;
  }

  /** Build a token request from form fields, adding client authentication. */
  protected tokenRequest(fields: [string, string][]): TokenRequest {
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    const body = new URLSearchParams(fields);
    this.authenticate(headers, body);
    return { url: this.tokenUrl, headers, body };
  }

  codeGrantRequest(code: string, codeVerifier?: string): TokenRequest {
    if (typeof code !== 'string' || code === '') {
      throw new TypeError('"code" must be a non-empty string');
    }
    const fields: [string, string][] = [
      ['grant_type', 'authorization_code'],
      ['code', code],
      ['redirect_uri', this.redirectUri],
    ];
    if (codeVerifier !== undefined) fields.push(['code_verifier', codeVerifier]);
    return this.tokenRequest(fields);
  }

  refreshGrantRequest(
    refreshToken: string,
    _options: { renewRefreshToken: boolean },
  ): TokenRequest {
    if (typeof refreshToken !== 'string' || refreshToken === '') {
      throw new TypeError('"refreshToken" must be a non-empty string');
    }
    return this.tokenRequest([
      ['grant_type', 'refresh_token'],
      ['refresh_token', refreshToken],
    ]);
  }

  /** Lifetimes and rules for {@link tokenRecordFromResponse}. */
  protected recordOptions(): {
    defaultRefreshLifetimeMs: number;
    refreshExpiryFixedAtLogin: boolean;
    refreshLifetimeAssumed?: boolean;
  } {
    return {
      defaultRefreshLifetimeMs: this.refreshTokenLifetimeMs,
      refreshExpiryFixedAtLogin: false,
      refreshLifetimeAssumed: this.refreshTokenLifetimeAssumed,
    };
  }

  toRecord(body: unknown, receivedAt: number, previous?: TokenRecord): TokenRecord {
    return tokenRecordFromResponse(body as TokenResponse, {
      receivedAt,
      previous,
      provider: this.name,
      requestedScope: this.scope,
      ...this.recordOptions(),
    });
  }

  tokenError(answer: ErrorAnswer, grant: 'authorization_code' | 'refresh_token'): TdTokenError {
    const what = this.tokenEndpointName;
    if (answer.status === 429) return rateLimited(answer, what);
    const body = readAnswerBody(answer.body, answer.headers);
    if (answer.status >= 500) return unavailable(answer, what, body);
    // A 403 that is an HTML page ("Access Denied" from the provider's edge, which Schwab has
    // sent for a whole day) is an outage, not a refused client: only a JSON 403 is forbidden.
    if (body.kind !== 'json') return unavailable(answer, what, body);
    if (answer.status === 403) return forbidden(answer, what, body);
    return this.oauthError(answer, body, grant);
  }

  /** Classify a JSON error answer from the token endpoint. */
  protected oauthError(
    answer: ErrorAnswer,
    body: Extract<AnswerBody, { kind: 'json' }>,
    grant: 'authorization_code' | 'refresh_token',
  ): TdTokenError {
    const error = body.error;
    if (error === 'invalid_grant') {
      return grant === 'refresh_token'
        ? this.refreshTokenRejected(answer, body)
        : this.codeRejected(answer, body);
    }
    if (error === 'invalid_client' || error === 'unauthorized_client' || answer.status === 401) {
      return this.clientRejected(answer, body);
    }
    return this.otherOAuthError(answer, body);
  }

  /** The refresh token is dead: a person must log in again. */
  protected refreshTokenRejected(answer: ErrorAnswer, body: AnswerBody): TdTokenError {
    return new LoginRequiredError(
      `${this.tokenEndpointName} rejected the refresh token (${describe(body)}): it expired${this.refreshLifeNote}, was revoked, or was replaced by a newer login. run 'td-token login' to log in again`,
      errorOptions(answer, body),
    );
  }

  /** The authorization code was refused: used, expired, or the redirect URI differs. */
  protected codeRejected(answer: ErrorAnswer, body: AnswerBody): TdTokenError {
    return new ProviderError(
      'oauth_error',
      `${this.tokenEndpointName} rejected the authorization code (${describe(body)}): it was already used, it expired, or the redirect URI differs from the login's. start the login again with 'td-token login'`,
      errorOptions(answer, body),
    );
  }

  /** The client id, secret or redirect URI was refused. */
  protected clientRejected(answer: ErrorAnswer, body: AnswerBody): TdTokenError {
    return new ProviderError(
      'invalid_client',
      `${this.tokenEndpointName} rejected the client (${describe(body)}, HTTP ${answer.status}). ${this.clientFix}`,
      errorOptions(answer, body),
    );
  }

  /** Any other OAuth error. */
  protected otherOAuthError(answer: ErrorAnswer, body: AnswerBody): TdTokenError {
    return new ProviderError(
      'oauth_error',
      `${this.tokenEndpointName} refused the request (${describe(body)}, HTTP ${answer.status}). check the provider settings, then start the login again with 'td-token login'`,
      errorOptions(answer, body),
    );
  }

  apiError(answer: ErrorAnswer): TdTokenError {
    return classifyApiError(answer, this.apiName);
  }

  accountsUrl(): URL {
    throw new ConfigError(
      `the ${this.name} provider has no accounts endpoint. call your API with the token from 'td-token token'`,
    );
  }

  quotesUrl(_symbols: readonly string[]): URL {
    throw new ConfigError(
      `the ${this.name} provider has no quotes endpoint. call your API with the token from 'td-token token'`,
    );
  }

  /** `apiUrl` joined with `path`. */
  protected apiEndpoint(path: string): URL {
    return joinUrl(this.apiUrl, path);
  }
}

/** The OAuth error for a message: `invalid_grant`, or `no error code`. */
export function describe(body: AnswerBody): string {
  if (body.kind !== 'json') return 'no error code';
  const error = safeErrorText(body.error);
  return error === undefined ? 'no error code' : error;
}

/** Check a `symbols` argument: a non-empty array of non-empty strings. */
export function checkSymbols(symbols: readonly string[]): string[] {
  if (!Array.isArray(symbols) || symbols.length === 0) {
    throw new TypeError('"symbols" must be a non-empty array of strings');
  }
  for (const s of symbols) {
    if (typeof s !== 'string' || s.trim() === '') {
      throw new TypeError('"symbols" must be a non-empty array of strings');
    }
  }
  return symbols.map((s) => s.trim());
}
