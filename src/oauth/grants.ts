/**
 * The two grants td-token uses, each as a pair: one function sends the request, one checks the
 * answer and builds the token record. {@link exchangeCallback} (from a parsed callback),
 * {@link exchangeAuthorizationCode} (from a code or the redirected URL) and
 * {@link refreshAccessToken} put the pairs together with a timeout and bounded retries.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @module
 */
import { ProviderError } from '../errors.js';
import type { Provider } from '../providers/types.js';
import type { TokenRecord } from '../token.js';
import {
  type CallbackResult,
  looksLikeCallbackUrl,
  normalizeBareCode,
  parseCallbackUrl,
} from './callback.js';
import {
  checkTimeout,
  endpointName,
  postTokenRequest,
  readBody,
  type SendOptions,
  unansweredRequest,
} from './http.js';
import { doNotRetry, type RetryOptions, withRetry } from './retry.js';

/**
 * What the combined grant functions accept.
 *
 * @example
 * const options: GrantOptions = { timeoutMs: 10_000, retry: false };
 * const next = await refreshAccessToken(provider, record, options);
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export interface GrantOptions {
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** The clock lifetimes count from (default `Date.now`). */
  now?: () => number;
  /** Cancels the request and any retry wait. */
  signal?: AbortSignal;
  /** Give up on one try after this many ms, headers and body (default 30 000). */
  timeoutMs?: number;
  /** Retries of transient failures (default 3 with backoff); `false` for none. */
  retry?: RetryOptions | false;
}

type Grant = 'authorization_code' | 'refresh_token';

function checkProvider(provider: Provider): void {
  if (
    typeof provider !== 'object' ||
    provider === null ||
    typeof provider.tokenError !== 'function'
  ) {
    throw new TypeError('"provider" must be a Provider');
  }
}

function sendOptions(options: SendOptions | undefined): SendOptions {
  return { fetch: options?.fetch, signal: options?.signal, timeoutMs: options?.timeoutMs };
}

/**
 * Send the code grant. `code` is the decoded code (as {@link parseCallbackUrl} returns it).
 * Resolves with the response whatever its status; check it with
 * {@link processAuthorizationCodeResponse}.
 *
 * @throws ProviderError `provider_unavailable` on a timeout or a network failure.
 * @example
 * const { code } = parseCallbackUrl(redirectedUrl, request.state);
 * const response = await sendAuthorizationCodeGrant(provider, code, {
 *   codeVerifier: request.codeVerifier,
 * });
 * const record = await processAuthorizationCodeResponse(provider, response, {
 *   receivedAt: Date.now(),
 * });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.5
 */
export async function sendAuthorizationCodeGrant(
  provider: Provider,
  code: string,
  options: SendOptions & { codeVerifier?: string | undefined } = {},
): Promise<Response> {
  checkProvider(provider);
  if (typeof code !== 'string' || code === '') {
    throw new TypeError('"code" must be a non-empty string');
  }
  return postTokenRequest(
    provider.codeGrantRequest(code, options.codeVerifier),
    sendOptions(options),
  );
}

/**
 * Send the refresh grant. `renewRefreshToken` asks TD for a new refresh token (ignored by
 * providers that cannot renew).
 *
 * @throws ProviderError `provider_unavailable` on a timeout or a network failure.
 * @example
 * const response = await sendRefreshTokenGrant(provider, record.refresh_token);
 * const next = await processRefreshTokenResponse(provider, response, {
 *   receivedAt: Date.now(),
 *   previous: record,
 * });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function sendRefreshTokenGrant(
  provider: Provider,
  refreshToken: string,
  options: SendOptions & { renewRefreshToken?: boolean | undefined } = {},
): Promise<Response> {
  checkProvider(provider);
  if (typeof refreshToken !== 'string' || refreshToken === '') {
    throw new TypeError('"refreshToken" must be a non-empty string');
  }
  const renewRefreshToken = options.renewRefreshToken === true && provider.canRenewRefreshToken;
  return postTokenRequest(
    provider.refreshGrantRequest(refreshToken, { renewRefreshToken }),
    sendOptions(options),
  );
}

/**
 * Where a redirect points, for a message: the origin, and the path when it is short (a long one
 * could hold a token); undefined when it is not a URL.
 */
