/**
 * Starts a sandbox: the HTTP(S) server on a loopback address and its routes.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIPv4, isIPv6, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { generate } from 'selfsigned';
import { handleApi } from './api.js';
import { AppRegistry } from './apps.js';
import { handleAuthorize, handleConsent, handleLogin } from './authorize.js';
import { createSandboxClock } from './clock.js';
import { SANDBOX_PATHS, type SandboxContext } from './context.js';
import { resolveSettings, SANDBOX_DEFAULT_APPS } from './defaults.js';
import { createFaultQueue } from './faults.js';
import { methodNotAllowed, sendHtml, sendJson, sendText } from './http.js';
import { indexPage } from './pages.js';
import { RateLimiter } from './rate-limit.js';
import { emptyCounters, SandboxState } from './state.js';
import { StateFile } from './state-file.js';
import { handleToken } from './token-endpoint.js';
import type { Sandbox, SandboxApp, SandboxCounters, SandboxOptions } from './types.js';

/** Whether `host` is a loopback address or name: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  if (isIPv4(bare)) return bare.startsWith('127.');
  if (isIPv6(bare)) return /^(0{0,4}:){2,7}0{0,3}1$|^::1$/i.test(bare);
  return false;
}

/** Makes a self-signed certificate for localhost, 127.0.0.1 and ::1. */
async function selfSignedCertificate(host: string): Promise<{ cert: string; key: string }> {
  const altNames: { type: 2 | 7; value?: string; ip?: string }[] = [
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
    { type: 7, ip: '::1' },
  ];
  if (isIPv4(host) && host !== '127.0.0.1') altNames.push({ type: 7, ip: host });
  const notBeforeDate = new Date(Date.now() - 60 * 60_000);
  const notAfterDate = new Date(Date.now() + 30 * 24 * 60 * 60_000);
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

function checkOptions(options: SandboxOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('"options" must be an object');
  }
  if (options.flavor !== 'tdameritrade' && options.flavor !== 'schwab') {
    throw new TypeError('"options.flavor" must be "tdameritrade" or "schwab"');
  }
  if (
    options.host !== undefined &&
    (typeof options.host !== 'string' || !isLoopbackHost(options.host))
  ) {
    throw new TypeError(
      '"options.host" must be a loopback address (127.0.0.0/8, ::1 or localhost)',
    );
  }
  if (
    options.port !== undefined &&
    (typeof options.port !== 'number' ||
      !Number.isInteger(options.port) ||
      options.port < 0 ||
      options.port > 65535)
  ) {
    throw new TypeError('"options.port" must be an integer from 0 to 65535');
  }
  const tls = options.https;
  if (
    tls !== undefined &&
    typeof tls !== 'boolean' &&
    (typeof tls !== 'object' ||
      tls === null ||
      typeof tls.cert !== 'string' ||
      typeof tls.key !== 'string')
  ) {
    throw new TypeError('"options.https" must be a boolean or { cert: string; key: string }');
  }
  if (options.apps !== undefined && !Array.isArray(options.apps)) {
    throw new TypeError('"options.apps" must be an array');
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new TypeError('"options.now" must be a function');
  }
  if (
    options.stateFile !== undefined &&
    (typeof options.stateFile !== 'string' || options.stateFile === '')
  ) {
    throw new TypeError('"options.stateFile" must be a non-empty string');
  }
}

