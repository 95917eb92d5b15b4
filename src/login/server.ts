/**
 * The local login server: an HTTP(S) server on the redirect URI's loopback host and port, with
 * td-token's own certificate or the one given. This room only listens (loopback only, each
 * address of the redirect URI's host), turns bind failures into errors with the fix, sends the
 * routes' answers with the security headers, gives up after the timeout, and in every outcome
 * closes its listeners and every connection. Where it listens is checked in `address.ts`; what a
 * request gets is decided by the routes (`routes.ts`), behind the guards (`guard.ts`), and sent
 * by `wire.ts`; logins in flight live in the flow (`flow.ts`); the browser is opened by
 * `browser.ts`.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { ConfigError, TdTokenError } from '../errors.js';
import { certDir as defaultCertDir } from '../paths.js';
import type { Provider } from '../providers/types.js';
import type { TokenRecord } from '../token.js';
import { loginSite, redirectTarget } from './address.js';
import { openInBrowser } from './browser.js';
import { CERT_HOSTS, ensureCertificate } from './cert.js';
import { createLoginFlow, DEFAULT_LOGIN_TIMEOUT_MS, type LoginOutcome } from './flow.js';
import { securityHeaders } from './guard.js';
import { describeError, internalErrorPage } from './messages.js';
import { STYLE_HASH, statusHref } from './pages.js';
import { createLoginRoutes } from './routes.js';
import { readForm, senders } from './wire.js';
import { describeDuration } from './words.js';

export { DEFAULT_LOGIN_TIMEOUT_MS } from './flow.js';

/**
 * Options of {@link runLoginServer}.
 *
 * @example
 * const options: LoginServerOptions = {
 *   onToken: (record) => manager.saveLogin(record),
 *   timeoutMs: 10 * 60_000,
 *   openBrowser: false,
 *   log: (line) => process.stderr.write(`${line}\n`),
 * };
 * const record = await runLoginServer(provider, options);
 * @see https://www.rfc-editor.org/rfc/rfc8252#section-7.3
 */
export interface LoginServerOptions {
  /** Called with the new token before the success page is shown (store it here). */
  onToken?: ((record: TokenRecord) => Promise<void>) | undefined;
  /** The stored login, for the status page (default: the login made in this run, if any). */
  status?: (() => Promise<TokenRecord | undefined>) | undefined;
  /** Refreshes the stored login now, for the status page's Refresh button (none without it). */
  refresh?: (() => Promise<TokenRecord>) | undefined;
  /**
   * Who the person logs in to, as the log lines and pages name it (default: the provider's
   * name), e.g. `the sandbox (schwab flavor)`, so a sandbox is never taken for a real account.
   */
  providerLabel?: string | undefined;
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

/** How long closing waits for connections to end by themselves before cutting them. */
const CLOSE_GRACE_MS = 500;

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}

/** The certificate to serve with: the one given, else td-token's own (made on first use). */
async function serverCertificate(
  hostname: string,
  options: LoginServerOptions,
  log: (line: string) => void,
): Promise<{ tls: { cert: string; key: string }; certPath?: string | undefined }> {
  if (options.cert !== undefined) return { tls: options.cert };
  const made = await ensureCertificate(options.certDir ?? defaultCertDir(process.env));
  if (made.created) log(`made a self-signed certificate for the login server: ${made.certPath}`);
  const named: readonly string[] = [
    ...CERT_HOSTS.dns,
    ...CERT_HOSTS.ips.map((ip) => (ip.includes(':') ? `[${ip}]` : ip)),
  ];
  if (!named.includes(hostname)) {
    log(
      `td-token's certificate names ${named.join(', ')}, not ${hostname}, so browsers warn about it even when it is trusted. give a certificate for ${hostname} with --cert and --key to avoid that`,
    );
  }
  return { tls: { cert: made.cert, key: made.key }, certPath: made.certPath };
}

