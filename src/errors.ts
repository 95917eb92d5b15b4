/**
 * td-token's errors: one base class with a string `code`, a `cause`, and a message that ends
 * with the fix. The HTTP response, when there is one, hangs off the error as a non-enumerable
 * property so that logging an error never prints a token.
 *
 * How they map onto the older tools:
 * - td-ameritrade-python-api's `TknExpError` is {@link LoginRequiredError} (the refresh token is
 *   gone, a person must log in) or {@link TokenExpiredError} (an API call answered 401).
 * - its `ForbidError` is {@link ForbiddenError} (403).
 *
 * @module
 */

/** Every string code a td-token error can carry. */
export type ErrorCode =
  /** No usable refresh token: expired, revoked, or never stored. A person must log in again. */
  | 'login_required'
  /** The provider rejected the client id, secret or redirect URI. */
  | 'invalid_client'
  /** HTTP 429. `retryAfterMs` says how long the provider asked us to wait. */
  | 'rate_limited'
  /** 5xx, timeout, reset connection, or an HTML page where JSON was expected. Transient. */
  | 'provider_unavailable'
  /** HTTP 403 on the token endpoint or an API call. */
  | 'forbidden'
  /** HTTP 401 on an API call: the access token expired or was revoked. */
  | 'token_expired'
  /** Any other OAuth error answer (`invalid_request`, `invalid_grant` for a code, ...). */
  | 'oauth_error'
  /** A token response that is not a token: missing or mistyped fields. */
  | 'invalid_response'
  /** The callback's `state` is not the one this login sent. */
  | 'state_mismatch'
  /** The callback carries no `code`. */
  | 'missing_code'
  /** The person pressed Deny (`error=access_denied`), or the provider refused the login. */
  | 'access_denied'
  /** A stored token record that does not parse: corrupt, truncated or hand-edited. */
  | 'invalid_token_file'
  /** A store could not be read or written (full disk, read-only folder, server down). */
  | 'store_error'
  /** A store's lock could not be taken in time. */
  | 'lock_timeout'
  /** A stored record could not be decrypted: wrong passphrase or key. */
  | 'decrypt_failed'
  /** Bad configuration: a missing client id, an insecure URL, an unknown provider. */
  | 'invalid_config'
  /** The login did not finish in time. */
  | 'login_timeout';

export interface TdTokenErrorOptions {
  cause?: unknown;
  /** HTTP status of the answer that caused this error, when there was one. */
  status?: number;
  /** The raw response; kept non-enumerable so it is never logged by accident. */
  response?: Response;
  /** For `rate_limited`: how long the provider asked us to wait, in ms. */
  retryAfterMs?: number;
  /** The provider's own error string (`invalid_grant`, `unsupported_token_type`, ...). */
  oauthError?: string;
}

const TRANSIENT: ReadonlySet<ErrorCode> = new Set(['rate_limited', 'provider_unavailable']);

/** The base of every error td-token throws on purpose. */
export class TdTokenError extends Error {
  /** A stable string code for programs; see {@link ErrorCode}. */
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly oauthError: string | undefined;
  declare readonly response: Response | undefined;

  constructor(code: ErrorCode, message: string, options: TdTokenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.oauthError = options.oauthError;
    Object.defineProperty(this, 'response', {
      value: options.response,
      enumerable: false,
      writable: false,
    });
  }

  /** True for errors worth retrying later (rate limits, provider outages). */
  get transient(): boolean {
    return TRANSIENT.has(this.code);
  }
}

/** A person must log in again (the older tools' `TknExpError` for a dead refresh token). */
export class LoginRequiredError extends TdTokenError {
  constructor(message: string, options?: TdTokenErrorOptions) {
    super('login_required', message, options);
  }
}

/** An API call answered 401 (the older tools' `TknExpError`). */
export class TokenExpiredError extends TdTokenError {
  constructor(message: string, options?: TdTokenErrorOptions) {
    super('token_expired', message, options);
  }
}

/** An answer of 403 (the older tools' `ForbidError`). */
export class ForbiddenError extends TdTokenError {
  constructor(message: string, options?: TdTokenErrorOptions) {
    super('forbidden', message, options);
  }
}

/** The provider refused or failed a request (credentials, rate limit, outage, odd answers). */
export class ProviderError extends TdTokenError {}

/** The redirected callback URL is not a successful answer to this login. */
export class CallbackError extends TdTokenError {}

/** A store could not be read, written, locked or decrypted. */
export class StoreError extends TdTokenError {}

/** The configuration is incomplete or unsafe. */
export class ConfigError extends TdTokenError {
  constructor(message: string, options?: TdTokenErrorOptions) {
    super('invalid_config', message, options);
  }
}

/** Narrow an unknown thrown value to a td-token error, optionally of one code. */
export function isTdTokenError(value: unknown, code?: ErrorCode): value is TdTokenError {
  return value instanceof TdTokenError && (code === undefined || value.code === code);
}
