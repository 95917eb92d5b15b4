/**
 * Reading the URL the provider redirected the browser to: the code, decoded exactly once; the
 * state, checked; and the provider's refusals.
 *
 * A note on `+`: providers percent-encode the code (a TD code's `+` arrives as `%2B`), and
 * `URLSearchParams` would turn a bare `+` into a space, corrupting a code that was pasted after
 * something decoded it once already. Codes never contain spaces, so here a bare `+` stays a `+`:
 * values are split on `&` and `=` and passed once through `decodeURIComponent`, nothing more.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 * @module
 */
import { CallbackError } from '../errors.js';
import { safeErrorText } from '../providers/answer.js';

/**
 * A successful callback.
 *
 * @example
 * const callback: CallbackResult = parseCallbackUrl(redirectedUrl, request.state);
 * const record = await exchangeCallback(provider, callback, { codeVerifier: request.codeVerifier });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export interface CallbackResult {
  /** The authorization code, percent-decoded once. */
  code: string;
  /** The `state` the callback carried, if any. */
  state: string | undefined;
}

const AGAIN = "start the login again with 'td-token login'";

/** Strip what a paste tends to add: whitespace, quotes, angle brackets. */
export function cleanPastedText(text: string): string {
  let out = text.trim();
  for (let i = 0; i < 3; i++) {
    const first = out[0];
    const last = out[out.length - 1];
    if (
      out.length >= 2 &&
      ((first === '"' && last === '"') ||
        (first === "'" && last === "'") ||
        (first === '<' && last === '>') ||
        (first === '`' && last === '`'))
    ) {
      out = out.slice(1, -1).trim();
    } else {
      break;
    }
  }
  return out;
}

/**
 * Decode one query value exactly once. A bare `+` stays `+` (see the module note); an invalid
 * `%` sequence throws.
 */
export function decodeQueryValue(value: string): string {
  return decodeURIComponent(value);
}

/** The query string of a callback URL, without the leading `?`. */
function queryOf(input: string | URL): string {
  if (input instanceof URL) return input.search.slice(1);
  const text = cleanPastedText(input);
  if (text.startsWith('?')) return text.slice(1).split('#')[0] ?? '';
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new CallbackError(
      'missing_code',
      `the callback URL is not a URL. paste the whole address from the browser's address bar, starting with https://`,
      { cause },
    );
  }
  return url.search.slice(1);
}

/**
 * A callback URL's query, split once into the first raw (still percent-encoded) value of each
 * name. Read it with {@link callbackState} and check it with {@link checkCallback}.
 */
export interface CallbackQuery {
  readonly params: ReadonlyMap<string, string>;
}

/** Split a query into its first raw (still encoded) value per name. */
function parseQuery(query: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    let name: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      continue;
    }
    if (!params.has(name)) params.set(name, rawValue);
  }
  return params;
}

/**
 * Split a redirected callback URL (a `URL`, or text pasted by a person) into its query values,
 * once. Nothing is judged yet: {@link checkCallback} does that.
 *
 * @throws CallbackError `missing_code` for text that is not a URL.
 * @example
 * const query = readCallbackQuery(new URL(req.url, origin));
 * const result = checkCallback(query, pendingState);
 */
export function readCallbackQuery(callbackUrl: string | URL): CallbackQuery {
  if (typeof callbackUrl !== 'string' && !(callbackUrl instanceof URL)) {
    throw new TypeError('"callbackUrl" must be a string or URL');
  }
  return { params: parseQuery(queryOf(callbackUrl)) };
}

/**
 * The `state` a callback carries, decoded once, or undefined when it carries none. A value that
 * is not valid percent-encoding is returned raw (it matches no state td-token sent), so that a
 * server can look the login up before {@link checkCallback} judges the rest.
 */
export function callbackState(query: CallbackQuery): string | undefined {
  const raw = query.params.get('state');
  if (raw === undefined) return undefined;
  try {
    return decodeQueryValue(raw);
  } catch {
    return raw;
  }
}

/**
 * One parameter, decoded once. `text` values (`error_description`) are form-decoded (`+` is a
 * space); everything else keeps a bare `+` (see the module note).
 */
function param(
  params: ReadonlyMap<string, string>,
  name: string,
  mode: 'value' | 'text' = 'value',
): string | undefined {
  const raw = params.get(name);
  if (raw === undefined) return undefined;
  try {
    return decodeQueryValue(mode === 'text' ? raw.replace(/\+/g, ' ') : raw);
  } catch (cause) {
    throw new CallbackError(
      'missing_code',
      `the callback URL's "${name}" parameter is not valid percent-encoding. paste the address exactly as the browser shows it, or ${AGAIN}`,
      { cause },
    );
  }
}

