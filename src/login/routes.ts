/**
 * The login server's five routes, request to answer: `/` (the status page), `/login` (start a
 * login: GET with the per-run secret as a top-level navigation, or the status page's POST), the
 * callback (the redirect URI's path), `/login/refresh` and `/shutdown` (POST with the secret
 * from this server's own page). Every request is first checked by the guards (its `Host`, the
 * run not stopping). An answer is a page, a redirect or nothing; the server sends it. What the
 * error pages say is in `messages.ts`.
 *
 * @module
 */
import { LoginRequiredError } from '../errors.js';
import type { Provider } from '../providers/types.js';
import { isRefreshTokenExpiryKnown, maskToken, type TokenRecord } from '../token.js';
import { timeLeft } from '../util/time.js';
import type { LoginSite } from './address.js';
import type { Completion, LoginFlow, LoginOutcome } from './flow.js';
import {
  allowedHost,
  carriesSecret,
  type GuardHeaders,
  navigationRefusal,
  postRefusal,
} from './guard.js';
import {
  badRequestPage,
  busyPage,
  describeError,
  foreignPostPage,
  loginFailedPage,
  methodNotAllowedPage,
  NO_SECRET_FIX,
  noSecretStartPage,
  noStorePage,
  notFoundPage,
  notFromThisLoginPage,
  notStoredPage,
  refreshFailedPage,
  refusedStartPage,
  stoppingPage,
  usePostPage,
  wrongHostPage,
} from './messages.js';
import {
  type Page,
  statusPage,
  stoppedPage,
  successPage,
  UNKNOWN_REFRESH_EXPIRY,
} from './pages.js';
import { localTime } from './words.js';

/** A request as the routes see it; `readForm` reads its small urlencoded body. */
export interface RouteRequest {
  method: string | undefined;
  url: string | undefined;
  headers: GuardHeaders;
  /** The urlencoded POST body, or undefined when it is too big or of another type. */
  readForm(): Promise<URLSearchParams | undefined>;
}

/** What to send: a page (then `after` once it is sent), a redirect, or nothing (the run stops). */
export type Answer =
  | { page: Page; headers?: Record<string, string>; after?: () => void }
  | { redirect: string; status: 302 | 303 }
  | { nothing: true };

/** Options of {@link createLoginRoutes}. */
export interface LoginRoutesOptions {
  provider: Provider;
  /** Who the person logs in to, as the pages and log lines name it. */
  label: string;
  site: LoginSite;
  /** The per-run secret. */
  secret: string;
  flow: LoginFlow;
  /** The stored login, for the status page (default: the login of this run). */
  status?: (() => Promise<TokenRecord | undefined>) | undefined;
  /** Refreshes the stored login now (the status page's button); without it there is none. */
  refresh?: (() => Promise<TokenRecord>) | undefined;
  /** Keep serving the status page after a login. */
  keepRunning: boolean;
  log: (line: string) => void;
  /** Whether the run is stopping: then every request is refused. */
  isStopping: () => boolean;
  /** End the run with `outcome`. */
  stop: (outcome: LoginOutcome) => void;
  /** A login was stored and the server keeps running: the login timeout no longer applies. */
  keptRunning: () => void;
}

/** The login server's routes. */
export interface LoginRoutes {
  /** The answer to one request. */
  answer(request: RouteRequest): Promise<Answer>;
  /** Lines for the log when the run ends: the requests refused during it, if any. */
  refusals(): string[];
}

/** A moment for the log and the pages: local time and the time left, as the terminal says it. */
function until(at: number, now: number): string {
  return `${localTime(at)} (${timeLeft(at, now)})`;
}

/** The refresh token's expiry for the pages; undefined when only assumed. */
function refreshExpiry(record: TokenRecord): number | undefined {
  return isRefreshTokenExpiryKnown(record) ? record.refresh_token_expires_at : undefined;
}

function page(p: Page, headers?: Record<string, string>, after?: () => void): Answer {
  return {
    page: p,
    ...(headers === undefined ? {} : { headers }),
    ...(after === undefined ? {} : { after }),
  };
}