function redirectTarget(location: string | null, base: string): string | undefined {
  if (location === null) return undefined;
  try {
    const url = new URL(location, base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return `${url.origin}${url.pathname.length <= 24 ? url.pathname : '/…'}`;
  } catch {
    return undefined;
  }
}

/**
 * Read a token endpoint's answer: a classified error for anything but a 2xx, a parsed JSON body
 * otherwise (an HTML page, an empty or unparsable body is `provider_unavailable`).
 */
async function readTokenAnswer(
  provider: Provider,
  response: Response,
  grant: Grant,
  options: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined },
): Promise<unknown> {
  if (!(response instanceof Response) && typeof (response as Response)?.text !== 'function') {
    throw new TypeError('"response" must be a Response');
  }
  const what = endpointName(provider.tokenUrl);
  const body = await readBody(response, what, options);
  if (response.status >= 300 && response.status < 400) {
    const location = redirectTarget(response.headers.get('location'), provider.tokenUrl);
    throw new ProviderError(
      'invalid_response',
      `${what} answered with a redirect (HTTP ${response.status}${location ? ` to ${location}` : ''}), which td-token does not follow for token requests. set the token URL to the endpoint itself (--token-url)`,
      { status: response.status, response },
    );
  }
  if (response.status < 200 || response.status > 299) {
    throw provider.tokenError(
      { status: response.status, headers: response.headers, body, response },
      grant,
    );
  }
  const text = body.trim();
  let problem: string | undefined;
  if (text === '') problem = 'an empty body';
  else if (text.startsWith('<')) problem = 'an HTML page';
  let value: unknown;
  if (problem === undefined) {
    try {
      value = JSON.parse(text);
    } catch {
      problem = 'a body that is not JSON';
    }
  }
  if (problem !== undefined) {
    throw new ProviderError(
      'provider_unavailable',
      `${what} answered HTTP ${response.status} with ${problem} where a token was expected. try again in a few minutes (td-token retries on its own); if it persists, check the token URL`,
      { status: response.status, response },
    );
  }
  return value;
}

/**
 * Check the code grant's answer and build the token record, lifetimes counted from `receivedAt`.
 *
 * @throws the provider's classified error (`oauth_error` for a used or expired code,
 *   `invalid_client`, `rate_limited`, `provider_unavailable`, `forbidden`), or
 *   `invalid_response` for a 200 that is not a token.
 * @example
 * const receivedAt = Date.now();
 * const response = await sendAuthorizationCodeGrant(provider, code, { codeVerifier });
 * const record = await processAuthorizationCodeResponse(provider, response, { receivedAt });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export async function processAuthorizationCodeResponse(
  provider: Provider,
  response: Response,
  options: { receivedAt: number; signal?: AbortSignal | undefined; timeoutMs?: number | undefined },
): Promise<TokenRecord> {
  checkProvider(provider);
  if (typeof options?.receivedAt !== 'number') throw new TypeError('"receivedAt" must be a number');
  const body = await readTokenAnswer(provider, response, 'authorization_code', options);
  return provider.toRecord(body, options.receivedAt);
}

/**
 * Check the refresh grant's answer and build the new record from it and `previous`: a response
 * without a `refresh_token` keeps the stored one, and its expiry.
 *
 * @throws LoginRequiredError when the refresh token is dead; otherwise as
 *   {@link processAuthorizationCodeResponse}.
 * @example
 * const receivedAt = Date.now();
 * const response = await sendRefreshTokenGrant(provider, record.refresh_token);
 * const next = await processRefreshTokenResponse(provider, response, {
 *   receivedAt,
 *   previous: record,
 * });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function processRefreshTokenResponse(
  provider: Provider,
  response: Response,
  options: {
    receivedAt: number;
    previous: TokenRecord;
    signal?: AbortSignal | undefined;
    timeoutMs?: number | undefined;
  },
): Promise<TokenRecord> {
  checkProvider(provider);
  if (typeof options?.receivedAt !== 'number') throw new TypeError('"receivedAt" must be a number');
  if (typeof options.previous !== 'object' || options.previous === null) {
    throw new TypeError('"previous" must be a TokenRecord');
  }
  const body = await readTokenAnswer(provider, response, 'refresh_token', options);
  return provider.toRecord(body, options.receivedAt, options.previous);
}

/**
 * The error for a request that must not be sent twice (a code grant, a renewing refresh) whose
 * answer never arrived, given what happened (`the token endpoint ... did not answer within ...`).
 */
type LostAnswer = (happened: string, cause: unknown) => ProviderError;

function codeGrantLost(happened: string, cause: unknown): ProviderError {
  return new ProviderError(
    'provider_unavailable',
    `${happened} after the authorization code was sent: the provider may have used the code, and a code works only once, so td-token did not send it again. start the login again with 'td-token login'`,
    { cause },
  );
}

function renewalLost(happened: string, cause: unknown): ProviderError {
  return new ProviderError(
    'provider_unavailable',
    `${happened}, so the answer to the refresh-token renewal was lost: TD may have issued a new refresh token and retired the old one, and td-token did not send the request again. run 'td-token refresh' again; if it says to log in, run 'td-token login'`,
    { cause },
  );
}

/**
 * Run one grant with bounded retries. With `lost` (a grant the provider must not process twice),
 * a failure after which the provider may have processed the request (a timeout, a connection
 * dropped after sending) is never retried: it becomes `lost`'s error. Answers that show the
 * request was not processed (429, 5xx, an HTML page) are retried as usual.
 */
function runWithRetry<T>(
  fn: () => Promise<T>,
  retry: RetryOptions | false | undefined,
  signal: AbortSignal | undefined,
  lost?: LostAnswer,
): Promise<T> {
  const once =
    lost === undefined
      ? fn
      : async () => {
          try {
            return await fn();
          } catch (error) {
            const happened = unansweredRequest(error);
            if (happened === undefined) throw error;
            throw doNotRetry(lost(happened, error));
          }
        };
  if (retry === false) return once();
  return withRetry(once, { ...retry, signal: retry?.signal ?? signal });
}

