/**
 * Reading a provider's error answers: the body's shape (JSON, HTML, empty), the OAuth `error`
 * members, `Retry-After`, and the errors every provider classifies the same way (429, 5xx, 403,
 * API 401). Internal to `src/providers/`.
 *
 * @internal
 * @module
 */
import {
  ForbiddenError,
  ProviderError,
  type TdTokenError,
  type TdTokenErrorOptions,
  TokenExpiredError,
} from '../errors.js';
import type { ErrorAnswer } from './types.js';

/** An error answer's body, as far as td-token can read it. */
export type AnswerBody =
  | {
      kind: 'json';
      value: unknown;
      /** The OAuth `error` member, when it is a string. */
      error: string | undefined;
      /** The OAuth `error_description` member, when it is a string. */
      description: string | undefined;
    }
  | { kind: 'html' }
  | { kind: 'empty' }
  | { kind: 'text' };

/** Read a body as JSON when it is JSON, else say what it is. */
export function readAnswerBody(body: string, headers?: Headers): AnswerBody {
  const text = body.trim();
  if (text === '') return { kind: 'empty' };
  const type = headers?.get('content-type')?.toLowerCase() ?? '';
  if (text.startsWith('<') || type.includes('text/html')) return { kind: 'html' };
  if (text.startsWith('{') || text.startsWith('[')) {
    try {
      const value: unknown = JSON.parse(text);
      let error: string | undefined;
      let description: string | undefined;
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        const v = value as Record<string, unknown>;
        if (typeof v['error'] === 'string') error = v['error'];
        if (typeof v['error_description'] === 'string') description = v['error_description'];
      }
      return { kind: 'json', value, error, description };
    } catch {
      return { kind: 'text' };
    }
  }
  return { kind: 'text' };
}

/**
 * The wait a `Retry-After` header asks for, in ms: delay-seconds or an HTTP date (counted from the
 * answer's own `Date` header when it has one, so a skewed local clock does not matter).
 */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | undefined {
  const value = headers.get('retry-after')?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  const dateHeader = headers.get('date');
  const base = dateHeader ? Date.parse(dateHeader) : Number.NaN;
  return Math.max(0, at - (Number.isNaN(base) ? now : base));
}

/**
 * A provider's error string, safe to show: an OAuth error code (`invalid_grant`) as is; anything
 * else (TD sends sentences) only when short and free of anything token-like.
 */
export function safeErrorText(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  if (clean === '') return undefined;
  if (/^[A-Za-z0-9_.-]{1,64}$/.test(clean)) return clean;
  const redacted = clean.replace(/\S{24,}/g, '[…]');
  return redacted.length > 120 ? `${redacted.slice(0, 120)}…` : redacted;
}

/** Options for a classified error: status, the raw response (non-enumerable), the OAuth error. */
export function errorOptions(answer: ErrorAnswer, body?: AnswerBody): TdTokenErrorOptions {
  const options: TdTokenErrorOptions = { status: answer.status };
  if (answer.response !== undefined) options.response = answer.response;
  // Shown as `safeErrorText` shows it: `oauthError` is enumerable, so logging the error prints it.
  const shown = body?.kind === 'json' ? safeErrorText(body.error) : undefined;
  if (shown !== undefined) options.oauthError = shown;
  return options;
}

/** HTTP 429 from `what` (`the Schwab token endpoint`). */
export function rateLimited(answer: ErrorAnswer, what: string): ProviderError {
  const wait = retryAfterMs(answer.headers);
  const options = errorOptions(answer);
  if (wait !== undefined) options.retryAfterMs = wait;
  const after =
    wait === undefined ? 'wait a minute' : `wait ${Math.max(1, Math.ceil(wait / 1000))} s`;
  return new ProviderError(
    'rate_limited',
    `${what} is rate limiting this app (HTTP 429). ${after} and try again; refreshing less often (td-token refreshes only near expiry) avoids it`,
    options,
  );
}

/**
 * 5xx, an HTML page, an empty or unreadable body from `what`. A 5xx answer's `Retry-After`
 * (a 503 during maintenance often has one) becomes `retryAfterMs`, as for 429.
 */
export function unavailable(answer: ErrorAnswer, what: string, body: AnswerBody): ProviderError {
  let problem: string;
  if (answer.status >= 500) problem = `answered HTTP ${answer.status}`;
  else if (body.kind === 'html') problem = `answered HTTP ${answer.status} with an HTML page`;
  else if (body.kind === 'empty') problem = `answered HTTP ${answer.status} with an empty body`;
  else problem = `answered HTTP ${answer.status} with a body that is not JSON`;
  const options = errorOptions(answer, body);
  const wait = answer.status >= 500 ? retryAfterMs(answer.headers) : undefined;
  if (wait !== undefined) options.retryAfterMs = wait;
  const after =
    wait === undefined
      ? 'try again in a few minutes'
      : `it asked to wait ${Math.max(1, Math.ceil(wait / 1000))} s (Retry-After): try again after that`;
  return new ProviderError(
    'provider_unavailable',
    `${what} is unavailable: it ${problem}. ${after} (td-token retries on its own); if it persists, check the provider's status page and the URL`,
    options,
  );
}

/** HTTP 403 from `what`. */
export function forbidden(answer: ErrorAnswer, what: string, body: AnswerBody): ForbiddenError {
  return new ForbiddenError(
    `${what} refused the request (HTTP 403 forbidden). check that the app is approved for this API and the account is linked to it in the provider's developer portal`,
    errorOptions(answer, body),
  );
}

/**
 * Classify an API call's failure the way both providers answer: 401 (any body shape) is an
 * expired or revoked access token, 403 forbidden, 429 rate limited, 5xx unavailable.
 */
export function classifyApiError(answer: ErrorAnswer, what: string): TdTokenError {
  const body = readAnswerBody(answer.body, answer.headers);
  if (answer.status === 401) {
    return new TokenExpiredError(
      `${what} rejected the access token (HTTP 401: expired or revoked). get a fresh one with 'td-token refresh', or 'td-token login' if that fails`,
      errorOptions(answer, body),
    );
  }
  if (answer.status === 403) return forbidden(answer, what, body);
  if (answer.status === 429) return rateLimited(answer, what);
  if (answer.status >= 500) return unavailable(answer, what, body);
  return new ProviderError(
    'invalid_response',
    `${what} answered HTTP ${answer.status}. check the API URL and the request's parameters`,
    errorOptions(answer, body),
  );
}
