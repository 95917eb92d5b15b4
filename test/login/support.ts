/**
 * Shared pieces of the login and end-to-end tests: free ports, a small HTTPS client that can
 * send any Host header, and a wrapper that runs the login server and records what it did.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { type Agent, request } from 'node:https';
import { connect, createServer } from 'node:net';
import {
  type LoginServerInfo,
  type LoginServerOptions,
  runLoginServer,
} from '../../src/login/server.js';
import type { Provider } from '../../src/providers/types.js';
import type { TokenRecord } from '../../src/token.js';

/** A TCP port free on 127.0.0.1 (and on ::1 when `both`) at the time of asking. */
export async function freePort(both = false): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (!both) return port;
    const free6 = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', (error: NodeJS.ErrnoException) =>
        resolve(error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT'),
      );
      server.listen(port, '::1', () => server.close(() => resolve(true)));
    });
    if (free6) return port;
  }
  throw new Error('no free port found in 20 tries');
}

/** Resolves true when something accepts TCP connections on host:port, false on refusal. */
export function isListening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (value: boolean) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface HttpsAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpsRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** The CA to trust (the login server's certificate); without it certificates are not checked. */
  ca?: string;
  agent?: Agent;
}

/** One HTTPS request; the `Host` header can be anything (DNS rebinding tests). */
export function httpsRequest(
  url: string | URL,
  options: HttpsRequestOptions = {},
): Promise<HttpsAnswer> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined)
      headers['content-length'] = String(Buffer.byteLength(options.body));
    const req = request(
      {
        protocol: target.protocol,
        hostname: target.hostname.replace(/^\[|\]$/g, ''),
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: options.method ?? 'GET',
        headers,
        servername: 'localhost',
        ...(options.ca === undefined ? { rejectUnauthorized: false } : { ca: options.ca }),
        ...(options.agent === undefined ? { agent: false } : { agent: options.agent }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The per-run secret: of a page's forms, or of an address (`?secret=`) such as the login URL. */
export function secretOf(pageOrUrl: string): string {
  if (/^https?:\/\//.test(pageOrUrl)) {
    const secret = new URL(pageOrUrl).searchParams.get('secret');
    if (!secret) throw new Error(`${pageOrUrl} has no secret`);
    return secret;
  }
  const match = /name="secret" value="([^"]+)"/.exec(pageOrUrl);
  if (!match?.[1]) throw new Error('the page has no secret field');
  return match[1];
}

/** A login server run by a test, with everything it logged and stored. */
export interface RunningLogin {
  info: LoginServerInfo;
  /** Settles like runLoginServer; never rejects unhandled. */
  outcome: Promise<{ record?: TokenRecord; error?: unknown }>;
  logs: string[];
  stored: TokenRecord[];
}

/** Start runLoginServer and wait until it listens (or fails to start). */
export async function startLogin(
  provider: Provider,
  options: LoginServerOptions = {},
): Promise<RunningLogin> {
  const logs: string[] = [];
  const stored: TokenRecord[] = [];
  let listening: (info: LoginServerInfo) => void = () => {};
  const ready = new Promise<LoginServerInfo>((resolve) => {
    listening = resolve;
  });
  const run = runLoginServer(provider, {
    openBrowser: false,
    log: (line) => logs.push(line),
    onToken: async (record) => {
      stored.push(record);
    },
    ...options,
    onListening: (info) => {
      options.onListening?.(info);
      listening(info);
    },
  });
  const outcome: RunningLogin['outcome'] = run.then(
    (record) => ({ record }),
    (error: unknown) => ({ error }),
  );
  const first = await Promise.race([ready, outcome]);
  if (!('origin' in first)) {
    throw first.error instanceof Error ? first.error : new Error(String(first.error));
  }
  return { info: first, outcome, logs, stored };
}
