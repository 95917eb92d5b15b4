/**
 * The phone re-login page: an HTTPS server on an explicit HOST:PORT (the one td-token surface
 * allowed off loopback, and only when asked for), with the user's certificate or td-token's own,
 * serving the two-step page of `routes.ts` to whoever holds a one-time link. Each link is a fresh
 * pending login of the flow (`src/login/flow.ts`), whose completion stores the login through the
 * caller's `onToken`.
 *
 * @module
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { ConfigError } from '../errors.js';
import { ensureCertificate } from '../login/cert.js';
import { type Completion, createLoginFlow } from '../login/flow.js';
import { hostAllowList, originAllowList, securityHeaders } from '../login/guard.js';
import { describeError } from '../login/messages.js';
import { readForm, senders } from '../login/wire.js';
import { certDir as defaultCertDir } from '../paths.js';
import type { Provider } from '../providers/types.js';
import type { TokenRecord } from '../token.js';
import { createLinkBook, DEFAULT_LINK_LIFE_MS } from './links.js';
import { RELOGIN_STYLE_HASH } from './pages.js';
import { createRateLimiter, type RateLimits } from './rate-limit.js';
import { createReloginRoutes, NOT_FOUND, type ReloginCounts } from './routes.js';

/** Where the page listens. */
export interface ReloginListen {
  /** An address or name of this computer the phone can reach (not a wildcard address). */
  host: string;
  /** The port (0 picks a free one). */
  port: number;
}

/** Options of {@link startReloginPage}. */
export interface ReloginPageOptions {
  provider: Provider;
  /** `HOST:PORT` (`[::1]:8443` for IPv6), or the parts. */
  listen: string | ReloginListen;
  /** Stores a new login (e.g. `(record) => manager.saveLogin(record)`); the page waits for it. */
  onToken?: ((record: TokenRecord) => Promise<void>) | undefined;
  /**
   * Instead of `onToken`: the logins in flight, as `src/login/flow.ts` makes them (`start()` for
   * each link, `complete(callback)` for each paste).
   */
  flow?: { start(): URL; complete(callback: URL): Promise<Completion> } | undefined;
  /** The provider is td-token's sandbox: the page then says "the sandbox". */
  sandbox?: boolean | undefined;
  /** Who the person logs in to, as the page names it (default from the provider). */
  providerLabel?: string | undefined;
  /** The user's certificate and key (PEM) for the name or address the phone uses. */
  cert?: { cert: string; key: string } | undefined;
  /** Where td-token's own certificate is kept (default: `certs` in the config folder). */
  certDir?: string | undefined;
  /** How long a link and its pending login live, in ms (default 10 minutes). */
  linkLifeMs?: number | undefined;
  rateLimit?: RateLimits | undefined;
  /** Lines for people (never a secret, a link or a token). */
  log?: ((line: string) => void) | undefined;
  fetch?: typeof fetch | undefined;
  /** The clock of links, pending logins and the rate limit (default `Date.now`). */
  now?: (() => number) | undefined;
}

/** A running re-login page. */
export interface ReloginPage {
  /** The page's base URL, `https://HOST:PORT` (it answers nothing without a link). */
  url: string;
  /** The SHA-256 fingerprint of the certificate served, to print beside every link. */
  fingerprint: string;
  /** The certificate's file, when td-token's own is served. */
  certPath: string | undefined;
  /** A fresh one-time link, for a new pending login (10 minutes, one login). */
  newLink(): Promise<string>;
  /** What the page refused and completed so far. */
  counts(): ReloginCounts;
  /** Stop listening and cut every connection; a login being completed is abandoned. */
  close(): Promise<void>;
}

/** How long closing waits for connections to end by themselves before cutting them. */
const CLOSE_GRACE_MS = 500;

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]', '*']);

