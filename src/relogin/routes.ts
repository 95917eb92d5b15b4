/**
 * The re-login page's routes, request to answer. Two routes, both behind a live one-time link
 * secret: `GET /?secret=...` (the two steps) and `POST /finish` (the pasted address, with the
 * secret in the form, from this page: the CSRF check of `guard.ts`). Every request first passes
 * the rate limit (429), then the `Host` check; any other request, a wrong, used or expired
 * secret, a frame or a fetch, a foreign POST, all get the same bare 404, which tells nothing.
 * A paste is completed through the flow while its code lives; when the code was refused (it
 * expired, say), the page says so and offers a fresh link, a new pending login.
 *
 * @module
 */
import { TdTokenError } from '../errors.js';
import type { Completion } from '../login/flow.js';
import {
  allowedHost,
  type GuardHeaders,
  navigationRefusal,
  postRefusal,
  secretsEqual,
} from '../login/guard.js';
import { describeError } from '../login/messages.js';
import type { Page } from '../login/pages.js';
import {
  callbackState,
  cleanPastedText,
  looksLikeCallbackUrl,
  readCallbackQuery,
} from '../oauth/index.js';
import type { LinkBook, ReloginLink } from './links.js';
import { busyPage, FINISH_PATH, loggedInPage, stepsPage, tryAgainPage } from './pages.js';
import type { RateLimiter } from './rate-limit.js';

/** A request as the routes see it. */
export interface ReloginRequest {
  method: string | undefined;
  url: string | undefined;
  headers: GuardHeaders;
  /** The peer's address, for the rate limit. */
  remoteAddress: string;
  /** The urlencoded POST body, or undefined when it is too big or of another type. */
  readForm(): Promise<URLSearchParams | undefined>;
}

/** What to send: a page with extra headers. */
export interface ReloginAnswer {
  page: Page;
  headers?: Record<string, string>;
}

/** What the page counted since it started (the tests' and the docs' figures). */
export interface ReloginCounts {
  /** Requests refused with the bare 404 (wrong path, secret, host, method, origin...). */
  refused: number;
  /** Of those, the ones that named a link secret that is not live (wrong, used or expired). */
  badSecrets: number;
  /** Requests refused by the rate limit. */
  rateLimited: number;
  /** Logins completed and stored. */
  loggedIn: number;
}

/** What the routes need. */
export interface ReloginRoutesOptions {
  links: LinkBook;
  limiter: RateLimiter;
  /** Completes a callback (the flow of `src/login/flow.ts`). */
  complete(callback: URL): Promise<Completion>;
  /** A new pending login and its link (the URL to open). */
  freshLink(): string;
  /** Who the person logs in to, as the page names it. */
  label: string;
  redirectUri: string;
  /** `https://host:port`, the base of every link. */
  origin: string;
  allowedHosts: ReadonlySet<string>;
  allowedOrigins: ReadonlySet<string>;
  /** Lines for people; never given a secret or a token. */
  log(line: string): void;
}

/** The bare refusal: no detail of why. */
export const NOT_FOUND: Page = { status: 404, html: 'Not found\n' };

/** The page for an exceeded rate limit. */
const TOO_MANY: Page = { status: 429, html: 'Too many requests\n' };

/** The routes of one re-login page. */
export interface ReloginRoutes {
  answer(request: ReloginRequest): Promise<ReloginAnswer>;
  counts(): ReloginCounts;
}

/** Whether a failure means the code in the pasted address was refused (expired or used). */
function codeRefused(error: unknown): boolean {
  return error instanceof TdTokenError && error.oauthError === 'invalid_grant';
}

/**
 * The routes of one page.
 *
 * @example
 * const routes = createReloginRoutes({ links, limiter, complete: (u) => flow.complete(u), ... });
 * const { page, headers } = await routes.answer(request);
 */
