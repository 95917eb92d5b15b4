/**
 * Authenticated API calls: the bearer token on every request, one refresh and retry after a
 * 401, and the provider's own reading of every other failure.
 *
 * @module
 */
import { ForbiddenError, ProviderError, TokenExpiredError } from './errors.js';
import { isBodyTooLarge, readBody } from './oauth/http.js';
import type { ErrorAnswer, Provider } from './providers/types.js';
import type { TokenRecord } from './token.js';
import { assertSecureUrl } from './util/url.js';

/**
 * What the API helpers need: a provider, a plain fetch, and a source of access tokens.
 * The token manager's `fetch`, `getAccounts` and `getQuotes` build one from the manager;
 * anything else that hands out tokens can provide one too.
 */
export interface ApiClient {
  readonly provider: Provider;
  readonly fetch: typeof fetch;
  /** A valid access token. */
  getAccessToken(): Promise<string>;
  /** Refresh because `rejected` was answered 401, unless it was already replaced. */
  refreshRejected(rejected: string): Promise<TokenRecord>;
}

/**
 * The most td-token reads of a successful API answer (accounts, quotes), in bytes: far above any
 * real one, and a bound on a server that streams without end.
 */
export const MAX_API_BODY_BYTES = 32 * 1024 * 1024;

/**
 * An API error answer, its body read up to 1 MiB (`MAX_BODY_BYTES`): a larger one throws
 * `provider_unavailable` naming the size.
 */
async function readAnswer(response: Response, url: URL): Promise<ErrorAnswer> {
  let body = '';
  try {
    body = await readBody(response, `the API at ${url.origin}`);
  } catch (error) {
    if (isBodyTooLarge(error)) throw error;
    // A body cut short is still an answer with a status.
  }
  return { status: response.status, headers: response.headers, body, response };
}

/**
 * True for a body that can be read only once: a `ReadableStream`, or any other async iterable
 * (a Node.js stream, a generator). Strings, bytes, `Blob`, `FormData` and `URLSearchParams` can
 * be sent again.
 */
function isOneShotBody(body: RequestInit['body']): boolean {
  if (body === null || body === undefined || typeof body !== 'object') return false;
  return body instanceof ReadableStream || Symbol.asyncIterator in body;
}

/**
 * `fetch` with `Authorization: Bearer <access token>`. `input` may be a path, resolved against
 * the provider's API URL. On a 401 the token is refreshed and the request sent once more; a 403
 * throws {@link ForbiddenError}; any other answer that is not 2xx throws what the provider makes
 * of it (`token_expired`, `rate_limited`, `provider_unavailable`, ...).
 *
 * A streamed body (a `ReadableStream` or another async iterable) is read while it is sent, so
 * it cannot be sent twice: after a 401 the token is still refreshed, but the request is not
 * retried, and {@link TokenExpiredError} (`token_expired`) says so; send it again yourself, or
 * pass the body as a string, bytes or a `Blob` to have it retried.
 *
 * @example
 * const response = await authorizedFetch(client, '/v1/accounts');
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
export async function authorizedFetch(
  client: ApiClient,
  input: string | URL,
  init: RequestInit = {},
): Promise<Response> {
  if (typeof input !== 'string' && !(input instanceof URL)) {
    throw new TypeError('"input" must be a URL or a string');
  }
  const url = assertSecureUrl(new URL(input, client.provider.apiUrl).href, 'API URL');
  const send = (token: string): Promise<Response> => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${token}`);
    if (!headers.has('accept')) headers.set('accept', 'application/json');
    return client.fetch(url, { ...init, headers });
  };

  const token = await client.getAccessToken();
  let response = await send(token);
  if (response.status === 401 && isOneShotBody(init.body)) {
    const cause = client.provider.apiError(await readAnswer(response, url));
    // The next request gets a fresh token; this one cannot be sent again.
    await client.refreshRejected(token);
    throw new TokenExpiredError(
      `${url.origin} rejected the access token for ${url.pathname} (HTTP 401), and the request was not sent again because its body is a stream, which can be read only once. the token has been refreshed: send the request again, or pass the body as a string, bytes or a Blob so that td-token can retry it`,
      { status: 401, response, cause },
    );
  }
  if (response.status === 401) {
    await response.body?.cancel().catch(() => undefined);
    const record = await client.refreshRejected(token);
    response = await send(record.access_token);
  }
  if (response.ok) return response;

  const answer = await readAnswer(response, url);
  const error = client.provider.apiError(answer);
  if (response.status === 403 && !(error instanceof ForbiddenError)) {
    throw new ForbiddenError(
      `${url.origin} refused access to ${url.pathname} (HTTP 403). check that the app is approved for this API and the login has access to the account`,
      { status: 403, response, cause: error },
    );
  }
  throw error;
}

async function getJson(client: ApiClient, url: URL): Promise<unknown> {
  const response = await authorizedFetch(client, url);
  const text = await readBody(response, `the API at ${url.origin}`, {
    limitBytes: MAX_API_BODY_BYTES,
  });
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ProviderError(
      'invalid_response',
      `${url.origin}${url.pathname} answered with something that is not JSON. check that the API URL points at the provider's API (td-token status shows it)`,
      { cause, status: response.status },
    );
  }
}

/** The accounts the login may see, as the provider returns them. */
export function getAccounts(client: ApiClient): Promise<unknown> {
  return getJson(client, client.provider.accountsUrl());
}

/** Quotes for `symbols`, as the provider returns them. */
export function getQuotes(client: ApiClient, symbols: readonly string[]): Promise<unknown> {
  if (
    !Array.isArray(symbols) ||
    symbols.length === 0 ||
    symbols.some((s) => typeof s !== 'string' || s.trim() === '')
  ) {
    return Promise.reject(new TypeError('"symbols" must be a non-empty array of symbols'));
  }
  return getJson(client, client.provider.quotesUrl(symbols));
}
