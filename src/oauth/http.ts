/**
 * Sending a token request: a form `POST` with a timeout combined with the caller's signal, no
 * redirects followed (a token request's body must not be replayed elsewhere), and network
 * failures turned into `provider_unavailable`, remembering which of them may have reached the
 * provider ({@link unansweredRequest}).
 *
 * @module
 */
import { ProviderError } from '../errors.js';
import type { TokenRequest } from '../providers/types.js';

/** The default time a token request may take, headers and body, in ms. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** How to send one request. */
export interface SendOptions {
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch | undefined;
  /** Cancels the request; its reason is rethrown as is. */
  signal?: AbortSignal | undefined;
  /** Give up after this many ms, headers and body (default 30 000). */
  timeoutMs?: number | undefined;
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** The first `code` (ECONNRESET, UND_ERR_SOCKET, ...) found along an error's cause chain. */
export function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || /^E[A-Z0-9]+$/.test(code)))
      return code;
    const message = (current as { message?: unknown }).message;
    if (typeof message === 'string' && /socket hang up|other side closed/i.test(message)) {
      return 'ECONNRESET';
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function isTimeout(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'TimeoutError'
  );
}

/** Failures that happen before a request's first byte leaves: no name, no route, no listener. */
const NEVER_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * True when an error along the cause chain shows the request never reached the provider: the
 * connection was refused, the name or route not found, or the TLS handshake failed.
 */
