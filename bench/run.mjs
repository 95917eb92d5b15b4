// td-token's benchmark: `npm run bench` (builds first, then runs this file on dist/).
//
// 1. getAccessToken() calls per second on the hot path, for each store, and how soon the hot path
//    notices a token saved by another writer.
// 2. The stampede: 1, 8, 32 and 64 processes ask for a token the moment it expires; wall time as a
//    ratio to one refresh round trip measured in the same run, the worst expiry and the slowest
//    process beside the median, and the token endpoint's call count.
// 3. `td-token token` start-up time as a ratio to `node -e 0`: alternating pairs of whole
//    processes, measured first, while the machine is quiet (before the stampedes).
//
// 4. The token agent (bench/agent.mjs, run as its own process after the rest).
//
// TD_BENCH_PARTS=startup,hot,stampede,agent (the default: all) runs only the parts named. Every token
// manager here runs with td-token's default retry settings (3 retries, first backoff 500 ms).
//
// It prints figures; it asserts nothing about timing. Tokens are never printed.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TokenManager } from '../dist/manager.js';
import {
  createAuthorizationRequest,
  exchangeAuthorizationCode,
  refreshAccessToken,
} from '../dist/oauth/index.js';
import { createProvider } from '../dist/providers/index.js';
import { SANDBOX_DEFAULT_APPS, startSandbox } from '../dist/sandbox/index.js';
import { createStore } from '../dist/stores/index.js';
import { approveInSandbox } from './sandbox-login.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const CHILD = join(here, 'child.mjs');
/** The CLI timed for start-up; TD_BENCH_CLI names another build of it (bench/bundle.config.mjs). */
const CLI = process.env.TD_BENCH_CLI
  ? resolve(process.env.TD_BENCH_CLI)
  : join(root, 'dist', 'cli', 'main.js');
const FLAVOR = 'schwab';
const STAMPEDE_SIZES = (process.env.TD_BENCH_SIZES ?? '1,8,32,64').split(',').map(Number);
const STAMPEDE_ROUNDS = Number(process.env.TD_BENCH_ROUNDS ?? 5);
const HOT_MS = Number(process.env.TD_BENCH_HOT_MS ?? 1000);
const STARTUP_PAIRS = Number(process.env.TD_BENCH_PAIRS ?? 30);
const PARTS = new Set((process.env.TD_BENCH_PARTS ?? 'startup,hot,stampede,agent').split(','));
const CPU_HOOK = join(here, 'cpu-time.cjs');

const hash = (token) => createHash('sha256').update(token).digest('hex').slice(0, 16);
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fmt = (n, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
const print = (line = '') => process.stdout.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// Set-up: a sandbox, a provider pointed at it, one browser-style login, optionally redis-server.

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

async function startRedis() {
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (which.status !== 0) return undefined;
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise((done) => child.once('exit', done));
  const ready = await new Promise((done) => {
    const timer = setTimeout(() => done(false), 10_000);
    let seen = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      if (/ready to accept connections/i.test(seen)) {
        clearTimeout(timer);
        done(true);
      }
    });
    child.once('exit', () => done(false));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  if (!ready) {
    await stop();
    return undefined;
  }
  return { url: `redis://127.0.0.1:${port}`, stop };
}

function providerOptions(sandbox) {
  const app = SANDBOX_DEFAULT_APPS[FLAVOR];
  return {
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri: app.redirectUris[0],
    authorizeUrl: sandbox.authorizeUrl,
    tokenUrl: sandbox.tokenUrl,
    apiUrl: sandbox.apiUrl,
  };
}

async function login(sandbox, provider) {
  const request = createAuthorizationRequest(provider);
  const callback = await approveInSandbox(request.url);
  return exchangeAuthorizationCode(provider, callback, {
    expectedState: request.state,
    ...(request.codeVerifier === undefined ? {} : { codeVerifier: request.codeVerifier }),
    now: sandbox.clock.now,
    retry: false,
  });
}

// ---------------------------------------------------------------------------------------------
// 1. The hot path.

async function callsPerSecond(manager, ms) {
  for (let i = 0; i < 20_000; i++) await manager.getAccessToken();
  const batch = 20_000;
  let calls = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) await manager.getAccessToken();
    calls += batch;
    elapsed = performance.now() - started;
  }
  return calls / (elapsed / 1000);
}

