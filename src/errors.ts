/**
 * td-token's errors: one base class with a string `code`, a `cause`, and a message that ends
 * with the fix. The codes are runtime constants ({@link ERROR_CODES}); each class takes only its
 * own codes. The HTTP response, when there is one, hangs off the error as a non-enumerable
 * property so that logging an error never prints a token.
 *
 * How they map onto the older tools:
 * - td-ameritrade-python-api's `TknExpError` is {@link LoginRequiredError} (the refresh token is
 *   gone, a person must log in) or {@link TokenExpiredError} (an API call answered 401).
 * - its `ForbidError` is {@link ForbiddenError} (403).
 *
 * @module
 */

/**
 * Every string code a td-token error can carry, by name.
 *
 * @example
 * import { ERROR_CODES, isTdTokenError } from 'td-token';
 * try {
 *   await td.getAccessToken();
 * } catch (err) {
 *   if (isTdTokenError(err, ERROR_CODES.LOGIN_REQUIRED)) console.error('run: td-token login');
 * }
 */
export const ERROR_CODES = {
  /** No usable refresh token: expired, revoked, or never stored. A person must log in again. */
  LOGIN_REQUIRED: 'login_required',
  /** The provider rejected the client id, secret or redirect URI. */
  INVALID_CLIENT: 'invalid_client',
  /** HTTP 429. `retryAfterMs` says how long the provider asked us to wait. */
  RATE_LIMITED: 'rate_limited',
  /** 5xx, timeout, reset connection, or an HTML page where JSON was expected. Transient. */
  PROVIDER_UNAVAILABLE: 'provider_unavailable',
  /** HTTP 403 on the token endpoint or an API call. */
  FORBIDDEN: 'forbidden',
  /** HTTP 401 on an API call: the access token expired or was revoked. */
  TOKEN_EXPIRED: 'token_expired',
  /** Any other OAuth error answer (`invalid_request`, `invalid_grant` for a code, ...). */
  OAUTH_ERROR: 'oauth_error',
  /** A token response that is not a token: missing or mistyped fields. */
  INVALID_RESPONSE: 'invalid_response',
  /** The callback's `state` is not the one this login sent. */
  STATE_MISMATCH: 'state_mismatch',
  /** The callback carries no `code`. */
  MISSING_CODE: 'missing_code',
  /** The person pressed Deny (`error=access_denied`), or the provider refused the login. */
  ACCESS_DENIED: 'access_denied',
  /** A stored token record that does not parse: corrupt, truncated or hand-edited. */
  INVALID_TOKEN_FILE: 'invalid_token_file',
  /** A store could not be read or written (full disk, read-only folder, server down). */
  STORE_ERROR: 'store_error',
  /** A store's lock could not be taken in time. */
  LOCK_TIMEOUT: 'lock_timeout',
  /** A stored record could not be decrypted: wrong passphrase or key. */
  DECRYPT_FAILED: 'decrypt_failed',
  /** Bad configuration: a missing client id, an insecure URL, an unknown provider. */
  INVALID_CONFIG: 'invalid_config',
  /** The login did not finish in time. */
  LOGIN_TIMEOUT: 'login_timeout',
  /** The command line was misused: an unknown command or flag, a missing value (exit 2). */
  INVALID_USAGE: 'invalid_usage',
} as const;

/**
 * Every string code a td-token error can carry (the values of {@link ERROR_CODES}).
 *
 * @example
 * const code: ErrorCode = 'login_required';
 */
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/**
 * The codes a {@link ProviderError} carries.
 *
 * @example
 * const code: ProviderErrorCode = ERROR_CODES.RATE_LIMITED;
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export type ProviderErrorCode =
  | 'invalid_client'
  | 'rate_limited'
  | 'provider_unavailable'
  | 'oauth_error'
  | 'invalid_response';

/**
 * The codes a {@link CallbackError} carries. `oauth_error` is an error answer other than
 * `access_denied` in the callback; `login_required` is a login stopped before any callback came.
 *
 * @example
 * const code: CallbackErrorCode = ERROR_CODES.STATE_MISMATCH;
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export type CallbackErrorCode = 'state_mismatch' | 'missing_code' | 'access_denied' | 'oauth_error';

/**
 * The codes a {@link StoreError} carries.
 *
 * @example
 * const code: StoreErrorCode = ERROR_CODES.LOCK_TIMEOUT;
 */