/**
 * Starts a local emulator of the TD Ameritrade or Schwab OAuth server and API.
 *
 * @example
 * ```ts
 * const sandbox = await startSandbox({ flavor: 'schwab' });
 * // authorize at sandbox.authorizeUrl, exchange codes at sandbox.tokenUrl ...
 * sandbox.clock.advance(31 * 60_000); // the access token has now expired
 * await sandbox.close();
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1
 */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  checkOptions(options);
  const flavor = options.flavor;
  const host = options.host ?? '127.0.0.1';
  const settings = resolveSettings(flavor, options.settings);
  const apps = new AppRegistry(flavor);
  for (const app of options.apps ?? [SANDBOX_DEFAULT_APPS[flavor]]) apps.register(app);
  const clock = createSandboxClock(options.now ?? Date.now);
  const faults = createFaultQueue();
  const state = new SandboxState();
  const stateFile =
    options.stateFile === undefined ? undefined : new StateFile(options.stateFile, flavor);
  stateFile?.pull(state);
  const paths = SANDBOX_PATHS[flavor];

  let tls: { cert: string; key: string } | undefined;
  if (options.https === true) tls = await selfSignedCertificate(host);
  else if (typeof options.https === 'object')
    tls = { cert: options.https.cert, key: options.https.key };

  const sockets = new Set<Socket>();
  const waits = new Set<{ timer: NodeJS.Timeout; resolve: (open: boolean) => void }>();
  let closed = false;
  let origin = '';

  const ctx: SandboxContext = {
    flavor,
    settings,
    paths,
    apps,
    state,
    stateFile,
    clock,
    faults,
    rateLimiter: new RateLimiter(),
    origin: () => origin,
    idTokenKey: randomBytes(32),
    wait(ms: number): Promise<boolean> {
      if (closed) return Promise.resolve(false);
      return new Promise((resolve) => {
        const entry = {
          timer: setTimeout(() => {
            waits.delete(entry);
            resolve(!closed);
          }, ms),
          resolve,
        };
        waits.add(entry);
      });
    },
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    // The provider's clock, as a client reading the Date header sees it.
    res.setHeader('Date', new Date(clock.now() + settings.clockSkewMs).toUTCString());
    route(ctx, req, res).catch((error: unknown) => {
      void error;
      if (!res.headersSent) sendText(res, 500, 'sandbox error\n');
      else res.destroy();
    });
  };
  const server = tls === undefined ? createServer(handler) : createHttpsServer(tls, handler);
  server.on('connection', (socket: Socket) => {
    if (closed) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error: Error, socket: Duplex) => {
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 0);
  const hostForUrl = isIPv6(host) ? `[${host}]` : host;
  origin = `${tls === undefined ? 'http' : 'https'}://${hostForUrl}:${port}`;

  let closing: Promise<void> | undefined;
  const sandbox: Sandbox = {
    flavor,
    url: origin,
    authorizeUrl: origin + paths.authorize,
    tokenUrl: origin + paths.token,
    apiUrl: origin,
    certificate: tls?.cert,
    settings: Object.freeze({ ...settings }),
    registerApp(app: SandboxApp): void {
      apps.register(app);
    },
    clock,
    faults: {
      inject: (fault, count) => faults.inject(fault, count),
      clear: () => faults.clear(),
      pending: () => faults.pending(),
    },
    counters(): SandboxCounters {
      return structuredClone(state.counters);
    },
    resetCounters(): void {
      state.counters = emptyCounters();
    },
    revokeRefreshToken(refreshToken: string): void {
      if (typeof refreshToken !== 'string') throw new TypeError('"refreshToken" must be a string');
      stateFile?.pull(state);
      const entry = state.refreshTokens.get(refreshToken);
      if (entry === undefined) return;
      entry.status = 'revoked';
      stateFile?.push(state, clock.now());
    },
    close(): Promise<void> {
      if (closing !== undefined) return closing;
      closed = true;
      for (const entry of waits) {
        clearTimeout(entry.timer);
        entry.resolve(false);
      }
      waits.clear();
      closing = new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        sockets.clear();
      });
      return closing;
    },
  };
  return sandbox;
}

async function route(
  ctx: SandboxContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://sandbox.invalid');
  } catch {
    sendJson(res, 400, { error: 'invalid_request' });
    return;
  }
  const paths = ctx.paths;
  switch (url.pathname) {
    case paths.authorize:
      if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
      return handleAuthorize(ctx, url, req, res);
    case paths.login:
      if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
      return handleLogin(ctx, req, res);
    case paths.consent:
      if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
      return handleConsent(ctx, req, res);
    case paths.token:
      return handleToken(ctx, req, res);
    case paths.accounts:
      return handleApi(ctx, 'accounts', url, req, res);
    case paths.quotes:
      return handleApi(ctx, 'quotes', url, req, res);
    case '/':
      if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
      return sendHtml(
        res,
        200,
        indexPage(
          ctx.flavor,
          {
            authorizeUrl: ctx.origin() + paths.authorize,
            tokenUrl: ctx.origin() + paths.token,
            apiPaths: [paths.accounts, `${paths.quotes}?${paths.quotesParam}=AAPL,MSFT`],
          },
          ctx.apps.list(),
        ),
      );
    default:
      return sendJson(res, 404, { error: 'not_found' });
  }
}