function neverSent(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (NEVER_SENT_CODES.has(code)) return true;
      if (/CERT|TLS|SSL/.test(code)) return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The failures {@link toNetworkError} made of requests the provider may have received and
 * processed (a timeout, a connection dropped after sending), with what happened, for people.
 */
const unanswered = new WeakMap<object, string>();

/**
 * What happened, when `error` came from a request the provider may have processed although no
 * answer arrived (a timeout, a connection dropped after the request was sent): e.g. `the token
 * endpoint api.tdameritrade.com did not answer within 30000 ms`. Undefined for everything else,
 * including failures that show the request was not processed (a refused connection, 429, 5xx,
 * an HTML page). A non-idempotent request (a code grant, a renewing refresh) must not be sent
 * again after such a failure.
 *
 * @internal
 */
export function unansweredRequest(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? unanswered.get(error) : undefined;
}

/**
 * A fetch failure as td-token's error: the caller's own abort is rethrown untouched; a timeout or a
 * network failure becomes `provider_unavailable` (transient) with the original as `cause`.
 *
 * @param what names the endpoint for people, e.g. `the token endpoint api.schwabapi.com`.
 * @param options.stage `request` while waiting for the answer's headers, `body` while reading
 *   the body of an answer whose `status` is known.
 */
export function toNetworkError(
  error: unknown,
  what: string,
  options: {
    signal?: AbortSignal | undefined;
    timeoutMs: number;
    stage: 'request' | 'body';
    status?: number | undefined;
  },
): unknown {
  if (options.signal?.aborted) return options.signal.reason ?? error;
  if (error instanceof ProviderError) return error;
  // Whether the provider may have processed the request: not when it was never sent, and not
  // when its answer's status already said it was not (5xx, 429) before the body broke off.
  const status = options.status;
  const refused = status !== undefined && (status >= 500 || status === 429);
  if (isTimeout(error)) {
    const happened = `${what} did not answer within ${options.timeoutMs} ms`;
    const result = new ProviderError(
      'provider_unavailable',
      `${happened}. try again in a few minutes (td-token retries on its own), or raise the timeout`,
      { cause: error },
    );
    if (!refused) unanswered.set(result, happened);
    return result;
  }
  const code = networkErrorCode(error) ?? 'network error';
  const notSent = options.stage === 'request' && neverSent(error);
  const problem =
    options.stage === 'body'
      ? `dropped the connection while sending its answer (${code})`
      : notSent
        ? `could not be reached (${code})`
        : `dropped the connection before answering (${code})`;
  const result = new ProviderError(
    'provider_unavailable',
    `${what} ${problem}. check the network connection and the URL, then try again (td-token retries on its own)`,
    { cause: error },
  );
  if (!notSent && !refused) unanswered.set(result, `${what} ${problem}`);
  return result;
}

/** The signal a request runs under: the caller's, and a timeout. */
export function requestSignal(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
}

/** Check a `timeoutMs` option: a positive finite number, defaulting to 30 000. */
export function checkTimeout(timeoutMs: number | undefined): number {
  if (timeoutMs === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError('"timeoutMs" must be a positive number');
  }
  return timeoutMs;
}

/** The endpoint named for people: `the token endpoint 127.0.0.1:8182`. */
export function endpointName(url: string): string {
  try {
    return `the token endpoint ${new URL(url).host}`;
  } catch {
    return 'the token endpoint';
  }
}

/**
 * `POST` a token request. Resolves with the response, whatever its status; the response's body
 * stays under the same timeout and signal.
 *
 * @throws ProviderError `provider_unavailable` on a timeout or a network failure; the caller's
 *   abort reason when `signal` aborts.
 */
export async function postTokenRequest(
  request: TokenRequest,
  options: SendOptions = {},
): Promise<Response> {
  const timeoutMs = checkTimeout(options.timeoutMs);
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function') throw new TypeError('"fetch" must be a function');
  const signal = requestSignal(options.signal, timeoutMs);
  try {
    return await doFetch(request.url, {
      method: 'POST',
      headers: request.headers,
      body: request.body.toString(),
      redirect: 'manual',
      signal,
    });
  } catch (error) {
    throw toNetworkError(error, endpointName(request.url), {
      signal: options.signal,
      timeoutMs,
      stage: 'request',
    });
  }
}

/**
 * The most td-token reads of any answer from a provider, in bytes (1 MiB): a token answer, an
 * error page, an API error. Real ones are a few kB; a server that sends more (a runaway stream,
 * a token of megabytes) is not read further.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

/** A body size for people: `1 MB`, `512 kB`, `200 B`. */
function bytesText(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} kB`;
  return `${bytes} B`;
}

/** The errors {@link readBody} threw for a body past its cap. */
const oversized = new WeakSet<object>();

/**
 * True when `error` is {@link readBody}'s refusal of a body larger than its cap.
 *
 * @internal
 */
export function isBodyTooLarge(error: unknown): boolean {
  return typeof error === 'object' && error !== null && oversized.has(error);
}

/** The error for an answer past the cap; `declared` is its Content-Length when that said so. */
function tooLarge(
  what: string,
  response: Response,
  limitBytes: number,
  declared: number | undefined,
): ProviderError {
  const size =
    declared === undefined
      ? `more than ${bytesText(limitBytes)} (td-token stopped reading there)`
      : `${declared} bytes (Content-Length), more than the ${bytesText(limitBytes)} td-token reads`;
  const happened = `${what} answered HTTP ${response.status} with a body of ${size}`;
  const result = new ProviderError(
    'provider_unavailable',
    `${happened}; no real answer is that large. try again in a few minutes (td-token retries on its own); if it persists, check the token URL and the provider's status`,
    { status: response.status },
  );
  // A 2xx was processed by the provider (a renewal may have rotated the refresh token), though
  // its answer could not be used: like a lost answer, it must not be sent again.
  if (response.status >= 200 && response.status < 300) unanswered.set(result, happened);
  oversized.add(result);
  return result;
}

/**
 * Read at most `limitBytes` of a body, as UTF-8 text; past that, cancel the rest and throw
 * `provider_unavailable` naming the size. A `Content-Length` above the cap is refused unread.
 */
async function readCapped(response: Response, what: string, limitBytes: number): Promise<string> {
  const length = response.headers.get('content-length');
  const declared = length !== null && /^\d+$/.test(length.trim()) ? Number(length) : undefined;
  if (declared !== undefined && declared > limitBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge(what, response, limitBytes, declared);
  }
  const body = response.body;
  if (body === null) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limitBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(what, response, limitBytes, undefined);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks, total));
}

/**
 * Read a response's body as text, at most `limitBytes` (default {@link MAX_BODY_BYTES}): a larger
 * one is `provider_unavailable` naming the size, read no further. A dropped connection or a
 * timeout mid-body is `provider_unavailable` too.
 */
export async function readBody(
  response: Response,
  what: string,
  options: {
    signal?: AbortSignal | undefined;
    timeoutMs?: number | undefined;
    limitBytes?: number | undefined;
  } = {},
): Promise<string> {
  try {
    return await readCapped(response, what, options.limitBytes ?? MAX_BODY_BYTES);
  } catch (error) {
    throw toNetworkError(error, what, {
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      stage: 'body',
      status: response.status,
    });
  }
}
