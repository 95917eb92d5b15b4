// The token agent's benchmark (standalone: `npm run build && node bench/agent.mjs`).
//
// 1. GET /v1/token over the Unix socket with 1, 16 and 128 keep-alive clients: requests/s, p50, p99.
// 2. A shell getting a token, paired rounds: curl --unix-socket to the agent, `td-token token`
//    (which asks the agent), `td-token token --no-agent`, and curl of a static answer.
// 3. 64 clients at the moment of expiry: wall time beside one refresh round trip, and the count
//    of refresh grants the sandbox saw.
// 4. The agent's RSS before and after 1M requests.
//
// It prints figures and asserts nothing. Tokens are never printed.
// Knobs: TD_BENCH_AGENT_MS (per client count, default 3000), TD_BENCH_AGENT_REQUESTS (default
// 1000000), TD_BENCH_SHELL_ROUNDS (default 30).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createAuthorizationRequest,
  exchangeAuthorizationCode,
  refreshAccessToken,
} from '../dist/oauth/index.js';
import { createProvider } from '../dist/providers/index.js';
import { SANDBOX_DEFAULT_APPS, startSandbox } from '../dist/sandbox/index.js';
import { serializeTokenRecord } from '../dist/token.js';
import { approveInSandbox } from './sandbox-login.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(resolve(here, '..'), 'dist', 'cli', 'main.js');
const RUN_MS = Number(process.env.TD_BENCH_AGENT_MS ?? 3000);
const MILLION = Number(process.env.TD_BENCH_AGENT_REQUESTS ?? 1_000_000);
const SHELL_ROUNDS = Number(process.env.TD_BENCH_SHELL_ROUNDS ?? 30);
const MARGIN_MS = 5 * 60_000;
const REQUEST = 'GET /v1/token HTTP/1.1\r\nHost: agent\r\n\r\n';

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const ms = (v) => `${v.toFixed(2)} ms`;

const app = SANDBOX_DEFAULT_APPS.schwab;
const sandbox = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
const provider = createProvider('schwab', {
  clientId: app.clientId,
  clientSecret: app.clientSecret,
  redirectUri: app.redirectUris[0],
  authorizeUrl: sandbox.authorizeUrl,
  tokenUrl: sandbox.tokenUrl,
  apiUrl: sandbox.apiUrl,
});
const request = createAuthorizationRequest(provider);
const record = await exchangeAuthorizationCode(provider, await approveInSandbox(request.url), {
  expectedState: request.state,
  ...(request.codeVerifier === undefined ? {} : { codeVerifier: request.codeVerifier }),
  retry: false,
});

const root = await mkdtemp(join(os.tmpdir(), 'td-token-bench-agent-'));
const runtime = join(root, 'run');
const tokenFile = join(root, 'tokens', 'token.json');
await mkdir(join(root, 'tokens'), { recursive: true, mode: 0o700 });
const env = {
  PATH: process.env.PATH,
  HOME: join(root, 'home'),
  XDG_CONFIG_HOME: join(root, 'config'),
  XDG_RUNTIME_DIR: runtime,
};
const flags = [
  '--provider',
  'schwab',
  '--client-id',
  app.clientId,
  '--client-secret',
  app.clientSecret,
  '--redirect-uri',
  app.redirectUris[0],
  '--authorize-url',
  sandbox.authorizeUrl,
  '--token-url',
  sandbox.tokenUrl,
  '--api-url',
  sandbox.apiUrl,
  '--token-file',
  tokenFile,
];
const socketPath = join(runtime, 'td-token', 'agent.sock');

async function startAgent() {
  const child = spawn(process.execPath, [CLI, 'serve', ...flags], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise((ok, fail) => {
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      if (out.includes('"agent_listening"')) ok();
    });
    child.once('exit', () => fail(new Error('the agent exited')));
  });
  child.stdout.resume();
  child.stderr.resume();
  return child;
}

async function stopAgent(child) {
  child.kill('SIGTERM');
  await new Promise((ok) => child.once('exit', ok));
}

/** One keep-alive client: send, read one whole answer, repeat until `until`. */
function client(until, latencies) {
  return new Promise((done, fail) => {
    const socket = connect({ path: socketPath });
    let buffer = '';
    let t0 = 0;
    let count = 0;
    const send = () => {
      t0 = performance.now();
      socket.write(REQUEST);
    };
    socket.setEncoding('latin1');
    socket.on('connect', send);
    socket.on('error', fail);
    socket.on('data', (d) => {
      buffer += d;
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      buffer = buffer.slice(end + 4 + length);
      latencies?.push(performance.now() - t0);
      count++;
      if (typeof until === 'number' ? performance.now() < until : count < until.count) send();
      else {
        socket.end();
        done(count);
      }
    });
  });
}

function rss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
}

