/**
 * The agent's listeners: HTTP/1.1 with keep-alive on a Unix socket (always) and on a loopback
 * TCP address (optional, guarded by the bearer secret and the Host check), each bounded (header
 * and idle timeouts, header size, connection count), and a stop that lets in-flight answers
 * finish and removes the socket file.
 *
 * @module
 */
import { createServer, type Server } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { ConfigError } from '../errors.js';
import { hostAllowList } from '../login/guard.js';
import { isLoopbackHost } from '../util/url.js';
import { handleRequest, type RouteContext, type SurfaceGuard } from './routes.js';
import { listenOnSocket, prepareSocketPath, removeSocket } from './socket.js';

/** The bounds every listener applies. */
export const AGENT_LIMITS = {
  /** The whole header block must arrive within this, ms (a slow client is dropped). */
  headersTimeoutMs: 5_000,
  /** A whole request must arrive within this, ms. */
  requestTimeoutMs: 10_000,
  /** An idle keep-alive connection is closed after this, ms. */
  keepAliveTimeoutMs: 5_000,
  /** Largest header block, bytes (larger: 431). */
  maxHeaderSize: 8_192,
  /** Open connections per listener; more are refused at accept. */
  maxConnections: 1_024,
  /** How long a stop waits for in-flight answers before closing their connections, ms. */
  stopGraceMs: 5_000,
} as const;

/** Options of {@link startAgent}. */
export interface AgentOptions extends RouteContext {
  socketPath: string;
  /** True when `socketPath` is the default one (its folder is made 0700 even if it exists). */
  ownSocketFolder: boolean;
  /** `host:port` on loopback, with the bearer secret. */
  listen?: { host: string; port: number; secret: string };
}

/** A running agent. */
export interface RunningAgent {
  socketPath: string;
  /** `host:port` of the loopback listener, when there is one. */
  address: string | undefined;
  /** Stop accepting, let in-flight answers finish, remove the socket. */
  close(): Promise<void>;
}

function bounded(guard: () => SurfaceGuard, ctx: RouteContext): Server {
  const server = createServer(
    {
      maxHeaderSize: AGENT_LIMITS.maxHeaderSize,
      headersTimeout: AGENT_LIMITS.headersTimeoutMs,
      requestTimeout: AGENT_LIMITS.requestTimeoutMs,
      keepAliveTimeout: AGENT_LIMITS.keepAliveTimeoutMs,
      connectionsCheckingInterval: 1_000,
      noDelay: true,
    },
    (req, res) => {
      void handleRequest(req, res, guard(), ctx);
    },
  );
  server.maxConnections = AGENT_LIMITS.maxConnections;
  // Node's own header timeout misses a client that sends a byte every second or so: each
  // connection gets its own deadline for a whole header block, from the connection or the end of
  // the previous answer to the request.
  const deadlines = new WeakMap<Socket, NodeJS.Timeout>();
  const arm = (socket: Socket): void => {
    clearTimeout(deadlines.get(socket));
    const timer = setTimeout(() => socket.destroy(), AGENT_LIMITS.headersTimeoutMs);
    timer.unref();
    deadlines.set(socket, timer);
  };
  server.on('connection', (socket: Socket) => {
    arm(socket);
    socket.once('close', () => clearTimeout(deadlines.get(socket)));
  });
  server.on('request', (req, res) => {
    const socket = req.socket;
    clearTimeout(deadlines.get(socket));
    res.once('finish', () => {
      if (!socket.destroyed) arm(socket);
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : 400;
    const body = `${JSON.stringify({ error: 'bad_request', message: 'an unreadable or incomplete request', fix: 'send an HTTP/1.1 GET request' })}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
  return server;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), AGENT_LIMITS.stopGraceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** Start the agent's listeners. */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const ctx: RouteContext = { profiles: options.profiles, now: options.now };
  let tcp: Server | undefined;
  let address: string | undefined;
  if (options.listen !== undefined) {
    const { host, port, secret } = options.listen;
    if (isIP(host) === 0 || !isLoopbackHost(host)) {
      throw new ConfigError(
        `--listen ${host}:${port} is not a loopback address. Use 127.0.0.1:PORT (or [::1]:PORT); the Unix socket is the way for local bots.`,
      );
    }
    let guard: SurfaceGuard = { kind: 'http', secret, allowedHosts: new Set() };
    tcp = bounded(() => guard, ctx);
    await new Promise<void>((resolve, reject) => {
      tcp?.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new ConfigError(
            `could not listen on ${host}:${port} (${err.code ?? err.message}). Choose another port, or 0 for any free one.`,
          ),
        ),
      );
      tcp?.listen({ host, port }, () => resolve());
    });
    const bound = tcp.address();
    const boundPort = typeof bound === 'object' && bound !== null ? bound.port : port;
    const name = host.includes(':') ? `[${host}]` : host;
    guard = { kind: 'http', secret, allowedHosts: hostAllowList([name], boundPort, 80) };
    address = `${name}:${boundPort}`;
  }
  const unix = bounded(() => ({ kind: 'socket' }), ctx);
  let ino: number;
  try {
    await prepareSocketPath(options.socketPath, options.ownSocketFolder);
    ino = await listenOnSocket(unix, options.socketPath);
  } catch (err) {
    if (tcp !== undefined) await closeServer(tcp);
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    socketPath: options.socketPath,
    address,
    close() {
      closing ??= (async () => {
        await Promise.all([closeServer(unix), tcp === undefined ? undefined : closeServer(tcp)]);
        await removeSocket(options.socketPath, ino);
      })();
      return closing;
    },
  };
}