/** Read `HOST:PORT` (`[v6]:PORT`). */
export function parseReloginListen(text: string): ReloginListen {
  if (typeof text !== 'string') throw new TypeError('"listen" must be HOST:PORT');
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65_535) {
    throw new ConfigError(
      `the re-login page's address "${text}" is not HOST:PORT. give the address the phone reaches this computer on, e.g. --relogin-listen 192.168.1.20:8443`,
    );
  }
  return { host: match[1] ?? match[2] ?? '', port };
}

function checkListen(listen: string | ReloginListen): ReloginListen {
  const where = typeof listen === 'string' ? parseReloginListen(listen) : listen;
  if (
    typeof where !== 'object' ||
    where === null ||
    typeof where.host !== 'string' ||
    !Number.isInteger(where.port) ||
    where.port < 0 ||
    where.port > 65_535
  ) {
    throw new TypeError('"options.listen" must be HOST:PORT or { host, port }');
  }
  if (WILDCARDS.has(where.host.trim())) {
    throw new ConfigError(
      `the re-login page will not listen on every address ("${where.host}"): its links and its Host check name one address. give the address the phone reaches this computer on, e.g. --relogin-listen 192.168.1.20:8443`,
    );
  }
  return { host: where.host.replace(/^\[|\]$/g, ''), port: where.port };
}

/** Who the person logs in to, as the page names it. */
function labelOf(provider: Provider, options: ReloginPageOptions): string {
  if (options.providerLabel !== undefined) {
    if (typeof options.providerLabel !== 'string' || options.providerLabel === '') {
      throw new TypeError('"options.providerLabel" must be a non-empty string');
    }
    return options.providerLabel;
  }
  if (options.sandbox === true) return 'the sandbox';
  if (provider.name === 'schwab') return 'Schwab';
  if (provider.name === 'tdameritrade') return 'TD Ameritrade';
  return URL.canParse(provider.authorizeUrl) ? new URL(provider.authorizeUrl).host : 'the provider';
}

function listenError(error: unknown, where: string): ConfigError {
  const code = error instanceof Error && 'code' in error ? String(error.code) : undefined;
  const fix =
    code === 'EADDRINUSE'
      ? 'the port is in use. stop the program using it, or give another port with --relogin-listen'
      : code === 'EADDRNOTAVAIL'
        ? 'this computer has no such address. give one of its own addresses (ip addr) with --relogin-listen'
        : code === 'EACCES'
          ? 'ports below 1024 need administrator rights. give a port above 1023 with --relogin-listen'
          : `${code ?? describeError(error)}. give another address with --relogin-listen`;
  return new ConfigError(`the re-login page cannot listen on ${where}: ${fix}`, { cause: error });
}

/**
 * Start the re-login page. Resolves once it listens.
 *
 * @throws ConfigError when it cannot listen, the address is a wildcard, or the certificate
 *   cannot be used; TypeError for bad options.
 * @example
 * const page = await startReloginPage({
 *   provider, listen: '192.168.1.20:8443', onToken: (record) => manager.saveLogin(record),
 * });
 * const link = await page.newLink(); // send it in the re-login notice, with page.fingerprint
 */