/** The error for a listen that failed on `host`, naming the fix. */
function bindError(error: unknown, host: string, port: number): ConfigError {
  const code = isErrnoException(error) ? error.code : undefined;
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  if (code === 'EADDRINUSE') {
    return new ConfigError(
      `the login server cannot listen on ${where}: the port is in use (by an earlier td-token login still running?). stop the program using it, or register another redirect URI with your app and pass it with --redirect-uri`,
      { cause: error },
    );
  }
  if (code === 'EADDRNOTAVAIL' && host !== '::1') {
    return new ConfigError(
      `the login server cannot listen on ${where}: this computer has no such loopback address (macOS, for one, has only 127.0.0.1 unless an alias is added). register a redirect URI on 127.0.0.1 or localhost with your app and pass it with --redirect-uri`,
      { cause: error },
    );
  }
  if (code === 'EACCES') {
    return new ConfigError(
      `the login server may not listen on ${where}: ports below 1024 need administrator rights. register a redirect URI with a port above 1023 (e.g. https://127.0.0.1:8182) and pass it with --redirect-uri`,
      { cause: error },
    );
  }
  return new ConfigError(
    `the login server cannot listen on ${where} (${code ?? describeError(error)}). register another redirect URI with your app and pass it with --redirect-uri, or use 'td-token login --manual'`,
    { cause: error },
  );
}

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
 *   status: () => manager.peek(),
 *   refresh: () => manager.refresh({ force: true }),
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
  const label = options.providerLabel ?? provider.name;
  if (typeof label !== 'string' || label === '') {
    throw new TypeError('"options.providerLabel" must be a non-empty string');
  }
  const log = options.log ?? (() => {});
  const { signal } = options;
  signal?.throwIfAborted();

  const target = redirectTarget(provider.redirectUri);
  const site = loginSite(target);
  const { origin } = site;
  const authorizeOrigin = URL.canParse(provider.authorizeUrl)
    ? new URL(provider.authorizeUrl).origin
    : '';
  const { sendPage, send } = senders(
    securityHeaders({
      styleSrc: STYLE_HASH,
      formAction: authorizeOrigin === 'null' ? '' : authorizeOrigin,
    }),
  );
  const hostPort = target.port;

  let tls: { cert: string; key: string } | undefined;
  let certPath: string | undefined;
  if (target.secure) {
    ({ tls, certPath } = await serverCertificate(target.url.hostname, options, log));
  }

  const secret = randomBytes(32).toString('base64url');
  let stopping = false;
  const sockets = new Set<Socket>();
  const servers: Server[] = [];

  let settle: (outcome: LoginOutcome) => void = () => {};
  const result = new Promise<TokenRecord>((resolve, reject) => {
    settle = (outcome) => {
      if ('record' in outcome) resolve(outcome.record);
      else reject(outcome.error);
    };
  });

  let timer: NodeJS.Timeout | undefined;
  /** Aborted when the server stops, so that an exchange in flight ends with it. */
  const running = new AbortController();
  const flow = createLoginFlow(provider, {
    onToken: options.onToken,
    fetch: options.fetch,
    signal: running.signal,
    pendingMs: timeoutMs,
  });

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
  const stop = (outcome: LoginOutcome): void => {
    if (stopping) return;
    stopping = true;
    running.abort();
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    for (const line of routes.refusals()) log(line);
    void closeEverything().then(() => settle(outcome));
  };

  function onAbort(): void {
    stop(flow.outcome(signal?.reason));
  }

  const routes = createLoginRoutes({
    provider,
    label,
    site,
    secret,
    flow,
    status: options.status,
    refresh: options.refresh,
    keepRunning: options.keepRunning === true,
    log,
    isStopping: () => stopping,
    stop,
    keptRunning: () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  });

  const requestListener = (req: IncomingMessage, res: ServerResponse): void => {
    routes
      .answer({
        method: req.method,
        url: req.url,
        headers: req.headers,
        readForm: () => readForm(req),
      })
      .then((answer) => send(res, answer))
      .catch((error: unknown) => {
        log(`the login server failed to answer a request: ${describeError(error)}`);
        if (!res.headersSent) sendPage(res, internalErrorPage());
        else res.destroy();
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
        throw bindError(error, host, hostPort);
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
    // Said once, by whoever reports the rejection (the CLI prints it as its last line).
    const span = describeDuration(timeoutMs);
    stop({
      error: new TdTokenError(
        'login_timeout',
        `no login finished within ${span}. run 'td-token login' again and finish the login in the browser in time (--timeout gives more time)`,
      ),
    });
  }, timeoutMs);
  signal?.addEventListener('abort', onAbort, { once: true });

  options.onListening?.({
    origin,
    loginUrl,
    statusUrl,
    callbackPath: site.callbackPath,
    addresses,
    certPath,
  });
  if (options.openBrowser !== false) {
    openInBrowser(loginUrl, {
      onFailure: (line) => {
        if (!stopping) log(line);
      },
    });
  }

  return result;
}
