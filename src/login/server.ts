/**
 * The local login server: an HTTPS server on the redirect URI's loopback host and port that
 * sends the person to the provider, receives the callback, exchanges the code and hands the token
 * to the caller. It refuses foreign `Host` headers (DNS rebinding), starts a login only for a
 * request that carries the per-run secret (the address it prints and opens, or the status page's
 * POST button) and is the person's own top-level navigation (Fetch Metadata: no frames, no other
 * sites), shows its buttons (and the secret) only to requests that proved the secret, changes
 * state only on POST with the secret, sends strict security headers, gives up after a timeout,
 * and in every outcome closes its listeners and every connection.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { CallbackError, ConfigError, TdTokenError } from '../errors.js';
import type { TokenManager } from '../manager.js';
import {
  createAuthorizationRequest,
  exchangeAuthorizationCode,
  parseCallbackUrl,
} from '../oauth/index.js';
import { certDir as defaultCertDir } from '../paths.js';
import type { Provider } from '../providers/types.js';
import { maskToken, type TokenRecord } from '../token.js';
import { CERT_HOSTS, ensureCertificate } from './cert.js';
import {
  allowedHost,
  carriesSecret,
  hostAllowList,
  navigationRefusal,
  originAllowList,
  postRefusal,
  securityHeaders,
} from './guard.js';
import {
  errorPage,
  type Page,
  STYLE_HASH,
  statusHref,
  statusPage,
  stoppedPage,
  successPage,
} from './pages.js';

/** Options of {@link runLoginServer}. */
export interface LoginServerOptions {
  /** Called with the new token before the success page is shown (store it here). */
  onToken?: ((record: TokenRecord) => Promise<void>) | undefined;
  /** Open the user's browser at the login URL (default true). The URL is always logged. */
  openBrowser?: boolean | undefined;
  /** Give up when no login finished in this many ms (default 5 minutes). */
  timeoutMs?: number | undefined;
  /** Keep serving the status page after a login, until `/shutdown` or `signal`. */
  keepRunning?: boolean | undefined;
  /** The user's own certificate and key (PEM), e.g. made by mkcert. */
  cert?: { cert: string; key: string } | undefined;
  /** Where td-token's own certificate is kept (default: `certs` in the config folder). */
  certDir?: string | undefined;
  /** Where lines for people go (the CLI writes them to stderr). Never given a token. */
  log?: ((message: string) => void) | undefined;
  fetch?: typeof fetch | undefined;
  /** Used by the status page (token expiry) and `/login/refresh`; saves the login when no `onToken`. */
  manager?: TokenManager | undefined;
  /** Stops the server; the promise then rejects with the signal's reason (or resolves with a login made earlier in this run). */
  signal?: AbortSignal | undefined;
  /** Called once the server listens, with its base URL and addresses. */
  onListening?: ((info: LoginServerInfo) => void) | undefined;
}

/** Where a running login server can be reached. */
export interface LoginServerInfo {
  /** The server's base URL, the redirect URI's origin, e.g. `https://127.0.0.1:8182`. */
  origin: string;
  /**
   * The URL that starts a login, `<origin>/login?secret=<per-run secret>`: the address printed
   * and opened in the browser. Only a request carrying the secret can start a login.
   */
  loginUrl: string;
  /** The status page with its buttons, `<origin>/?secret=<per-run secret>`. */
  statusUrl: string;
  /** The path the provider redirects back to. */
  callbackPath: string;
  /** Every address listened on (loopback only). */
  addresses: AddressInfo[];
  /** The path of td-token's own certificate, when that one is used. */
  certPath?: string | undefined;
}

/** What a page refusing a request without the per-run secret says to do. */
const NO_SECRET_FIX =
  "open the address td-token printed in the terminal, and use the buttons of this server's pages.";

/** The default time a login may take. */
export const DEFAULT_LOGIN_TIMEOUT_MS = 5 * 60_000;

/** Outstanding states kept per run; older ones are forgotten. */
const MAX_PENDING_STATES = 32;
/** The largest POST body read, in bytes. */
const MAX_BODY_BYTES = 4096;
/** How long closing waits for connections to end by themselves before cutting them. */
const CLOSE_GRACE_MS = 500;

