/**
 * Hostile input on both of a real agent's surfaces: missing and wrong secrets, foreign Hosts,
 * unknown paths and methods, garbage request lines, oversized headers, slow clients, and 10 000
 * property-based requests. The agent must not crash, and no answer but a valid `GET /v1/token`
 * may carry the token (the suite's secret scan reads the agent's output too).
 */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { assertBuilt } from '../cli/harness.js';
import {
  type AgentSetup,
  ask,
  type RunningAgentChild,
  setupHome,
  startAgentChild,
  stopAgent,
} from './harness.js';

const SEED =
  process.env['TD_TOKEN_FC_SEED'] !== undefined
    ? Number(process.env['TD_TOKEN_FC_SEED'])
    : process.env['TD_TOKEN_SOAK']
      ? Math.floor(Math.random() * 2 ** 31)
      : 20_261_204;

let sandbox: Sandbox;
let setup: AgentSetup;
let agent: RunningAgentChild;
let secret: string;
let tcp: { host: string; port: number };

beforeAll(async () => {
  assertBuilt();
  sandbox = await startSandbox({ flavor: 'schwab' });
  setup = await setupHome(sandbox);
  const secretFile = join(setup.home.root, 'run', 'agent.secret');
  agent = await startAgentChild(setup, ['--listen', '127.0.0.1:0', '--secret-file', secretFile]);
  secret = (await readFile(secretFile, 'utf8')).trim();
  const [host, port] = (agent.address as string).split(':') as [string, string];
  tcp = { host, port: Number(port) };
});

afterAll(async () => {
  if (agent) expect(await stopAgent(agent)).toBe(0);
  expect(agent.stdout()).not.toContain(setup.record.access_token);
  expect(agent.stdout()).not.toContain(secret);
  await setup?.home.cleanup();
  await sandbox?.close();
});

/** Write `bytes` on a fresh connection and collect what comes back until the agent closes it. */
function raw(
  where: { path: string } | { host: string; port: number },
  bytes: string | Buffer,
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(where as { path: string });
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the agent kept a garbage connection open'));
    }, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      got += d;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.write(bytes);
  });
}

async function alive(): Promise<void> {
  const health = await ask({ socketPath: agent.socketPath }, '/healthz');
  expect(health.status).toBe(200);
}