export type StoreErrorCode =
  | 'invalid_token_file'
  | 'store_error'
  | 'lock_timeout'
  | 'decrypt_failed';

/**
 * What an error carries besides its code and message.
 *
 * @example
 * throw new ProviderError('rate_limited', 'slow down. wait 2 s', { status: 429, retryAfterMs: 2000 });
 */
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

/**
 * The base of every error td-token throws on purpose.
 *
 * @example
 * try {
 *   await td.getAccessToken();
 * } catch (err) {
 *   if (err instanceof TdTokenError && err.transient) setTimeout(retry, err.retryAfterMs ?? 60_000);
 *   else throw err;
 * }
 */
export class TdTokenError extends Error {
  /** A stable string code for programs; see {@link ERROR_CODES}. */
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

/**
 * A person must log in again (the older tools' `TknExpError` for a dead refresh token).
 *
 * @example
 * td.on('login-required', (err: LoginRequiredError) => notify(err.message));
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2 (`invalid_grant`)
 */
export class LoginRequiredError extends TdTokenError {
  declare readonly code: 'login_required';
  constructor(message: string, options?: TdTokenErrorOptions) {
    super('login_required', message, options);
  }
}

/**
 * An API call answered 401 (the older tools' `TknExpError`).
 *
 * @example
 * if (err instanceof TokenExpiredError) await td.refresh({ force: true });
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1 (`invalid_token`)
 */
export class TokenExpiredError extends TdTokenError {
  declare readonly code: 'token_expired';
  constructor(message: string, options?: TdTokenErrorOptions) {
    super('token_expired', message, options);
  }
}

/**
 * An answer of 403 (the older tools' `ForbidError`).
 *
 * @example
 * if (err instanceof ForbiddenError) console.error('the app may not use this endpoint');
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1 (`insufficient_scope`)
 */
export class ForbiddenError extends TdTokenError {
  declare readonly code: 'forbidden';
  constructor(message: string, options?: TdTokenErrorOptions) {
    super('forbidden', message, options);
  }
}

/**
 * The provider refused or failed a request (credentials, rate limit, outage, odd answers).
 *
 * @example
 * if (err instanceof ProviderError && err.code === 'rate_limited') await sleep(err.retryAfterMs ?? 60_000);
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export class ProviderError extends TdTokenError {
  declare readonly code: ProviderErrorCode;
  constructor(code: ProviderErrorCode, message: string, options?: TdTokenErrorOptions) {
    super(code, message, options);
  }
}

/**
 * The redirected callback URL is not a successful answer to this login.
 *
 * @example
 * if (err instanceof CallbackError && err.code === 'access_denied') console.error('you pressed Deny');
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
 */
export class CallbackError extends TdTokenError {
  declare readonly code: CallbackErrorCode;
  constructor(code: CallbackErrorCode, message: string, options?: TdTokenErrorOptions) {
    super(code, message, options);
  }
}

/**
 * A store could not be read, written, locked or decrypted.
 *
 * @example
 * if (err instanceof StoreError && err.code === 'decrypt_failed') console.error('wrong passphrase');
 */
export class StoreError extends TdTokenError {
  declare readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: TdTokenErrorOptions) {
    super(code, message, options);
  }
}

/**
 * The configuration is incomplete or unsafe.
 *
 * @example
 * throw new ConfigError('no client id is configured. set TD_TOKEN_CLIENT_ID');
 */
export class ConfigError extends TdTokenError {
  declare readonly code: 'invalid_config';
  constructor(message: string, options?: TdTokenErrorOptions) {
    super('invalid_config', message, options);
  }
}

/**
 * Narrow an unknown thrown value to a td-token error, optionally of one code.
 *
 * @example
 * if (isTdTokenError(err, 'login_required')) process.exitCode = 3;
 */
export function isTdTokenError(value: unknown, code?: ErrorCode): value is TdTokenError {
  return value instanceof TdTokenError && (code === undefined || value.code === code);
}