/** How long until the manager hands out a token another writer saved; the event loop runs between tries. */
async function noticeLatency(manager, spec, record) {
  const writer = await createStore(spec);
  try {
    const other = { ...record, access_token: `other-writer-${Date.now()}-${Math.random()}` };
    await writer.save(other);
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) {
      if ((await manager.getAccessToken()) === other.access_token) {
        return performance.now() - started;
      }
      await new Promise((done) => setImmediate(done));
      if (performance.now() - started > 5000) break;
    }
    return undefined;
  } finally {
    await writer.save(record);
    await writer.close();
  }
}

async function hotPathBench(sandbox, provider, record, specs) {
  print('## getAccessToken() on the hot path (one process, token fresh, store shared)');
  print();
  print('| store | calls/s (median of 3) | target | other writer noticed after |');
  print('|---|---:|---:|---:|');
  const targets = { memory: 5_000_000, file: 200_000, sqlite: 100_000, redis: undefined };
  const results = {};
  for (const [name, spec] of specs) {
    const store = await createStore(spec);
    await store.save(record);
    const manager = new TokenManager(provider, store, { now: sandbox.clock.now });
    try {
      const rates = [];
      for (let i = 0; i < 3; i++) rates.push(await callsPerSecond(manager, HOT_MS));
      const rate = median(rates);
      const notice = name === 'memory' ? undefined : await noticeLatency(manager, spec, record);
      results[name] = { rate, notice };
      const target = targets[name] === undefined ? 'one round trip' : fmt(targets[name], 0);
      const noticed =
        name === 'memory'
          ? 'n/a (one process)'
          : notice === undefined
            ? 'not within 5 s'
            : `${fmt(notice, 2)} ms`;
      print(`| ${name} | ${fmt(rate, 0)} | ${target} | ${noticed} |`);
    } finally {
      await manager.close();
    }
  }
  print();
  return results;
}

// ---------------------------------------------------------------------------------------------
// 2. The stampede.

function startChild(env) {
  const child = spawn(process.execPath, [CHILD], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((done) => child.once('exit', done));
  const waiting = new Map();
  let onReady;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line);
    if (message.ready) onReady?.();
    else waiting.get(message.id)?.(message);
  });
  return new Promise((done, fail) => {
    const timer = setTimeout(
      () => fail(new Error('a bench process did not start in 30 s')),
      30_000,
    );
    child.once('exit', (code) => fail(new Error(`a bench process exited (${code}) early`)));
    onReady = () => {
      clearTimeout(timer);
      done({
        child,
        exited,
        ask(id, offset) {
          return this.request({ id, offset });
        },
        request(message) {
          return new Promise((answer) => {
            waiting.set(message.id, answer);
            child.stdin.write(`${JSON.stringify(message)}\n`);
          });
        },
      });
    };
  });
}

async function startFleet(count, env) {
  const fleet = [];
  try {
    for (let i = 0; i < count; i += 8) {
      const batch = Math.min(8, count - i);
      const started = await Promise.allSettled(
        Array.from({ length: batch }, () => startChild(env)),
      );
      for (const s of started) if (s.status === 'fulfilled') fleet.push(s.value);
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
    }
  } catch (err) {
    await stopFleet(fleet);
    throw err;
  }
  return fleet;
}

async function stopFleet(fleet) {
  for (const { child } of fleet) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await Promise.all(fleet.map((c) => c.exited));
}

let askId = 1;
async function askAll(fleet, sandbox) {
  const id = askId++;
  const offset = sandbox.clock.now() - Date.now();
  const started = performance.now();
  const answers = await Promise.all(fleet.map((c) => c.ask(id, offset)));
  return { answers, ms: performance.now() - started };
}