/**
 * The code grant from a callback already parsed and checked ({@link parseCallbackUrl} or
 * {@link checkCallback}): its code is sent as it is, with no second reading of the URL.
 * Transient failures are retried (`retry`), except a timeout or a connection dropped after the
 * code was sent: the provider may have used the (single-use) code, so that fails at once with
 * `provider_unavailable`, saying to log in again.
 *
 * @example
 * const callback = parseCallbackUrl(url, state);
 * const record = await exchangeCallback(provider, callback, { codeVerifier });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 */
export async function exchangeCallback(
  provider: Provider,
  callback: CallbackResult,
  options: GrantOptions & { codeVerifier?: string | undefined } = {},
): Promise<TokenRecord> {
  checkProvider(provider);
  if (typeof callback !== 'object' || callback === null) {
    throw new TypeError('"callback" must be a CallbackResult');
  }
  const { code } = callback;
  if (typeof code !== 'string' || code === '') {
    throw new TypeError('"callback.code" must be a non-empty string');
  }
  const timeoutMs = checkTimeout(options.timeoutMs);
  const now = options.now ?? Date.now;
  return runWithRetry(
    async () => {
      const response = await sendAuthorizationCodeGrant(provider, code, {
        fetch: options.fetch,
        signal: options.signal,
        timeoutMs,
        codeVerifier: options.codeVerifier,
      });
      const receivedAt = now();
      return processAuthorizationCodeResponse(provider, response, {
        receivedAt,
        signal: options.signal,
        timeoutMs,
      });
    },
    options.retry,
    options.signal,
    codeGrantLost,
  );
}

/**
 * The code grant from a bare code or the whole redirected URL. A URL is parsed with
 * {@link parseCallbackUrl} (state checked against `expectedState`); a bare code is decoded once
 * only if it holds `%XX` sequences. Then as {@link exchangeCallback}: transient failures are
 * retried, a code that may have been used is never sent twice.
 *
 * @example
 * const { url, state, codeVerifier } = createAuthorizationRequest(provider);
 * // ... the person logs in; the browser lands on callbackUrl
 * const record = await exchangeAuthorizationCode(provider, callbackUrl, { expectedState: state, codeVerifier });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 */
export async function exchangeAuthorizationCode(
  provider: Provider,
  codeOrCallbackUrl: string,
  options: GrantOptions & { expectedState?: string; codeVerifier?: string } = {},
): Promise<TokenRecord> {
  checkProvider(provider);
  if (typeof codeOrCallbackUrl !== 'string' || codeOrCallbackUrl.trim() === '') {
    throw new TypeError('"codeOrCallbackUrl" must be a non-empty string');
  }
  checkTimeout(options.timeoutMs);
  const callback: CallbackResult = looksLikeCallbackUrl(codeOrCallbackUrl)
    ? parseCallbackUrl(codeOrCallbackUrl, options.expectedState)
    : { code: normalizeBareCode(codeOrCallbackUrl), state: undefined };
  return exchangeCallback(provider, callback, options);
}

/**
 * The refresh grant for `previous`, returning the new record. `renewRefreshToken` asks TD for a
 * new 90-day refresh token (`access_type=offline`); other providers ignore it. Transient
 * failures are retried (`retry`); a dead refresh token is never retried. A renewal that timed
 * out or lost its connection after it was sent is not retried either: TD may have rotated the
 * refresh token, so it fails at once with `provider_unavailable` saying what to run next.
 *
 * @throws LoginRequiredError when the refresh token expired or was revoked.
 * @example
 * const next = await refreshAccessToken(provider, record);
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function refreshAccessToken(
  provider: Provider,
  previous: TokenRecord,
  options: GrantOptions & { renewRefreshToken?: boolean } = {},
): Promise<TokenRecord> {
  checkProvider(provider);
  if (typeof previous !== 'object' || previous === null) {
    throw new TypeError('"previous" must be a TokenRecord');
  }
  if (typeof previous.refresh_token !== 'string' || previous.refresh_token === '') {
    throw new TypeError('"previous.refresh_token" must be a non-empty string');
  }
  const timeoutMs = checkTimeout(options.timeoutMs);
  const now = options.now ?? Date.now;
  const renewing = options.renewRefreshToken === true && provider.canRenewRefreshToken;
  return runWithRetry(
    async () => {
      const response = await sendRefreshTokenGrant(provider, previous.refresh_token, {
        fetch: options.fetch,
        signal: options.signal,
        timeoutMs,
        renewRefreshToken: options.renewRefreshToken,
      });
      const receivedAt = now();
      return processRefreshTokenResponse(provider, response, {
        receivedAt,
        previous,
        signal: options.signal,
        timeoutMs,
      });
    },
    options.retry,
    options.signal,
    renewing ? renewalLost : undefined,
  );
}