/**
 * The routes of one login server run.
 *
 * @example
 * const routes = createLoginRoutes({ provider, label, site, secret, flow, keepRunning: false, log, isStopping, stop, keptRunning });
 * const answer = await routes.answer({ method: req.method, url: req.url, headers: req.headers, readForm });
 */
export function createLoginRoutes(options: LoginRoutesOptions): LoginRoutes {
  const { provider, label, site, secret, flow, log, keepRunning } = options;
  const { origin, callbackPath } = site;
  let refusedCallbacks = 0;
  let refusedStarts = 0;
  let refusedWithoutSecret = 0;

  /** A 405 for a page or callback asked for with a method it does not take. */
  const methodNotAllowed = (message: string, fix = `open ${origin}/.`, allow = 'GET'): Answer =>
    page(methodNotAllowedPage(message, fix), { Allow: allow });

  /** The status page; its buttons (and the secret) only for a request that proved the secret. */
  const renderStatus = async (withButtons: boolean, notice?: string): Promise<Page> => {
    let token: Parameters<typeof statusPage>[0]['token'];
    let readError: string | undefined;
    const record =
      options.status === undefined
        ? flow.loggedIn
        : await options.status().catch((error: unknown) => {
            readError = describeError(error);
            return undefined;
          });
    if (record !== undefined) {
      token = {
        accessTokenMasked: maskToken(record.access_token),
        accessExpiresAt: record.expires_at,
        refreshExpiresAt: refreshExpiry(record),
      };
    }
    return statusPage({
      provider: label,
      redirectUri: provider.redirectUri,
      token,
      readError,
      canRefresh: options.refresh !== undefined,
      notice,
      now: Date.now(),
      secret: withButtons ? secret : undefined,
    });
  };

  /** The page for what became of a callback. */
  const callbackAnswer = (done: Completion): Answer => {
    const finalPage = !keepRunning;
    const closing: Record<string, string> = finalPage ? { Connection: 'close' } : {};
    // A callback of a login this run started: the person proved the secret.
    const offer = finalPage ? undefined : secret;
    switch (done.kind) {
      case 'refused':
        refusedCallbacks += 1;
        if (refusedCallbacks <= 3) {
          log(
            `refused a callback with ${done.code === 'missing_state' ? 'no state' : 'a state this login did not send'}; still waiting for the login`,
          );
        }
        return page(notFromThisLoginPage(done.code));
      case 'busy':
        return page(busyPage(origin));
      case 'stopped':
        return { nothing: true };
      case 'failed':
        log(`login failed: ${describeError(done.error)}`);
        return page(
          loginFailedPage(done.error, offer),
          closing,
          finalPage ? () => options.stop({ error: done.error }) : undefined,
        );
      case 'not_stored':
        log(`the login worked but the token could not be stored: ${describeError(done.error)}`);
        return page(
          notStoredPage(done.error, offer),
          closing,
          finalPage ? () => options.stop({ error: done.error }) : undefined,
        );
      case 'stored': {
        const { record } = done;
        const now = Date.now();
        log(
          `logged in to ${label}: the access token expires ${until(record.expires_at, now)}, ${isRefreshTokenExpiryKnown(record) ? `the refresh token ${until(record.refresh_token_expires_at, now)}` : `the refresh token's expiry is ${UNKNOWN_REFRESH_EXPIRY}`}`,
        );
        if (!finalPage) options.keptRunning();
        return page(
          successPage({
            provider: label,
            accessExpiresAt: record.expires_at,
            refreshExpiresAt: refreshExpiry(record),
            stopping: finalPage,
            now,
            secret: offer,
          }),
          closing,
          finalPage ? () => options.stop({ record }) : undefined,
        );
      }
    }
  };

  /** POST with the per-run secret, from a page of this server; undefined when it may go ahead. */
  const refusePost = async (request: RouteRequest): Promise<Answer | undefined> => {
    if (request.method !== 'POST') return page(usePostPage(), { Allow: 'POST' });
    const form = await request.readForm();
    const refusal = postRefusal(request, form?.get('secret') ?? undefined, {
      secret,
      allowedOrigins: site.allowedOrigins,
    });
    return refusal === undefined ? undefined : page(foreignPostPage());
  };

  /** `/login`: redirect to the provider with a fresh state, for the person only. */
  const startLogin = async (request: RouteRequest, url: URL): Promise<Answer> => {
    if (request.method === 'POST') {
      // The status page's Log in button: the secret in the form, from a page of this server.
      const refused = await refusePost(request);
      if (refused !== undefined) return refused;
      return { redirect: flow.start().href, status: 303 };
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return methodNotAllowed('Open this address in the browser.', NO_SECRET_FIX, 'GET, POST');
    }
    const refusal = navigationRefusal(request);
    if (refusal !== undefined) {
      refusedStarts += 1;
      if (refusedStarts <= 3) {
        log(
          `refused to start a login for a request with ${refusal} (another site, a frame or a script); still waiting for the login`,
        );
      }
      return page(refusedStartPage());
    }
    if (!carriesSecret(url, secret)) {
      // Anyone on this computer can reach the port; only the person who ran td-token has the
      // secret. Without this, another local user could push the person's state out and have
      // the server store a token of the other user's account (login CSRF).
      refusedWithoutSecret += 1;
      if (refusedWithoutSecret <= 3) {
        log(
          "refused to start a login for a request without this run's secret (not the address td-token printed); still waiting for the login",
        );
      }
      return page(noSecretStartPage());
    }
    return { redirect: flow.start().href, status: 302 };
  };

  /** `/login/refresh`: refresh the stored login now. */
  const refreshNow = async (request: RouteRequest): Promise<Answer> => {
    const refused = await refusePost(request);
    if (refused !== undefined) return refused;
    if (options.refresh === undefined) return page(noStorePage());
    try {
      const record = await options.refresh();
      log('refreshed the access token from the status page');
      const notice = `Refreshed: the access token now expires ${until(record.expires_at, Date.now())}.`;
      return page(await renderStatus(true, notice));
    } catch (error) {
      return page(refreshFailedPage(error));
    }
  };

  /** `/shutdown`: stop the server. */
  const shutdown = async (request: RouteRequest): Promise<Answer> => {
    const refused = await refusePost(request);
    if (refused !== undefined) return refused;
    log('stopped from the status page');
    const reason = new LoginRequiredError(
      "the login server was stopped before a login finished. run 'td-token login' again to log in",
    );
    return page(stoppedPage(), { Connection: 'close' }, () => options.stop(flow.outcome(reason)));
  };

  const answer = async (request: RouteRequest): Promise<Answer> => {
    if (!allowedHost(request.headers['host'], site.allowedHosts)) {
      return page(wrongHostPage(site.hostNames, origin), { Connection: 'close' });
    }
    if (options.isStopping()) return page(stoppingPage(), { Connection: 'close' });
    let url: URL;
    try {
      url = new URL(request.url ?? '/', origin);
    } catch {
      return page(badRequestPage(origin));
    }
    const path = url.pathname;
    const query = url.searchParams;
    const isCallback =
      path === callbackPath &&
      (callbackPath !== '/' || query.has('code') || query.has('error') || query.has('state'));
    if (isCallback) {
      if (request.method !== 'GET') return methodNotAllowed('The callback is a GET request.');
      return callbackAnswer(await flow.complete(url));
    }
    switch (path) {
      case '/':
        if (request.method !== 'GET' && request.method !== 'HEAD') {
          return methodNotAllowed('This page is read with GET.');
        }
        return page(await renderStatus(carriesSecret(url, secret)));
      case '/login':
        return startLogin(request, url);
      case '/login/refresh':
        return refreshNow(request);
      case '/shutdown':
        return shutdown(request);
      default:
        return page(notFoundPage(origin));
    }
  };

  const refusals = (): string[] => {
    const lines: string[] = [];
    if (refusedCallbacks > 0) {
      lines.push(`refused ${refusedCallbacks} callback(s) that did not come from this login`);
    }
    if (refusedStarts > 0) {
      lines.push(
        `refused ${refusedStarts} request(s) from another site or a frame to start a login`,
      );
    }
    if (refusedWithoutSecret > 0) {
      lines.push(
        `refused ${refusedWithoutSecret} request(s) without this run's secret to start a login`,
      );
    }
    return lines;
  };

  return { answer, refusals };
}