export function createReloginRoutes(options: ReloginRoutesOptions): ReloginRoutes {
  const { links, limiter, label, log } = options;
  const counts: ReloginCounts = { refused: 0, badSecrets: 0, rateLimited: 0, loggedIn: 0 };
  /** What was logged as rate-limited in the current window, so that a flood logs once. */
  const limitedLogged = new Set<string>();
  let loggedWindow = Number.NaN;

  const refuse = (badSecret = false): ReloginAnswer => {
    counts.refused += 1;
    if (badSecret) counts.badSecrets += 1;
    return { page: NOT_FOUND };
  };

  const steps = (link: ReloginLink, notice?: string, pasted?: string): ReloginAnswer => ({
    page: stepsPage(
      {
        label,
        authorizeUrl: link.authorizeUrl.href,
        secret: link.secret,
        redirectUri: options.redirectUri,
        expiresAt: link.expiresAt,
        notice,
        pasted,
      },
      notice === undefined ? 200 : 400,
    ),
  });

  /** The paste could not complete this link's login: say why and offer a fresh link. */
  const tryAgain = (
    link: ReloginLink,
    status: number,
    code: string,
    title: string,
    message: string,
  ): ReloginAnswer => {
    links.spend(link);
    let freshLink: string | undefined;
    try {
      freshLink = options.freshLink();
    } catch (error) {
      log(`re-login page: no fresh link could be made: ${describeError(error)}`);
    }
    return { page: tryAgainPage({ status, code, title, message, freshLink }) };
  };

  const finish = async (request: ReloginRequest): Promise<ReloginAnswer> => {
    const form = await request.readForm();
    const given = form?.get('secret') ?? undefined;
    const link = links.find(given);
    // The CSRF check: a POST from this page (its origin), with a live link's secret.
    const refusal = postRefusal(request, given, {
      secret: link?.secret ?? '\u0000no live link',
      allowedOrigins: options.allowedOrigins,
    });
    if (form === undefined || link === undefined || refusal !== undefined) {
      return refuse(link === undefined && given !== undefined);
    }
    const pasted = cleanPastedText(form.get('callback') ?? '');
    if (!looksLikeCallbackUrl(pasted) || !URL.canParse(pasted)) {
      return steps(
        link,
        `That is not the address your browser ended on. Copy the whole address from the address bar of the tab step 1 opened; it starts with ${options.redirectUri}.`,
        pasted,
      );
    }
    const callback = new URL(pasted);
    const state = callbackState(readCallbackQuery(callback));
    if (state === undefined || !secretsEqual(state, link.state)) {
      return steps(
        link,
        `That address is not from this link's login (an older one, perhaps). Press "Log in at ${label}" again, then paste the address that tab ends on.`,
        pasted,
      );
    }
    if (link.busy) return { page: busyPage() };
    link.busy = true;
    let done: Completion;
    try {
      done = await options.complete(callback);
    } finally {
      link.busy = false;
    }
    switch (done.kind) {
      case 'stored': {
        links.spend(link);
        counts.loggedIn += 1;
        log(`re-login page: logged in to ${label} from ${request.remoteAddress}; the link is used`);
        return {
          page: loggedInPage({
            label,
            refreshExpiresAt: done.record.refresh_token_expires_at,
            accessExpiresAt: done.record.expires_at,
          }),
        };
      }
      case 'busy':
        return { page: busyPage() };
      case 'refused':
        log('re-login page: the login of a link was forgotten before its paste; made a fresh link');
        return tryAgain(
          link,
          410,
          done.code,
          'This login has expired',
          'td-token no longer waits for this login (it is more than its 10 minutes old). Nothing was stored.',
        );
      case 'stopped':
        return tryAgain(
          link,
          503,
          'stopping',
          'Stopping',
          'td-token is stopping. Nothing was stored.',
        );
      case 'failed': {
        const denied = done.error instanceof TdTokenError && done.error.code === 'access_denied';
        if (codeRefused(done.error)) {
          log(
            `re-login page: ${label} refused the code pasted from ${request.remoteAddress} (expired or used); made a fresh link`,
          );
          return tryAgain(
            link,
            410,
            'code_expired',
            'The code has expired',
            `${label} refused the code in that address: it expired before it was pasted (codes live about 30 seconds at Schwab), or it was already used. Nothing was stored.`,
          );
        }
        log(`re-login page: the login failed: ${describeError(done.error)}`);
        return tryAgain(
          link,
          denied ? 403 : 502,
          done.error instanceof TdTokenError ? done.error.code : 'error',
          denied ? 'Login denied' : 'Login failed',
          denied
            ? `${label} reports that access was not granted (Deny was pressed). Nothing was stored.`
            : `${label} gave no token for this login: ${describeError(done.error)}`,
        );
      }
      case 'not_stored':
        log(`re-login page: the login worked but was not stored: ${describeError(done.error)}`);
        return tryAgain(
          link,
          500,
          done.error instanceof TdTokenError ? done.error.code : 'store_error',
          'Login not stored',
          `The login worked, but td-token could not store it: ${describeError(done.error)}`,
        );
    }
  };

  const answer = async (request: ReloginRequest): Promise<ReloginAnswer> => {
    const decision = limiter.take(request.remoteAddress);
    if (!decision.ok) {
      counts.rateLimited += 1;
      if (decision.windowStart !== loggedWindow || limitedLogged.size > 1000) {
        loggedWindow = decision.windowStart;
        limitedLogged.clear();
      }
      const key = `${decision.scope}:${decision.scope === 'address' ? request.remoteAddress : ''}`;
      if (!limitedLogged.has(key)) {
        limitedLogged.add(key);
        log(
          decision.scope === 'address'
            ? `re-login page: rate limit reached for ${request.remoteAddress}; refusing it for ${Math.ceil(decision.retryAfterMs / 1000)} s`
            : `re-login page: overall rate limit reached; refusing every request for ${Math.ceil(decision.retryAfterMs / 1000)} s`,
        );
      }
      return {
        page: TOO_MANY,
        headers: { 'Retry-After': String(Math.ceil(decision.retryAfterMs / 1000)) },
      };
    }
    if (!allowedHost(request.headers['host'], options.allowedHosts)) return refuse();
    let url: URL;
    try {
      url = new URL(request.url ?? '/', options.origin);
    } catch {
      return refuse();
    }
    if (url.pathname === '/' && (request.method === 'GET' || request.method === 'HEAD')) {
      // A top-level navigation only (no frame, image or fetch); opened from anywhere: a
      // notification's link is followed from a mail or chat page, another site.
      const { 'sec-fetch-site': _site, ...headers } = request.headers;
      if (navigationRefusal({ headers }) !== undefined) return refuse();
      const given = url.searchParams.get('secret');
      const link = links.find(given);
      if (link === undefined) return refuse(given !== null);
      return steps(link);
    }
    if (url.pathname === FINISH_PATH && request.method === 'POST') return finish(request);
    return refuse();
  };

  return { answer, counts: () => ({ ...counts }) };
}