/** An IPv4 address in 127.0.0.0/8, written as four decimal parts. */
const LOOPBACK_V4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * The hosts to bind for a redirect URI host, or undefined when it is not loopback: both
 * 127.0.0.1 and ::1 for `localhost`, else the address itself (any of 127.0.0.0/8, or ::1).
 *
 * @example
 * loopbackBindHosts('localhost'); // ['127.0.0.1', '::1']
 * loopbackBindHosts('127.0.0.2'); // ['127.0.0.2']
 * loopbackBindHosts('example.com'); // undefined
 */
export function loopbackBindHosts(hostname: string): string[] | undefined {
  const host = hostname.toLowerCase();
  switch (host) {
    case 'localhost':
      return ['127.0.0.1', '::1'];
    case '[::1]':
    case '::1':
      return ['::1'];
    default: {
      const parts = LOOPBACK_V4.exec(host);
      if (parts === null) return undefined;
      const octets = parts.slice(1).map(Number);
      if (octets.some((n) => n > 255)) return undefined;
      return [`127.${octets.join('.')}`];
    }
  }
}

/** A duration for people: `5 minutes`, `90 seconds`, `400 ms`. */
export function describeDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const minutes = ms / 60_000;
  if (minutes >= 1 && Number.isInteger(minutes))
    return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const seconds = Math.round(ms / 100) / 10;
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}

/** Parse and check the redirect URI: loopback host, http(s), a port. */
function redirectTarget(redirectUri: string): {
  url: URL;
  hosts: string[];
  port: number;
  secure: boolean;
} {
  let url: URL;
  try {
    url = new URL(redirectUri);
  } catch (cause) {
    throw new ConfigError(
      `the redirect URI "${redirectUri}" is not a URL. give the callback URL registered with your app, e.g. --redirect-uri https://127.0.0.1:8182`,
      { cause },
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(
      `the redirect URI ${url.href} is not an https URL. give the callback URL registered with your app, e.g. --redirect-uri https://127.0.0.1:8182`,
    );
  }
  const hosts = loopbackBindHosts(url.hostname);
  if (hosts === undefined) {
    throw new ConfigError(
      `the redirect URI ${url.href} does not point at this computer (its host must be localhost, [::1] or an address in 127.0.0.0/8 such as 127.0.0.1), so the login server cannot receive the callback. register a loopback redirect URI with your app (e.g. https://127.0.0.1:8182) and pass it with --redirect-uri, or use 'td-token login --manual'`,
    );
  }
  const secure = url.protocol === 'https:';
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  return { url, hosts, port, secure };
}

/** Send pages and redirects with the security headers. */
function senders(security: Record<string, string>) {
  const sendPage = (
    res: ServerResponse,
    page: Page,
    headers: Record<string, string> = {},
    onSent?: () => void,
  ): void => {
    const body = Buffer.from(page.html, 'utf8');
    res.writeHead(page.status, {
      ...security,
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': String(body.length),
      ...headers,
    });
    if (res.req.method === 'HEAD') res.end(onSent);
    else res.end(body, onSent);
  };
  const sendRedirect = (res: ServerResponse, location: string, status = 302): void => {
    res.writeHead(status, { ...security, Location: location, 'Content-Length': '0' });
    res.end();
  };
  return { sendPage, sendRedirect };
}

/** Read a small urlencoded POST body; undefined when it is too big or of another type. */
function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  return new Promise((resolve) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      req.resume();
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        done = true;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', () => {
      if (done) return;
      done = true;
      resolve(undefined);
    });
  });
}