async function stampede(sandbox, spec, count, record, warm) {
  const store = await createStore(spec);
  await store.save(record);
  const env = {
    ...process.env,
    TD_BENCH_PROVIDER: JSON.stringify({ name: FLAVOR, ...providerOptions(sandbox) }),
    TD_BENCH_STORE: JSON.stringify(spec),
  };
  if (warm) env.TD_BENCH_WARM = '1';
  else delete env.TD_BENCH_WARM;
  const fleet = await startFleet(count, env);
  try {
    await askAll(fleet, sandbox); // every process reads and caches the fresh token
    const walls = [];
    const baselines = [];
    const calls = [];
    /** The slowest process of all expiries: its time, its CPU time, whether it refreshed. */
    let slowest;
    let consistent = true;
    let current = record;
    for (let round = 0; round < STAMPEDE_ROUNDS; round++) {
      // The harness's own cost: the same fleet asked the same way while the token is still
      // fresh (every answer from memory, no lock, no refresh), so that the stampede's wall time
      // can be told apart from the time it takes to wake N processes over pipes and hear back.
      baselines.push((await askAll(fleet, sandbox)).ms);
      const now = sandbox.clock.now();
      if (current.expires_at > now) sandbox.clock.advance(current.expires_at - now);
      sandbox.resetCounters();
      const { answers, ms } = await askAll(fleet, sandbox);
      if (process.env.TD_BENCH_VERBOSE) {
        const inside = answers.map((a) => a.ms ?? 0).sort((a, b) => a - b);
        process.stderr.write(
          `  ${count} processes, expiry ${round + 1}: ${ms.toFixed(1)} ms; inside the processes min ${inside[0].toFixed(1)} median ${median(inside).toFixed(1)} max ${inside.at(-1).toFixed(1)} ms\n`,
        );
      }
      calls.push(sandbox.counters().token.total);
      walls.push(ms);
      for (const a of answers) {
        if (a.ms !== undefined && (slowest === undefined || a.ms > slowest.ms)) {
          slowest = { ...a, expiry: round + 1, of: median(answers.map((x) => x.ms ?? 0)) };
        }
      }
      current = await store.load();
      const tokens = new Set(answers.map((a) => a.token ?? `error:${a.error}`));
      if (tokens.size !== 1 || !tokens.has(hash(current.access_token))) consistent = false;
    }
    return {
      wall: median(walls),
      worst: Math.max(...walls),
      slowest,
      walls,
      baseline: median(baselines),
      calls,
      consistent,
      last: current,
    };
  } finally {
    await stopFleet(fleet);
    await store.close();
  }
}

/** One refresh grant's round trip: from this process (client and sandbox share it), and from another process, as in the stampede. */
async function refreshRoundTrip(sandbox, provider, record, spec) {
  const times = [];
  for (let i = 0; i < 9; i++) {
    const started = performance.now();
    await refreshAccessToken(provider, record, { now: sandbox.clock.now, retry: false });
    times.push(performance.now() - started);
  }
  const store = await createStore(spec);
  await store.save(record);
  await store.close();
  const [child] = await startFleet(1, {
    ...process.env,
    TD_BENCH_PROVIDER: JSON.stringify({ name: FLAVOR, ...providerOptions(sandbox) }),
    TD_BENCH_STORE: JSON.stringify(spec),
  });
  try {
    const answer = await child.request({ id: askId++, roundTrips: 9 });
    return { inProcess: median(times), crossProcess: median(answer.times) };
  } finally {
    await stopFleet([child]);
  }
}