describe('the agent under hostile input', () => {
  it('garbage request lines and oversized headers get 4xx and a closed connection', async () => {
    const garbage = [
      'GARBAGE\r\n\r\n',
      'GET\r\n\r\n',
      'GET /v1/token HTTP/9.9\r\n\r\n',
      '\x00\x01\x02\xff\r\n\r\n',
      'GET /v1/token HTTP/1.1\r\nHost: agent\r\nContent-Length: -1\r\n\r\n',
      'GET /v1/token HTTP/1.1\r\nHost: agent\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n',
      `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: agent\r\n\r\n`,
      `GET /v1/token HTTP/1.1\r\nHost: agent\r\nX-Big: ${'b'.repeat(10_000)}\r\n\r\n`,
    ];
    for (const where of [{ path: agent.socketPath }, tcp]) {
      for (const bytes of garbage) {
        const answer = await raw(where, bytes);
        expect(answer).toMatch(/^HTTP\/1\.1 4\d\d /);
        expect(answer).not.toContain(setup.record.access_token);
      }
      const big = await raw(
        where,
        `GET /v1/token HTTP/1.1\r\nHost: agent\r\nX-Big: ${'b'.repeat(10_000)}\r\n\r\n`,
      );
      expect(big).toMatch(/^HTTP\/1\.1 431 /);
    }
    await alive();
  });

  it('drops a client that sends a byte a second, and answers others meanwhile', async () => {
    const slow: Socket[] = [];
    const closedAt: number[] = [];
    const start = Date.now();
    for (let i = 0; i < 50; i++) {
      const s = connect({ path: agent.socketPath });
      s.on('error', () => {});
      s.on('close', () => closedAt.push(Date.now() - start));
      slow.push(s);
    }
    const line = 'GET /v1/token HTTP/1.1\r\nHost: agent\r\n';
    let i = 0;
    const drip = setInterval(() => {
      for (const s of slow) if (!s.destroyed) s.write(line[i % line.length] as string);
      i++;
    }, 1_000);
    try {
      // Meanwhile every token answer comes at once.
      const latencies: number[] = [];
      for (let n = 0; n < 20; n++) {
        const t0 = performance.now();
        expect((await ask({ socketPath: agent.socketPath }, '/v1/token')).status).toBe(200);
        latencies.push(performance.now() - t0);
      }
      expect(Math.max(...latencies)).toBeLessThan(500);
      // The header timeout (5 s, checked every second) ends them all.
      const deadline = Date.now() + 15_000;
      while (closedAt.length < slow.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(closedAt.length).toBe(slow.length);
      expect(Math.max(...closedAt)).toBeLessThan(10_000);
    } finally {
      clearInterval(drip);
      for (const s of slow) s.destroy();
    }
    await alive();
  }, 30_000);

  it('10 000 property-based requests: only a valid GET /v1/token carries the token', async () => {
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 8 });
    const host = `${tcp.host}:${tcp.port}`;
    const method = fc.constantFrom(
      'GET',
      'POST',
      'PUT',
      'DELETE',
      'HEAD',
      'OPTIONS',
      'PATCH',
      'TRACE',
    );
    const path = fc.oneof(
      fc.constantFrom(
        '/v1/token',
        '/v1/status',
        '/healthz',
        '/metrics',
        '/',
        '/v1/token/',
        '/V1/TOKEN',
      ),
      fc.constantFrom('/v1/token?profile=', '/v1/token?profile=default', '/v1/token?profile=../x'),
      fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)),
      fc.string({ maxLength: 40 }).map((s) => `/${encodeURIComponent(s)}`),
    );
    const auth = fc.oneof(
      fc.constant<string | undefined>(undefined),
      fc.constant(`Bearer ${secret}`),
      fc.constant(`bearer ${secret}`),
      fc.constant(`Bearer ${secret}x`),
      fc.constant(`Basic ${secret}`),
      fc
        .string({ unit: fc.constantFrom(...'ABCabc012-_=. '), maxLength: 60 })
        .map((s) => `Bearer ${s}`),
    );
    const hostHeader = fc.constantFrom(
      host,
      `localhost:${tcp.port}`,
      'evil.example',
      `${tcp.host}`,
      host.toUpperCase(),
    );
    const surface = fc.constantFrom('socket', 'tcp');
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(method, path, auth, hostHeader, surface, async (m, p, a, h, s) => {
        sent++;
        const headers: Record<string, string> = { Host: h };
        if (a !== undefined) headers['Authorization'] = a;
        const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request(
            {
              ...(s === 'socket' ? { socketPath: agent.socketPath } : tcp),
              agent: keepAlive,
              method: m,
              path: p,
              headers,
            },
            (res) => {
              let body = '';
              res.setEncoding('utf8');
              res.on('data', (d: string) => {
                body += d;
              });
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            },
          );
          req.on('error', reject);
          req.end();
        });
        let url: URL;
        try {
          url = new URL(p, 'http://x');
        } catch {
          url = new URL('http://x/unreadable');
        }
        const authorised =
          s === 'socket' ||
          (h.toLowerCase() === host && /^bearer /i.test(a ?? '') && a?.slice(7) === secret);
        const valid =
          m === 'GET' &&
          url.pathname === '/v1/token' &&
          (url.searchParams.get('profile') ?? 'default') === 'default' &&
          authorised;
        if (valid) expect(answer.status).toBe(200);
        else expect(answer.body).not.toContain(setup.record.access_token);
        expect(answer.body).not.toContain(setup.record.refresh_token);
        expect(answer.body).not.toContain(secret);
        expect(answer.status).toBeLessThan(500);
      }),
      { numRuns: 10_000, seed: SEED },
    );
    keepAlive.destroy();
    expect(sent).toBeGreaterThanOrEqual(10_000);
    await alive();
  }, 180_000);
});
