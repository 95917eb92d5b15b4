/**
 * A real `redis-server` for tests, on a free loopback port, with persistence off.
 *
 * @example
 * const redis = await startRedis();
 * // ... use redis.url ...
 * await redis.stop();
 */
import { createConnection, createServer } from 'node:net';
import { spawnProcess } from './processes.js';

/** A running redis-server. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` (with `:<password>@` when one was set) */
  url: string;
  port: number;
  /** The server's pid. */
  pid: number;
  /** Stop the server (SIGTERM, then SIGKILL) and wait for it to exit. */
  stop(): Promise<void>;
}

/** A port that was free a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** Send PING once; resolves true on `+PONG` (or, with a password set, `-NOAUTH`: it is up). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG') || answer.startsWith('-NOAUTH'));
    });
  });
}

/**
 * Start `redis-server --port <free> --bind 127.0.0.1 --save '' --appendonly no` and wait until
 * it answers PING (at most `readyTimeoutMs`, default 10 s). Tries another port if one was taken
 * in the meantime.
 */
export async function startRedis(
  options: { readyTimeoutMs?: number; password?: string } = {},
): Promise<RedisServer> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const auth = options.password === undefined ? [] : ['--requirepass', options.password];
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const server = spawnProcess(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...auth],
      { timeoutMs: 60 * 60_000, untracked: true },
    );
    const deadline = Date.now() + readyTimeoutMs;
    let exitedEarly = false;
    void server.exited.then(() => {
      exitedEarly = true;
    });
    while (!exitedEarly && Date.now() < deadline) {
      if (await ping(port)) {
        const userinfo =
          options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
        return {
          url: `redis://${userinfo}127.0.0.1:${port}`,
          port,
          pid: server.pid,
          async stop() {
            server.kill('SIGTERM');
            const timer = setTimeout(() => server.kill('SIGKILL'), 3000);
            await server.exited;
            clearTimeout(timer);
          },
        };
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await server.stop();
    lastError = `${server.stdout()}${server.stderr()}`.trim().slice(-500);
  }
  throw new Error(
    `redis-server did not start: ${lastError || 'no output'}. install it (apt-get install redis-server)`,
  );
}