/**
 * Read a redirected callback URL (a `URL`, or text pasted by a person: whitespace and quotes
 * around it are ignored). Extra parameters such as Schwab's `session` are ignored.
 *
 * @param expectedState the `state` this login sent; when given, the callback must carry the same.
 * @throws CallbackError `state_mismatch` (state differs or is missing), `access_denied`
 *   (`error=access_denied`: the person pressed Deny), `oauth_error` (any other `error=`), or
 *   `missing_code` (no code, or text that is not a URL).
 * @example
 * const { code } = parseCallbackUrl('https://127.0.0.1:8182/?code=C0.abc%40&session=x&state=s', 's');
 * // code === 'C0.abc@'
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export function parseCallbackUrl(
  callbackUrl: string | URL,
  expectedState: string | undefined,
): CallbackResult {
  if (typeof callbackUrl !== 'string' && !(callbackUrl instanceof URL)) {
    throw new TypeError('"callbackUrl" must be a string or URL');
  }
  if (expectedState !== undefined && typeof expectedState !== 'string') {
    throw new TypeError('"expectedState" must be a string or undefined');
  }
  return checkCallback(readCallbackQuery(callbackUrl), expectedState);
}

/**
 * Judge a callback's query (from {@link readCallbackQuery}) as {@link parseCallbackUrl} does:
 * the state, the provider's refusals, the code, each value decoded once.
 *
 * @throws CallbackError as {@link parseCallbackUrl}.
 * @example
 * const { code } = checkCallback(readCallbackQuery(url), state);
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export function checkCallback(
  query: CallbackQuery,
  expectedState: string | undefined,
): CallbackResult {
  if (typeof query !== 'object' || query === null || !(query.params instanceof Map)) {
    throw new TypeError('"query" must be a CallbackQuery');
  }
  if (expectedState !== undefined && typeof expectedState !== 'string') {
    throw new TypeError('"expectedState" must be a string or undefined');
  }
  const { params } = query;
  const state = param(params, 'state');
  // A foreign state is refused before anything else; a refusal without any state (some servers
  // do not echo it on Deny) is still reported as the refusal it is.
  if (expectedState !== undefined && state !== undefined && state !== expectedState) {
    throw new CallbackError(
      'state_mismatch',
      `the callback URL's state does not match this login (an old or foreign link). ${AGAIN} and use the newest link`,
    );
  }
  const error = param(params, 'error', 'text');
  if (error !== undefined) {
    const shown = safeErrorText(error) ?? 'unknown';
    if (error === 'access_denied') {
      throw new CallbackError(
        'access_denied',
        `the login was denied at the provider (access_denied). ${AGAIN} and press Allow on the consent page`,
        { oauthError: 'access_denied' },
      );
    }
    const description = safeErrorText(param(params, 'error_description', 'text'));
    throw new CallbackError(
      'oauth_error',
      `the provider refused the login (${shown}${description ? `: ${description}` : ''}). check the client id and redirect URI, then ${AGAIN}`,
      { oauthError: shown },
    );
  }
  if (expectedState !== undefined && state === undefined) {
    throw new CallbackError(
      'state_mismatch',
      `the callback URL carries no state, so it cannot be matched to this login. ${AGAIN} and use the newest link`,
    );
  }
  const code = param(params, 'code');
  if (code === undefined || code === '') {
    throw new CallbackError(
      'missing_code',
      `the callback URL carries no code. paste the whole address the browser was redirected to (it contains "code="), or ${AGAIN}`,
    );
  }
  return { code, state };
}

/**
 * True when `text` looks like a callback URL (or its query) rather than a bare code: it starts
 * with `http://`, `https://` or `?`.
 */
export function looksLikeCallbackUrl(text: string): boolean {
  const t = cleanPastedText(text);
  return /^https?:\/\//i.test(t) || t.startsWith('?');
}

/**
 * A bare code as a person pasted it: decoded once if it holds `%XX` sequences (it was copied
 * from the URL), else taken as is (a `+` stays a `+`).
 */
export function normalizeBareCode(text: string): string {
  const code = cleanPastedText(text);
  if (!/%[0-9A-Fa-f]{2}/.test(code)) return code;
  try {
    return decodeURIComponent(code);
  } catch (cause) {
    throw new CallbackError(
      'missing_code',
      `the code is not valid percent-encoding. paste it exactly as it appears after "code=" in the address bar, or ${AGAIN}`,
      { cause },
    );
  }
}