export async function startReloginPage(options: ReloginPageOptions): Promise<ReloginPage> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('"options" must be an object');
  }
  const { provider } = options;
  if (
    typeof provider !== 'object' ||
    provider === null ||
    typeof provider.redirectUri !== 'string'
  ) {
    throw new TypeError('"options.provider" must be a Provider');
  }
  if (options.flow === undefined && typeof options.onToken !== 'function') {
    throw new TypeError('"options.onToken" must be a function that stores the new login');
  }
  const listen = checkListen(options.listen);
  const label = labelOf(provider, options);
  const log = options.log ?? (() => {});
  const now = options.now ?? Date.now;
  const linkLifeMs = options.linkLifeMs ?? DEFAULT_LINK_LIFE_MS;

  let tls: { cert: string; key: string };
  let certPath: string | undefined;
  if (options.cert !== undefined) {
    tls = options.cert;
  } else {
    const made = await ensureCertificate(options.certDir ?? defaultCertDir(process.env));
    tls = { cert: made.cert, key: made.key };
    certPath = made.certPath;
  }
  let fingerprint: string;
  try {
    fingerprint = new X509Certificate(tls.cert).fingerprint256;
  } catch (cause) {
    throw new ConfigError(
      `the re-login page's certificate does not parse (${describeError(cause)}). give a PEM certificate and key with --cert and --key, or leave both out to use td-token's own`,
      { cause },
    );
  }

  const running = new AbortController();
  const flow =
    options.flow ??
    createLoginFlow(provider, {
      onToken: options.onToken,
      fetch: options.fetch,
      signal: running.signal,
      pendingMs: linkLifeMs,
      now,
    });
  const links = createLinkBook({ lifeMs: linkLifeMs, now });
  const limiter = createRateLimiter(options.rateLimit, now);
  const { sendPage } = senders(securityHeaders({ styleSrc: RELOGIN_STYLE_HASH }));

  let server: Server;
  try {
    server = createServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' });
  } catch (cause) {
    throw new ConfigError(
      `the re-login page's certificate or key could not be used (${describeError(cause)}). give a matching PEM certificate and key with --cert and --key`,
      { cause },
    );
  }
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // TLS handshakes that fail (a scanner, a phone refusing the certificate) are not errors here.
  server.on('tlsClientError', () => {});

  const hostInUrl = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const where = `${hostInUrl}:${listen.port}`;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(listenError(error, where)));
    server.listen({ host: listen.host, port: listen.port, exclusive: true }, () => resolve());
  });
  server.on('error', (error) => log(`re-login page: ${describeError(error)}`));
  const port = (server.address() as AddressInfo).port;
  const names = [hostInUrl.toLowerCase()];
  const origin = port === 443 ? `https://${hostInUrl}` : `https://${hostInUrl}:${port}`;

  const freshLink = (): string => {
    const link = links.issue(flow.start());
    return `${origin}/?secret=${link.secret}`;
  };
  const routes = createReloginRoutes({
    links,
    limiter,
    complete: (callback) => flow.complete(callback),
    freshLink,
    label,
    redirectUri: provider.redirectUri,
    origin,
    allowedHosts: hostAllowList(names, port, 443),
    allowedOrigins: originAllowList('https:', names, port, 443),
    log,
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    routes
      .answer({
        method: req.method,
        url: req.url,
        headers: req.headers,
        remoteAddress: req.socket.remoteAddress ?? '',
        readForm: () => readForm(req),
      })
      .then(({ page, headers }) => sendPage(res, page, headers))
      .catch((error: unknown) => {
        log(`re-login page: failed to answer a request: ${describeError(error)}`);
        if (!res.headersSent) sendPage(res, { ...NOT_FOUND, status: 500, html: 'Error\n' });
        else res.destroy();
      });
  });

  log(
    `re-login page listening on ${origin}/ (TLS; certificate SHA-256 fingerprint ${fingerprint}); it answers only its one-time links`,
  );
  if (certPath !== undefined) {
    log(
      `the re-login page serves td-token's own self-signed certificate (${certPath}): the phone warns about it; check that the fingerprint it shows is ${fingerprint}, or give your own certificate for ${listen.host} with --cert and --key`,
    );
  }

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      running.abort();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const cut = setTimeout(() => {
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }, CLOSE_GRACE_MS);
      await done;
      clearTimeout(cut);
    })();
    return closed;
  };

  return {
    url: origin,
    fingerprint,
    certPath,
    newLink: async () => {
      if (closed !== undefined) {
        throw new ConfigError(
          'the re-login page is closed, so it makes no links. start it again (td-token serve --relogin-listen)',
        );
      }
      return freshLink();
    },
    counts: () => routes.counts(),
    close,
  };
}