/** Open a URL in the user's browser; failures are ignored (the URL is logged anyway). */
export function openInBrowser(url: string): void {
  let command: string;
  let args: string[];
  if (process.platform === 'darwin') {
    command = 'open';
    args = [url];
  } else if (process.platform === 'win32') {
    command = 'cmd';
    args = ['/c', 'start', '""', url.replaceAll('&', '^&')];
  } else {
    command = 'xdg-open';
    args = [url];
  }
  try {
    const child = spawn(command, args, {
      stdio: 'ignore',
      detached: true,
      windowsHide: true,
      // cmd parses its own command line: pass `start "" <url>` as written, not re-quoted.
      windowsVerbatimArguments: process.platform === 'win32',
    });
    child.on('error', () => {});
    child.unref();
  } catch {
    // No browser: the URL was printed.
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * The message's fix, when it follows td-token's "what. fix" shape. The message part starts with
 * a capital letter, as it follows another sentence on the pages.
 */
function splitFix(message: string, fallback: string): { message: string; fix: string } {
  const at = message.lastIndexOf('. ');
  if (at > 0 && at < message.length - 2) {
    return { message: capitalize(message.slice(0, at + 1)), fix: message.slice(at + 2) };
  }
  return { message: capitalize(message), fix: fallback };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

type Outcome = { record: TokenRecord } | { error: unknown };

/**
 * Run the login server until a login finishes, fails, times out or is stopped.
 *
 * Resolves with the new token record (after `onToken` has stored it). Rejects with the
 * {@link CallbackError} (Deny) or {@link ProviderError} (failed exchange) that ended the login,
 * a `login_timeout` {@link TdTokenError}, or a {@link ConfigError} when the server cannot start.
 *
 * @example
 * const record = await runLoginServer(provider, {
 *   onToken: (r) => manager.saveLogin(r),
 *   log: (line) => process.stderr.write(`${line}\n`),
 * });
 * @see https://www.rfc-editor.org/rfc/rfc8252#section-7.3
 */
export async function runLoginServer(
  provider: Provider,
  options: LoginServerOptions = {},
): Promise<TokenRecord> {
  if (
    typeof provider !== 'object' ||
    provider === null ||
    typeof provider.redirectUri !== 'string'
  ) {
    throw new TypeError('"provider" must be a Provider');
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError('"options.timeoutMs" must be a positive number');
  }
  const log = options.log ?? (() => {});
  const { signal, manager } = options;
  const onToken =
    options.onToken ??
    (manager === undefined ? undefined : (record: TokenRecord) => manager.saveLogin(record));
  signal?.throwIfAborted();

  const target = redirectTarget(provider.redirectUri);
  const callbackPath = target.url.pathname || '/';
  const origin = target.url.origin;
  const authorizeOrigin = URL.canParse(provider.authorizeUrl)
    ? new URL(provider.authorizeUrl).origin
    : '';
  const { sendPage, sendRedirect } = senders(
    securityHeaders({
      styleSrc: STYLE_HASH,
      formAction: authorizeOrigin === 'null' ? '' : authorizeOrigin,
    }),
  );

  /** A 405 page for a page or callback asked for with a method it does not take. */
  const methodNotAllowed = (
    res: ServerResponse,
    message: string,
    fix = `open ${origin}/.`,
    allow = 'GET',
  ): void => {
    sendPage(
      res,
      errorPage({ status: 405, code: 'method_not_allowed', title: 'Not allowed', message, fix }),
      { Allow: allow },
    );
  };
  const hostPort = target.port;
  const defaultPort = target.secure ? 443 : 80;
  /** The names a request to this server may be addressed to (anything else: DNS rebinding). */
  const hostNames = [...new Set(['localhost', '127.0.0.1', '[::1]', target.url.hostname])];
  const allowedHosts = hostAllowList(hostNames, hostPort, defaultPort);
  const allowedOrigins = originAllowList(target.url.protocol, hostNames, hostPort, defaultPort);

  let tls: { cert: string; key: string } | undefined;
  let certPath: string | undefined;
  if (target.secure) {
    if (options.cert !== undefined) {
      tls = options.cert;
    } else {
      const made = await ensureCertificate(options.certDir ?? defaultCertDir(process.env));
      tls = { cert: made.cert, key: made.key };
      certPath = made.certPath;
      if (made.created)
        log(`made a self-signed certificate for the login server: ${made.certPath}`);
      const named: readonly string[] = [
        ...CERT_HOSTS.dns,
        ...CERT_HOSTS.ips.map((ip) => (ip.includes(':') ? `[${ip}]` : ip)),
      ];
      if (!named.includes(target.url.hostname)) {
        log(
          `td-token's certificate names ${named.join(', ')}, not ${target.url.hostname}, so browsers warn about it even when it is trusted. give a certificate for ${target.url.hostname} with --cert and --key to avoid that`,
        );
      }
    }
  }

  const secret = randomBytes(32).toString('base64url');
  /** States this run sent to the provider, with their PKCE verifiers; oldest first. */
  const pending = new Map<string, { codeVerifier: string | undefined }>();
  let exchanging = false;
  let stopping = false;
  let loggedIn: TokenRecord | undefined;
  let lastError: unknown;
  let refusedCallbacks = 0;
  let refusedStarts = 0;
  let refusedWithoutSecret = 0;

  const sockets = new Set<Socket>();
  const servers: Server[] = [];

  let settle: (outcome: Outcome) => void = () => {};
  const result = new Promise<TokenRecord>((resolve, reject) => {
    settle = (outcome) => {
      if ('record' in outcome) resolve(outcome.record);
      else reject(outcome.error);
    };
  });

  let timer: NodeJS.Timeout | undefined;
  /** Aborted when the server stops, so that an exchange in flight ends with it. */
  const running = new AbortController();

  const closeEverything = async (): Promise<void> => {
    const closed = servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        }),
    );
    const cut = setTimeout(() => {
      for (const server of servers) server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
    }, CLOSE_GRACE_MS);
    await Promise.all(closed);
    clearTimeout(cut);
    for (const socket of sockets) socket.destroy();
  };

  /** Stop the server and settle the promise with `outcome` (once). */
  const stop = (outcome: Outcome): void => {
    if (stopping) return;
    stopping = true;
    running.abort();
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    if (refusedCallbacks > 0) {
      log(`refused ${refusedCallbacks} callback(s) that did not come from this login`);
    }
    if (refusedStarts > 0) {
      log(`refused ${refusedStarts} request(s) from another site or a frame to start a login`);
    }
    if (refusedWithoutSecret > 0) {
      log(`refused ${refusedWithoutSecret} request(s) without this run's secret to start a login`);
    }
    void closeEverything().then(() => settle(outcome));
  };

  /** How the run ends when stopped from outside (signal, /shutdown). */
  const stoppedOutcome = (reason: unknown): Outcome => {
    if (loggedIn !== undefined) return { record: loggedIn };
    if (lastError !== undefined) return { error: lastError };
    return { error: reason };
  };

  function onAbort(): void {
    stop(stoppedOutcome(signal?.reason));
  }

  const issueState = (): URL => {
    const request = createAuthorizationRequest(provider);
    pending.set(request.state, { codeVerifier: request.codeVerifier });
    while (pending.size > MAX_PENDING_STATES) {
      const oldest = pending.keys().next().value;
      if (oldest === undefined) break;
      pending.delete(oldest);
    }
    return request.url;
  };

  /** The status page; its buttons (and the secret) only for a request that proved the secret. */
  const renderStatus = async (withButtons: boolean, notice?: string): Promise<Page> => {
    let token: Parameters<typeof statusPage>[0]['token'];
    let readError: string | undefined;
    const record =
      manager === undefined
        ? loggedIn
        : await manager.peek().catch((error: unknown) => {
            readError = describeError(error);
            return undefined;
          });
    if (record !== undefined) {
      token = {
        accessTokenMasked: maskToken(record.access_token),
        accessExpiresAt: record.expires_at,
        refreshExpiresAt: record.refresh_token_expires_at,
      };
    }
    return statusPage({
      provider: provider.name,
      redirectUri: provider.redirectUri,
      token,
      readError,
      canRefresh: manager !== undefined,
      notice,
      now: Date.now(),
      secret: withButtons ? secret : undefined,
    });
  };

  const handleCallback = async (res: ServerResponse, url: URL): Promise<void> => {
    const state = url.searchParams.get('state');
    const entry = state === null ? undefined : pending.get(state);
    if (state === null || entry === undefined) {
      refusedCallbacks += 1;
      if (refusedCallbacks <= 3) {
        log(
          `refused a callback with ${state === null ? 'no state' : 'a state this login did not send'}; still waiting for the login`,
        );
      }
      sendPage(
        res,
        errorPage({
          status: 400,
          code: state === null ? 'missing_state' : 'state_mismatch',
          title: 'Not from this login',
          message:
            'This callback does not carry the state this login sent to the provider, so it did not come from this login (or it is from an earlier one). Nothing was exchanged or stored.',
          fix: 'the login server is still waiting: start the login again by opening the address td-token printed in the terminal.',
        }),
      );
      return;
    }
    if (exchanging) {
      sendPage(
        res,
        errorPage({
          status: 409,
          code: 'busy',
          title: 'Login in progress',
          message: 'Another callback of this login is being completed.',
          fix: `wait a moment, then look at ${origin}/.`,
        }),
      );
      return;
    }
    pending.delete(state);
    exchanging = true;
    let record: TokenRecord;
    try {
      // Classifies Deny and other provider errors before anything is sent.
      parseCallbackUrl(url, state);
      record = await exchangeAuthorizationCode(provider, url.href, {
        expectedState: state,
        codeVerifier: entry.codeVerifier,
        fetch: options.fetch,
        signal: running.signal,
      });
    } catch (error) {
      exchanging = false;
      if (stopping) return;
      lastError = error;
      const denied = error instanceof TdTokenError && error.code === 'access_denied';
      const text = splitFix(describeError(error), "run 'td-token login' again.");
      log(`login failed: ${describeError(error)}`);
      const finalPage = !options.keepRunning;
      sendPage(
        res,
        errorPage({
          status: denied ? 403 : 502,
          code: error instanceof TdTokenError ? error.code : 'error',
          title: denied ? 'Login denied' : 'Login failed',
          message: denied
            ? `The provider reports that access was not granted (Deny was pressed, or the provider refused the login). ${text.message}`
            : `The provider did not give a token for this login. ${text.message}`,
          fix: text.fix,
          // A callback of a login this run started: the person proved the secret.
          secret: finalPage ? undefined : secret,
        }),
        finalPage ? { Connection: 'close' } : {},
        finalPage ? () => stop({ error }) : undefined,
      );
      return;
    }
    // Stopped (timeout, signal) while the code was being exchanged: keep nothing.
    if (stopping) return;
    try {
      if (onToken !== undefined) await onToken(record);
    } catch (error) {
      exchanging = false;
      lastError = error;
      log(`the login worked but the token could not be stored: ${describeError(error)}`);
      const text = splitFix(
        describeError(error),
        "fix the token store, then run 'td-token login' again.",
      );
      const finalPage = !options.keepRunning;
      sendPage(
        res,
        errorPage({
          status: 500,
          code: error instanceof TdTokenError ? error.code : 'store_error',
          title: 'Token not stored',
          message: `The login worked, but the token could not be stored. ${text.message}`,
          fix: text.fix,
          secret: finalPage ? undefined : secret,
        }),
        finalPage ? { Connection: 'close' } : {},
        finalPage ? () => stop({ error }) : undefined,
      );
      return;
    }
    exchanging = false;
    loggedIn = record;
    lastError = undefined;
    log(
      `logged in to ${provider.name}: the access token expires ${new Date(record.expires_at).toISOString()}, the refresh token ${new Date(record.refresh_token_expires_at).toISOString()}`,
    );
    const finalPage = !options.keepRunning;
    if (!finalPage && timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    sendPage(
      res,
      successPage({
        provider: provider.name,
        accessExpiresAt: record.expires_at,
        refreshExpiresAt: record.refresh_token_expires_at,
        stopping: finalPage,
        now: Date.now(),
        secret: finalPage ? undefined : secret,
      }),
      finalPage ? { Connection: 'close' } : {},
      finalPage ? () => stop({ record }) : undefined,
    );
  };

  /** POST with the per-run secret, from a page of this server. */
  const checkPost = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (req.method !== 'POST') {
      sendPage(
        res,
        errorPage({
          status: 405,
          code: 'method_not_allowed',
          title: 'Use the button',
          message:
            'This action changes something, so it only works from the buttons of the status page.',
          fix: NO_SECRET_FIX,
        }),
        { Allow: 'POST' },
      );
      return false;
    }
    const form = await readForm(req);
    const refusal = postRefusal(req, form?.get('secret') ?? undefined, { secret, allowedOrigins });
    if (refusal !== undefined) {
      sendPage(
        res,
        errorPage({
          status: 403,
          code: 'forbidden',
          title: 'Refused',
          message: 'This request did not come from a page of this login server.',
          fix: NO_SECRET_FIX,
        }),
      );
      return false;
    }
    return true;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!allowedHost(req.headers.host, allowedHosts)) {
      sendPage(
        res,
        errorPage({
          status: 421,
          code: 'wrong_host',
          title: 'Wrong address',
          message: `This login server only answers requests addressed to ${hostNames.slice(0, -1).join(', ')} or ${hostNames.at(-1)}.`,
          fix: `open ${origin}/ directly.`,
        }),
        { Connection: 'close' },
      );
      return;
    }
    if (stopping) {
      sendPage(
        res,
        errorPage({
          status: 503,
          code: 'stopping',
          title: 'Stopping',
          message: 'The login server is stopping.',
          fix: "run 'td-token login' again if you still need to log in.",
        }),
        { Connection: 'close' },
      );
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', origin);
    } catch {
      sendPage(
        res,
        errorPage({
          status: 400,
          code: 'bad_request',
          title: 'Bad request',
          message: 'The address does not parse.',
          fix: `open ${origin}/.`,
        }),
      );
      return;
    }
    const path = url.pathname;
    const query = url.searchParams;
    const isCallback =
      path === callbackPath &&
      (callbackPath !== '/' || query.has('code') || query.has('error') || query.has('state'));
    if (isCallback) {
      if (req.method !== 'GET') {
        methodNotAllowed(res, 'The callback is a GET request.');
        return;
      }
      await handleCallback(res, url);
      return;
    }
    switch (path) {
      case '/': {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          methodNotAllowed(res, 'This page is read with GET.');
          return;
        }
        sendPage(res, await renderStatus(carriesSecret(url, secret)));
        return;
      }
      case '/login': {
        if (req.method === 'POST') {
          // The status page's Log in button: the secret in the form, from a page of this server.
          if (!(await checkPost(req, res))) return;
          sendRedirect(res, issueState().href, 303);
          return;
        }
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          methodNotAllowed(res, 'Open this address in the browser.', NO_SECRET_FIX, 'GET, POST');
          return;
        }
        const refusal = navigationRefusal(req);
        if (refusal !== undefined) {
          refusedStarts += 1;
          if (refusedStarts <= 3) {
            log(
              `refused to start a login for a request with ${refusal} (another site, a frame or a script); still waiting for the login`,
            );
          }
          sendPage(
            res,
            errorPage({
              status: 403,
              code: 'forbidden',
              title: 'Refused',
              message:
                "A login starts only when the address td-token printed is opened in the browser's address bar, or with the Log in button of this server's status page, not from another site, a frame or a script. No login was started.",
              fix: 'open the address td-token printed in the terminal in the address bar.',
            }),
          );
          return;
        }
        if (!carriesSecret(url, secret)) {
          // Anyone on this computer can reach the port; only the person who ran td-token has
          // the secret. Without this, another local user could push the person's state out and
          // have the server store a token of the other user's account (login CSRF).
          refusedWithoutSecret += 1;
          if (refusedWithoutSecret <= 3) {
            log(
              "refused to start a login for a request without this run's secret (not the address td-token printed); still waiting for the login",
            );
          }
          sendPage(
            res,
            errorPage({
              status: 403,
              code: 'forbidden',
              title: 'No login was started',
              message:
                'This address does not carry the secret of this run of td-token, so it may not come from the person who started it. No login was started.',
              fix: 'open the address td-token printed in the terminal (it ends in /login?secret=...).',
            }),
          );
          return;
        }
        sendRedirect(res, issueState().href);
        return;
      }
      case '/login/refresh': {
        if (!(await checkPost(req, res))) return;
        if (manager === undefined) {
          sendPage(
            res,
            errorPage({
              status: 409,
              code: 'no_store',
              title: 'Nothing to refresh',
              message: 'This login server has no token store attached.',
              fix: "run 'td-token refresh'.",
            }),
          );
          return;
        }
        try {
          const record = await manager.refresh({ force: true });
          log('refreshed the access token from the status page');
          sendPage(
            res,
            await renderStatus(
              true,
              `Refreshed: the access token now expires ${new Date(record.expires_at).toISOString()}.`,
            ),
          );
        } catch (error) {
          const text = splitFix(describeError(error), "run 'td-token login' to log in again.");
          sendPage(
            res,
            errorPage({
              status: 502,
              code: error instanceof TdTokenError ? error.code : 'error',
              title: 'Refresh failed',
              message: text.message,
              fix: text.fix,
            }),
          );
        }
        return;
      }
      case '/shutdown': {
        if (!(await checkPost(req, res))) return;
        log('stopped from the status page');
        sendPage(res, stoppedPage(), { Connection: 'close' }, () =>
          stop(
            stoppedOutcome(
              new CallbackError(
                'login_required',
                "the login server was stopped before a login finished. run 'td-token login' again to log in",
              ),
            ),
          ),
        );
        return;
      }
      default: {
        sendPage(
          res,
          errorPage({
            status: 404,
            code: 'not_found',
            title: 'Not found',
            message: 'There is no such page here.',
            fix: `open ${origin}/.`,
          }),
        );
      }
    }
  };

  const requestListener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((error: unknown) => {
      log(`the login server failed to answer a request: ${describeError(error)}`);
      if (!res.headersSent) {
        sendPage(
          res,
          errorPage({
            status: 500,
            code: 'internal',
            title: 'Server error',
            message: 'The login server failed to answer this request.',
            fix: "look at the terminal running 'td-token login'.",
          }),
        );
      } else {
        res.destroy();
      }
    });
  };

  const makeServer = (): Server => {
    let server: Server;
    if (tls !== undefined) {
      try {
        server = createHttpsServer(
          { cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' },
          requestListener,
        );
      } catch (cause) {
        throw new ConfigError(
          `the login server's certificate or key could not be used (${describeError(cause)}). give a matching PEM certificate and key with --cert and --key, or leave both out to use td-token's own`,
          { cause },
        );
      }
    } else {
      server = createHttpServer(requestListener);
    }
    server.requestTimeout = 30_000;
    server.headersTimeout = 15_000;
    server.keepAliveTimeout = 5_000;
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    return server;
  };

  const listenOn = (server: Server, host: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      server.once('error', onError);
      server.listen({ host, port: hostPort, exclusive: true }, () => {
        server.off('error', onError);
        resolve();
      });
    });

  try {
    for (const host of target.hosts) {
      const server = makeServer();
      try {
        await listenOn(server, host);
        servers.push(server);
      } catch (error) {
        const code = isErrnoException(error) ? error.code : undefined;
        // `localhost` without IPv6 on this machine: 127.0.0.1 alone will do.
        if (
          host === '::1' &&
          target.hosts.length > 1 &&
          (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')
        ) {
          continue;
        }
        const where = host.includes(':') ? `[${host}]:${hostPort}` : `${host}:${hostPort}`;
        if (code === 'EADDRINUSE') {
          throw new ConfigError(
            `the login server cannot listen on ${where}: the port is in use (by an earlier td-token login still running?). stop the program using it, or register another redirect URI with your app and pass it with --redirect-uri`,
            { cause: error },
          );
        }
        if (code === 'EADDRNOTAVAIL' && host !== '::1') {
          throw new ConfigError(
            `the login server cannot listen on ${where}: this computer has no such loopback address (macOS, for one, has only 127.0.0.1 unless an alias is added). register a redirect URI on 127.0.0.1 or localhost with your app and pass it with --redirect-uri`,
            { cause: error },
          );
        }
        if (code === 'EACCES') {
          throw new ConfigError(
            `the login server may not listen on ${where}: ports below 1024 need administrator rights. register a redirect URI with a port above 1023 (e.g. https://127.0.0.1:8182) and pass it with --redirect-uri`,
            { cause: error },
          );
        }
        throw new ConfigError(
          `the login server cannot listen on ${where} (${code ?? describeError(error)}). register another redirect URI with your app and pass it with --redirect-uri, or use 'td-token login --manual'`,
          { cause: error },
        );
      }
    }
  } catch (error) {
    stopping = true;
    await closeEverything();
    throw error;
  }

  const loginUrl = `${origin}/login?secret=${secret}`;
  const statusUrl = `${origin}${statusHref(secret)}`;
  const addresses = servers.map((server) => server.address() as AddressInfo);
  log(`login server listening on ${origin}/ (loopback only)`);
  log(`to log in, open ${loginUrl} in a browser`);
  if (options.keepRunning) log(`the status page, with its Refresh and Stop buttons: ${statusUrl}`);
  if (certPath !== undefined) {
    log(
      "the browser may warn about td-token's self-signed certificate; 'td-token cert' shows how to trust it",
    );
  }

  timer = setTimeout(() => {
    const span = describeDuration(timeoutMs);
    log(`no login finished within ${span}; stopping`);
    stop({
      error: new TdTokenError(
        'login_timeout',
        `no login finished within ${span}. run 'td-token login' again and finish the login in the browser in time (--timeout gives more time)`,
      ),
    });
  }, timeoutMs);
  signal?.addEventListener('abort', onAbort, { once: true });

  options.onListening?.({ origin, loginUrl, statusUrl, callbackPath, addresses, certPath });
  if (options.openBrowser !== false) openInBrowser(loginUrl);

  return result;
}