async function stampedeBench(sandbox, provider, record, specs) {
  const trips = await refreshRoundTrip(sandbox, provider, record, specs[0][1]);
  const roundTrip = trips.crossProcess;
  print(
    `## Stampede: N processes ask for a token the moment it expires (${STAMPEDE_ROUNDS} expiries each)`,
  );
  print();
  print(
    `One refresh round trip (a refresh grant to the sandbox, median of 9): ${fmt(roundTrip, 2)} ms from another process (the ratios below use this), ${fmt(trips.inProcess, 2)} ms from the sandbox's own process`,
  );
  const header =
    '| store | processes | wall time (median) | worst expiry | slowest process (its ms, CPU ms, role, expiry; the median process of that expiry) | ratio to one round trip | over one round trip | fleet asked with a fresh token (median) | stampede over that | token endpoint calls per expiry | same new token everywhere | each expiry (ms) |';
  let current = record;
  const results = [];
  for (const warm of [false, true]) {
    print();
    print(
      warm
        ? '### Processes that already called the API (each called `getAccounts()` once at start, as a bot does: its HTTP client is loaded)'
        : "### Fresh processes (each one's first HTTP request, if it makes one, happens inside the stampede)",
    );
    print();
    print(header);
    print('|---|---:|---:|---:|---|---:|---:|---:|---:|---|---|---|');
    for (const [name, spec] of specs) {
      for (const count of STAMPEDE_SIZES) {
        const result = await stampede(sandbox, spec, count, current, warm);
        current = result.last;
        results.push({ name, count, warm, ...result });
        const slow = result.slowest;
        const slowText =
          slow === undefined
            ? 'n/a'
            : `${fmt(slow.ms, 0)} ms, ${fmt(slow.cpuMs ?? 0, 0)} ms CPU, ${slow.refreshed ? 'refreshed' : 'waited'}, #${slow.expiry}; median ${fmt(slow.of, 0)} ms`;
        print(
          `| ${name} | ${count} | ${fmt(result.wall, 1)} ms | ${fmt(result.worst, 0)} ms | ${slowText} | ${fmt(result.wall / roundTrip, 1)}x | +${fmt(result.wall - roundTrip, 1)} ms | ${fmt(result.baseline, 1)} ms | +${fmt(result.wall - result.baseline, 1)} ms | ${result.calls.join(', ')} | ${result.consistent ? 'yes' : 'NO'} | ${result.walls.map((w) => fmt(w, 0)).join(', ')} |`,
        );
      }
    }
  }
  print();
  return { roundTrip, results };
}

// ---------------------------------------------------------------------------------------------
// 3. `td-token token` start-up.

/** One whole process, ms of wall time (and of CPU time, with the `cpu-time.cjs` hook). */
function timeOnce(args, env, cpu) {
  const started = performance.now();
  const result = spawnSync(process.execPath, cpu ? ['-r', CPU_HOOK, ...args] : args, {
    env,
    encoding: 'utf8',
  });
  const ms = performance.now() - started;
  if (result.status !== 0) {
    throw new Error(
      `node ${args.join(' ')} exited ${result.status}: ${result.stderr.slice(0, 500)}`,
    );
  }
  const used = /td-token-bench-cpu ([\d.]+)/.exec(result.stderr);
  return { ms: cpu ? Number(used?.[1]) : ms, output: result.stdout };
}

/**
 * `pairs` alternating pairs of `node -e 0` and `node <args>` (which goes first alternates too),
 * so that both see the same machine: the ratio of each pair, with its median and spread.
 */
function pairedRatios(args, env, pairs, cpu) {
  const bare = [];
  const cli = [];
  const ratios = [];
  let output = '';
  for (let i = 0; i < pairs; i++) {
    let b;
    let c;
    if (i % 2 === 0) {
      b = timeOnce(['-e', '0'], env, cpu);
      c = timeOnce(args, env, cpu);
    } else {
      c = timeOnce(args, env, cpu);
      b = timeOnce(['-e', '0'], env, cpu);
    }
    bare.push(b.ms);
    cli.push(c.ms);
    ratios.push(c.ms / b.ms);
    output = c.output;
  }
  const sorted = [...ratios].sort((x, y) => x - y);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return {
    bare: median(bare),
    cli: median(cli),
    ratio: median(ratios),
    p25: at(0.25),
    p75: at(0.75),
    min: sorted[0],
    max: sorted.at(-1),
    atMost2: ratios.filter((r) => r <= 2).length,
    output,
  };
}

