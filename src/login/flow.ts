/**
 * The logins a login server has in flight, and what becomes of their callbacks: `start()` sends
 * the person to the provider with a fresh state and PKCE verifier (the newest 32 are kept, each
 * for the login's time), and `complete(callback)` turns a callback into a stored record: the URL
 * is read once, matched to its pending login, judged (Deny, other refusals), its code exchanged
 * and the record handed to `onToken`. It knows nothing of HTTP answers; the routes turn its
 * {@link Completion} into a page.
 *
 * @module
 */
import {
  callbackState,
  checkCallback,
  createAuthorizationRequest,
  exchangeCallback,
  readCallbackQuery,
} from '../oauth/index.js';
import type { Provider } from '../providers/types.js';
import type { TokenRecord } from '../token.js';

/** The default time a login may take. */
export const DEFAULT_LOGIN_TIMEOUT_MS = 5 * 60_000;

/** Outstanding states kept per run; older ones are forgotten. */
const MAX_PENDING_STATES = 32;

/** How a login run ends: with a record, or with the error that ended it. */
export type LoginOutcome = { record: TokenRecord } | { error: unknown };

/** What became of a callback, for the page that answers it. */
export type Completion =
  /** Not a callback of a login this run started (no state, or one it did not send or forgot). */
  | { kind: 'refused'; code: 'missing_state' | 'state_mismatch' }
  /** Another callback of this run is being completed. */
  | { kind: 'busy' }
  /** The run stopped while the code was being exchanged: nothing was kept, nothing to answer. */
  | { kind: 'stopped' }
  /** The provider refused the login (Deny) or the exchange failed. */
  | { kind: 'failed'; error: unknown }
  /** The login worked but `onToken` failed to store the record. */
  | { kind: 'not_stored'; error: unknown }
  /** Logged in: the record is stored. */
  | { kind: 'stored'; record: TokenRecord };

/** Options of {@link createLoginFlow}. */
export interface LoginFlowOptions {
  /** Stores the new record (`complete` waits for it). */
  onToken?: ((record: TokenRecord) => Promise<void>) | undefined;
  fetch?: typeof fetch | undefined;
  /** Aborted when the run stops: an exchange in flight ends with it, and nothing is kept. */
  signal?: AbortSignal | undefined;
  /** How long a started login waits for its callback, in ms (default 5 minutes). */
  pendingMs?: number | undefined;
  /** The clock (default `Date.now`). */
  now?: (() => number) | undefined;
}

/** The logins of one login server run. */
export interface LoginFlow {
  /** Start a login: a fresh state and PKCE verifier; returns the provider's authorize URL. */
  start(): URL;
  /** Complete the login a callback (the URL the provider redirected to) belongs to. */
  complete(callback: URL): Promise<Completion>;
  /** The last login stored in this run, if any. */
  readonly loggedIn: TokenRecord | undefined;
  /** How the run ends when stopped from outside: its login, else its last failure, else `reason`. */
  outcome(reason: unknown): LoginOutcome;
}

interface Pending {
  codeVerifier: string | undefined;
  expiresAt: number;
}

/**
 * The pending logins of one run and their completion.
 *
 * @example
 * const flow = createLoginFlow(provider, { onToken: (r) => manager.saveLogin(r) });
 * redirect(flow.start());
 * // ... the callback arrives
 * const done = await flow.complete(new URL(req.url, origin));
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1
 */
export function createLoginFlow(provider: Provider, options: LoginFlowOptions = {}): LoginFlow {
  const pendingMs = options.pendingMs ?? DEFAULT_LOGIN_TIMEOUT_MS;
  if (!Number.isFinite(pendingMs) || pendingMs <= 0) {
    throw new TypeError('"options.pendingMs" must be a positive number');
  }
  const now = options.now ?? Date.now;
  const { onToken, signal } = options;
  /** States this run sent to the provider, with their PKCE verifiers; oldest first. */
  const pending = new Map<string, Pending>();
  let exchanging = false;
  let loggedIn: TokenRecord | undefined;
  let lastError: unknown;

  const forgetExpired = (at: number): void => {
    for (const [state, entry] of pending) {
      if (entry.expiresAt <= at) pending.delete(state);
    }
  };

  const start = (): URL => {
    const at = now();
    forgetExpired(at);
    const request = createAuthorizationRequest(provider);
    pending.set(request.state, { codeVerifier: request.codeVerifier, expiresAt: at + pendingMs });
    while (pending.size > MAX_PENDING_STATES) {
      const oldest = pending.keys().next().value;
      if (oldest === undefined) break;
      pending.delete(oldest);
    }
    return request.url;
  };

  const complete = async (callback: URL): Promise<Completion> => {
    // The one reading of the callback URL: matched by its state, then judged, then exchanged.
    const query = readCallbackQuery(callback);
    const state = callbackState(query);
    forgetExpired(now());
    const entry = state === undefined ? undefined : pending.get(state);
    if (state === undefined || entry === undefined) {
      return { kind: 'refused', code: state === undefined ? 'missing_state' : 'state_mismatch' };
    }
    if (exchanging) return { kind: 'busy' };
    pending.delete(state);
    exchanging = true;
    let record: TokenRecord;
    try {
      // Classifies Deny and other provider errors before anything is sent.
      const result = checkCallback(query, state);
      record = await exchangeCallback(provider, result, {
        codeVerifier: entry.codeVerifier,
        fetch: options.fetch,
        signal,
      });
    } catch (error) {
      exchanging = false;
      if (signal?.aborted) return { kind: 'stopped' };
      lastError = error;
      return { kind: 'failed', error };
    }
    // Stopped (timeout, signal) while the code was being exchanged: keep nothing.
    if (signal?.aborted) {
      exchanging = false;
      return { kind: 'stopped' };
    }
    try {
      if (onToken !== undefined) await onToken(record);
    } catch (error) {
      exchanging = false;
      lastError = error;
      return { kind: 'not_stored', error };
    }
    exchanging = false;
    loggedIn = record;
    lastError = undefined;
    return { kind: 'stored', record };
  };

  return {
    start,
    complete,
    get loggedIn() {
      return loggedIn;
    },
    outcome(reason: unknown): LoginOutcome {
      if (loggedIn !== undefined) return { record: loggedIn };
      if (lastError !== undefined) return { error: lastError };
      return { error: reason };
    },
  };
}