await writeFile(tokenFile, serializeTokenRecord(record), { mode: 0o600 });
let agent = await startAgent();
console.log(`td-token agent bench (node ${process.version}, ${os.cpus().length} cores)\n`);

// 1. Throughput and latency.
console.log('1. GET /v1/token over the Unix socket, keep-alive clients');
await Promise.all(Array.from({ length: 16 }, () => client(performance.now() + 500))); // warm up
for (const n of [1, 16, 128]) {
  const latencies = [];
  const start = performance.now();
  const counts = await Promise.all(
    Array.from({ length: n }, () => client(start + RUN_MS, latencies)),
  );
  const seconds = (performance.now() - start) / 1000;
  const total = counts.reduce((a, b) => a + b, 0);
  latencies.sort((a, b) => a - b);
  console.log(
    `   ${String(n).padStart(3)} clients: ${Math.round(total / seconds).toLocaleString('en-US')} req/s, p50 ${ms(pct(latencies, 0.5))}, p99 ${ms(pct(latencies, 0.99))}`,
  );
}

// 2. A shell getting a token.
const staticPath = join(root, 'static.sock');
// The static answer comes from another process: spawnSync blocks this one's event loop.
const staticServer = spawn(
  process.execPath,
  [
    '-e',
    `require('node:http').createServer((q, r) => { r.writeHead(200, { 'Content-Type': 'text/plain' }); r.end('static-answer-of-token-length-0123456789abcdef\\n'); }).listen(process.argv[1], () => console.log('ready'))`,
    staticPath,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
await new Promise((ok) => staticServer.stdout.once('data', ok));
const shells = {
  'curl --unix-socket (agent)': [
    'curl',
    ['-sf', '--unix-socket', socketPath, '-H', 'Accept: text/plain', 'http://agent/v1/token'],
  ],
  'td-token token (asks the agent)': [process.execPath, [CLI, 'token', ...flags]],
  'td-token token --no-agent': [process.execPath, [CLI, 'token', '--no-agent', ...flags]],
  'curl of a static answer': ['curl', ['-sf', '--unix-socket', staticPath, 'http://static/']],
};
const times = Object.fromEntries(Object.keys(shells).map((k) => [k, []]));
for (let round = 0; round < SHELL_ROUNDS; round++) {
  for (const [name, [cmd, args]] of Object.entries(shells)) {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
    times[name].push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`);
  }
}
staticServer.kill();
const medians = Object.fromEntries(
  Object.entries(times).map(([k, v]) => [
    k,
    [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)],
  ]),
);
const bare = medians['curl of a static answer'];
console.log(`\n2. A shell getting a token (median of ${SHELL_ROUNDS} paired rounds)`);
for (const [name, m] of Object.entries(medians)) {
  console.log(
    `   ${name.padEnd(34)} ${ms(m).padStart(10)}  ${(m / bare).toFixed(2)}x the static curl`,
  );
}
console.log(
  `   asking the agent vs its own path with a fresh store: ${ms(medians['td-token token --no-agent'] - medians['td-token token (asks the agent)'])} saved`,
);

// 3. 64 clients at expiry.
await stopAgent(agent);
const roundTrips = [];
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  await refreshAccessToken(provider, record, { retry: false });
  roundTrips.push(performance.now() - t0);
}
roundTrips.sort((a, b) => a - b);
const oneTrip = roundTrips[2];
const due = { ...record, expires_at: Date.now() + MARGIN_MS + 2_500 };
await writeFile(tokenFile, serializeTokenRecord(due), { mode: 0o600 });
agent = await startAgent();
sandbox.resetCounters();
await new Promise((ok) => setTimeout(ok, Math.max(0, due.expires_at - MARGIN_MS - Date.now() + 5)));
const t0 = performance.now();
await Promise.all(Array.from({ length: 64 }, () => client({ count: 1 })));
const wall = performance.now() - t0;
console.log('\n3. 64 clients at the moment of expiry');
console.log(
  `   wall ${ms(wall)}; one refresh round trip ${ms(oneTrip)}; wall - round trip ${ms(wall - oneTrip)}; refresh grants at the sandbox: ${sandbox.counters().token.refresh_token}`,
);

// 4. RSS over 1M requests.
const before = rss(agent.pid);
const perClient = Math.ceil(MILLION / 16);
const t1 = performance.now();
await Promise.all(Array.from({ length: 16 }, () => client({ count: perClient })));
const after = rss(agent.pid);
console.log(
  `\n4. Agent RSS over ${(perClient * 16).toLocaleString('en-US')} requests (${((performance.now() - t1) / 1000).toFixed(1)} s)`,
);
console.log(
  `   before ${before.toFixed(1)} MiB, after ${after.toFixed(1)} MiB (${after - before >= 0 ? '+' : ''}${(after - before).toFixed(1)} MiB)`,
);

await stopAgent(agent);
await sandbox.close();
await rm(root, { recursive: true, force: true });