async function cliBench(sandbox, record, dir) {
  print('## `td-token token` start-up (fresh token in a token file)');
  print();
  if (!existsSync(CLI)) {
    print('dist/cli/main.js is not built yet: skipped.');
    print();
    return undefined;
  }
  const store = await createStore({ kind: 'file', path: join(dir, 'cli', 'token.json') });
  await store.save(record);
  await store.close();
  const options = providerOptions(sandbox);
  // A clean environment: NODE_EXTRA_CA_CERTS and NODE_OPTIONS would load the same into both.
  const env = {
    PATH: process.env.PATH,
    HOME: join(dir, 'home'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    TD_TOKEN_PROVIDER: FLAVOR,
    TD_TOKEN_CLIENT_ID: options.clientId,
    TD_TOKEN_CLIENT_SECRET: options.clientSecret,
    TD_TOKEN_REDIRECT_URI: options.redirectUri,
    TD_TOKEN_AUTHORIZE_URL: options.authorizeUrl,
    TD_TOKEN_TOKEN_URL: options.tokenUrl,
    TD_TOKEN_API_URL: options.apiUrl,
    TD_TOKEN_FILE: join(dir, 'cli', 'token.json'),
  };
  const args = [CLI, 'token'];
  let wall;
  let cpu;
  try {
    pairedRatios(args, env, 3, false); // warm the page cache
    wall = pairedRatios(args, env, STARTUP_PAIRS, false);
    cpu = pairedRatios(args, env, STARTUP_PAIRS, true);
  } catch (err) {
    print(`td-token token failed, skipped: ${String(err.message).split('\n')[0]}`);
    print();
    return undefined;
  }
  const printed = wall.output.trim();
  print(
    `${STARTUP_PAIRS} alternating pairs of whole processes (\`node -e 0\`, then \`node ${CLI.startsWith(root) ? relative(root, CLI) : CLI} token\`, the order swapped every other pair), before the other parts of the bench; load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(', ')} after.`,
  );
  print();
  print(
    '| measure | node -e 0 (median) | td-token token (median) | ratio, median of the pairs | middle half of the pairs | all pairs | pairs at or below 2x |',
  );
  print('|---|---:|---:|---:|---:|---:|---:|');
  for (const [what, r] of [
    ['wall time', wall],
    ['CPU time (user + system, all threads)', cpu],
  ]) {
    print(
      `| ${what} | ${fmt(r.bare, 1)} ms | ${fmt(r.cli, 1)} ms | ${fmt(r.ratio, 2)}x | ${fmt(r.p25, 2)}x to ${fmt(r.p75, 2)}x | ${fmt(r.min, 2)}x to ${fmt(r.max, 2)}x | ${r.atMost2} of ${STARTUP_PAIRS} |`,
    );
  }
  print();
  print(
    `printed the stored token: ${printed === record.access_token ? 'yes' : 'NO'} (target: within 2x of node -e 0)`,
  );
  print();
  return { wall, cpu };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const cpus = os.cpus();
  print('# td-token bench');
  print();
  print(
    `- machine: ${os.availableParallelism()} CPUs (${cpus[0]?.model ?? 'unknown'}), ${fmt(os.totalmem() / 2 ** 30, 1)} GiB, ${os.platform()} ${os.release()}`,
  );
  print(`- node ${process.version}`);
  print(
    `- load average at start: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(', ')}`,
  );
  print(`- command: npm run bench (node bench/run.mjs after the build)`);
  print(
    `- parts: ${[...PARTS].join(', ')}; token managers use td-token's default retry settings (3 retries, first backoff 500 ms)`,
  );
  print();

  const dir = await mkdtemp(join(os.tmpdir(), 'td-token-bench-'));
  const sandbox = await startSandbox({ flavor: FLAVOR, settings: { rateLimitPerMinute: 0 } });
  const redis = await startRedis();
  try {
    const provider = createProvider(FLAVOR, providerOptions(sandbox));
    const record = await login(sandbox, provider);
    const shared = [
      ['file', { kind: 'file', path: join(dir, 'file', 'token.json') }],
      ['sqlite', { kind: 'sqlite', path: join(dir, 'sqlite', 'tokens.db'), profile: 'bench' }],
    ];
    if (redis) shared.push(['redis', { kind: 'redis', url: redis.url, profile: 'bench' }]);
    else print('redis-server is not installed: the Redis store is skipped.\n');

    // Start-up first: right after the stampedes the machine is still busy with their processes.
    if (PARTS.has('startup')) await cliBench(sandbox, record, dir);
    if (PARTS.has('hot')) {
      await hotPathBench(sandbox, provider, record, [['memory', { kind: 'memory' }], ...shared]);
    }
    if (PARTS.has('stampede')) await stampedeBench(sandbox, provider, record, shared);
    print(
      `- load average at end: ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(', ')}`,
    );
  } finally {
    await redis?.stop();
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

// The token agent's figures (bench/agent.mjs: socket throughput and latency, a shell's token,
// 64 clients at expiry, memory over many requests), in a process of their own.
if (PARTS.has('agent')) {
  const agentBench = fileURLToPath(new URL('./agent.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [agentBench], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}
