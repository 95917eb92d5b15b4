/**
 * The provider misbehaving, and the disk refusing a save. Every fault the sandbox can inject
 * (HTTP 500/502/503, an HTML page, half a JSON body, a dropped connection, a delay beyond the
 * timeout, a rate limit with Retry-After) and the provider stopped with a refresh in flight:
 *
 * - through the TokenManager and through the built `td-token refresh` as a child process:
 *   bounded retries with backoff (attempts counted by the sandbox), Retry-After honoured
 *   (elapsed time), a clear error (exit code 1, the problem and the fix on stderr, no token),
 *   and the token file byte for byte as it was;
 * - `td-token watch` riding out an outage (the provider's listener gone and back on the same
 *   port) by itself, then stopping cleanly on SIGTERM;
 * - a full disk (a tiny tmpfs) and a read-only file system under the token file: a clear error,
 *   the old token file intact and still good for a refresh.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isTdTokenError } from '../../src/errors.js';
import { TokenManager, type TokenManagerOptions } from '../../src/manager.js';
import { refreshAccessToken } from '../../src/oauth/index.js';
import type { Provider } from '../../src/providers/types.js';
import { type Sandbox, type SandboxFault, startSandbox } from '../../src/sandbox/index.js';
import { FileStore } from '../../src/stores/index.js';
import type { TokenRecord } from '../../src/token.js';
import {
  type Home,
  makeHome,
  readTokenFile,
  runCli,
  sandboxFlags,
  startCli,
  writeTokenFile,
} from '../cli/harness.js';
import { sandboxLogin, sandboxProvider } from '../manager/setup.js';
import { startRelay } from './fixtures/relay.js';

interface Case {
  name: string;
  fault: SandboxFault;
  code: string;
  /** What stderr / the message must say: the problem... */
  problem: RegExp;
}

/** The faults a retry can cure, with what td-token must say about each. */
const TRANSIENT: Case[] = [
  {
    name: 'HTTP 500',
    fault: { kind: 'status', status: 500 },
    code: 'provider_unavailable',
    problem: /HTTP 500/,
  },
  {
    name: 'HTTP 502',
    fault: { kind: 'status', status: 502 },
    code: 'provider_unavailable',
    problem: /HTTP 502/,
  },
  {
    name: 'HTTP 503',
    fault: { kind: 'status', status: 503 },
    code: 'provider_unavailable',
    problem: /HTTP 503/,
  },
  {
    name: 'an HTML page',
    fault: { kind: 'html' },
    code: 'provider_unavailable',
    problem: /HTML page/,
  },
  {
    name: 'an HTML 403 page',
    fault: { kind: 'html', status: 403 },
    code: 'provider_unavailable',
    problem: /HTTP 403 with an HTML page/,
  },
  {
    name: 'half a JSON body',
    fault: { kind: 'malformed-json' },
    code: 'provider_unavailable',
    problem: /not JSON/,
  },
  {
    name: 'a dropped connection',
    fault: { kind: 'drop' },
    code: 'provider_unavailable',
    problem: /could not be reached|dropped the connection/,
  },
];
/** Every td-token message ends with the fix. */
const FIX = /try again|wait \d+ s/;

/** Poll (bounded) until `check` holds; for conditions no event reports, such as sandbox counters. */
async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** What this file did to td-token, printed at the end. */
const tally = {
  faults: 0,
  kinds: new Set<string>(),
  stops: 0,
  /** Refreshes that failed creating the lock file, before asking the provider (what filled it). */
  lockFileFailures: [] as string[],
  /** Refreshes the provider answered whose save then failed (what filled it). */
  saveFailures: [] as string[],
};

/** Inject `count` faults and count them. */
function inject(sandbox: Sandbox, fault: SandboxFault, count: number): void {
  sandbox.faults.inject(fault, count);
  tally.faults += count;
  tally.kinds.add(fault.kind === 'status' ? `status ${fault.status}` : fault.kind);
}

function refreshGrants(sandbox: Sandbox): number {
  return sandbox.counters().token.refresh_token;
}

let root = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'td-token-faults-'));
});
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true });
  console.log(
    `faults: ${tally.faults} injected (${tally.kinds.size} kinds: ${[...tally.kinds].join(', ')}), ` +
      `${tally.stops} provider stops with a refresh in flight, ` +
      `${tally.lockFileFailures.length + tally.saveFailures.length} refreshes failed by the disk: ` +
      `${tally.lockFileFailures.length} creating the lock file (${tally.lockFileFailures.join(', ') || 'none'}), ` +
      `${tally.saveFailures.length} saving the answered token (${tally.saveFailures.join(', ') || 'none'})` +
      `${canMount ? '' : ' (the tmpfs cases were skipped: see the warning above)'}; ` +
      'every failed refresh left the token file byte for byte as it was',
  );
});

let seq = 0;
/** A fresh token file (0600 in a 0700 folder) holding `record`; returns its path and bytes. */
async function tokenFile(record: TokenRecord): Promise<{ path: string; bytes: Buffer }> {
  seq += 1;
  const path = join(root, `case-${seq}`, 'token.json');
  await writeTokenFile(path, record);
  return { path, bytes: await readFile(path) };
}

describe('the provider misbehaving, through the TokenManager', () => {
  let sandbox: Sandbox;
  let provider: Provider;
  let login: TokenRecord;

  beforeAll(async () => {
    sandbox = await startSandbox({ flavor: 'tdameritrade', settings: { rateLimitPerMinute: 0 } });
    provider = sandboxProvider(sandbox, 'tdameritrade');
    login = await sandboxLogin(sandbox, provider);
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  afterEach(() => {
    sandbox.faults.clear();
    sandbox.resetCounters();
  });

  async function manager(path: string, options: TokenManagerOptions = {}) {
    return new TokenManager(provider, new FileStore(path), {
      retry: { retries: 2, baseDelayMs: 40 },
      ...options,
    });
  }

  for (const c of TRANSIENT) {
    it(`${c.name} on every try: 3 tries with backoff, then ${c.code}; the token file untouched`, async () => {
      const file = await tokenFile(login);
      const m = await manager(file.path);
      inject(sandbox, c.fault, 3);
      const started = performance.now();
      const error = await m.refresh({ force: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = performance.now() - started;
      expect(isTdTokenError(error, c.code as 'provider_unavailable')).toBe(true);
      const message = (error as Error).message;
      expect(message).toMatch(c.problem);
      expect(message).toMatch(FIX);
      expect(message).not.toContain(login.refresh_token);
      expect(message).not.toContain(login.access_token);
      expect(refreshGrants(sandbox)).toBe(3);
      // Equal-jitter backoff: at least half of 40 ms, then half of 80 ms.
      expect(elapsed).toBeGreaterThanOrEqual(60);
      expect((await readFile(file.path)).equals(file.bytes)).toBe(true);
      await m.close();
    });

    it(`${c.name} twice, then a good answer: the third try refreshes`, async () => {
      const file = await tokenFile(login);
      const m = await manager(file.path);
      inject(sandbox, c.fault, 2);
      const record = await m.refresh({ force: true });
      expect(refreshGrants(sandbox)).toBe(3);
      expect(record.access_token).not.toBe(login.access_token);
      expect((await readTokenFile(file.path)).access_token).toBe(record.access_token);
      await m.close();
    });
  }

  it('a rate limit with Retry-After: 1 waits a full second before the next try', async () => {
    const file = await tokenFile(login);
    const m = await manager(file.path);
    inject(sandbox, { kind: 'rate-limit', retryAfterSec: 1 }, 1);
    const started = performance.now();
    const record = await m.refresh({ force: true });
    expect(performance.now() - started).toBeGreaterThanOrEqual(1000);
    expect(refreshGrants(sandbox)).toBe(2);
    expect((await readTokenFile(file.path)).access_token).toBe(record.access_token);
    await m.close();
  });

  it('a rate limit that persists: 3 tries, a second apart, then rate_limited naming the wait', async () => {
    const file = await tokenFile(login);
    const m = await manager(file.path);
    inject(sandbox, { kind: 'rate-limit', retryAfterSec: 1 }, 3);
    const started = performance.now();
    const error = await m.refresh({ force: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(2000);
    expect(isTdTokenError(error, 'rate_limited')).toBe(true);
    expect((error as Error).message).toMatch(/rate limit/);
    expect((error as Error).message).toMatch(/wait 1 s/);
    expect(refreshGrants(sandbox)).toBe(3);
    expect((await readFile(file.path)).equals(file.bytes)).toBe(true);
    await m.close();
  });

  it('HTTP 503 with Retry-After: 1 waits a full second (not the 20-40 ms backoff) before the next try', async () => {
    const file = await tokenFile(login);
    const m = await manager(file.path);
    inject(sandbox, { kind: 'status', status: 503, retryAfterSec: 1 }, 1);
    const started = performance.now();
    const record = await m.refresh({ force: true });
    expect(performance.now() - started).toBeGreaterThanOrEqual(1000);
    expect(refreshGrants(sandbox)).toBe(2);
    expect((await readTokenFile(file.path)).access_token).toBe(record.access_token);
    await m.close();
  });

  it('5xx Retry-After, through refreshAccessToken: delay-seconds and an HTTP date are the waits; a longer one than maxDelayMs is thrown at once, naming it', async () => {
    // The waits themselves, through the retry options' sleep: no real time passes.
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
    };
    inject(sandbox, { kind: 'status', status: 503, retryAfterSec: 7 }, 1);
    inject(sandbox, { kind: 'status', status: 500, body: 'json', retryAfterSec: 3 }, 1);
    await refreshAccessToken(provider, login, { retry: { sleep } });
    expect(waits).toEqual([7000, 3000]);
    expect(refreshGrants(sandbox)).toBe(3);

    // An HTTP date, counted from the answer's own Date header (the local clock is not asked).
    waits.length = 0;
    const date = Date.parse('2030-01-01T00:00:00Z');
    let calls = 0;
    const dated: typeof fetch = async (input, init) => {
      calls += 1;
      if (calls > 1) return fetch(input, init);
      return new Response('502 Bad Gateway\n', {
        status: 502,
        headers: {
          'content-type': 'text/plain',
          date: new Date(date).toUTCString(),
          'retry-after': new Date(date + 12_000).toUTCString(),
        },
      });
    };
    await refreshAccessToken(provider, login, { fetch: dated, retry: { sleep } });
    expect(waits).toEqual([12_000]);

    // Longer than the retry may wait (30 s by default): thrown at once, the wait on the error.
    waits.length = 0;
    sandbox.resetCounters();
    inject(sandbox, { kind: 'status', status: 503, retryAfterSec: 120 }, 1);
    const error = await refreshAccessToken(provider, login, { retry: { sleep } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTdTokenError(error, 'provider_unavailable')).toBe(true);
    expect((error as { retryAfterMs?: number }).retryAfterMs).toBe(120_000);
    expect((error as Error).message).toMatch(/HTTP 503\. it asked to wait 120 s \(Retry-After\)/);
    expect((error as Error).message).toMatch(FIX);
    expect(waits).toEqual([]);
    expect(refreshGrants(sandbox)).toBe(1);
  });

  it('a Retry-After longer than the refresh may take: rate_limited, not a bare abort', async () => {
    const file = await tokenFile(login);
    // The refresh gives up at 80% of the lock's life (800 ms) so that it never writes after
    // losing the lock; a 5 s Retry-After cannot be waited out.
    const m = await manager(file.path, { lockTtlMs: 1000 });
    inject(sandbox, { kind: 'rate-limit', retryAfterSec: 5 }, 3);
    const error = await m.refresh({ force: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTdTokenError(error, 'rate_limited')).toBe(true);
    expect((error as Error).message).toMatch(/wait 5 s/);
    expect(refreshGrants(sandbox)).toBe(1);
    expect((await readFile(file.path)).equals(file.bytes)).toBe(true);
    await m.close();
  });

  it('a provider slower than the timeout: provider_unavailable naming the time, one try', async () => {
    const file = await tokenFile(login);
    const m = await manager(file.path, { lockTtlMs: 1000 });
    inject(sandbox, { kind: 'delay', ms: 5000 }, 1);
    const started = performance.now();
    const error = await m.refresh({ force: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;
    expect(isTdTokenError(error, 'provider_unavailable')).toBe(true);
    expect((error as Error).message).toMatch(/did not answer within 800 ms/);
    expect((error as Error).message).toMatch(FIX);
    expect(elapsed).toBeGreaterThanOrEqual(790);
    expect(elapsed).toBeLessThan(5000);
    expect(refreshGrants(sandbox)).toBe(1);
    expect((await readFile(file.path)).equals(file.bytes)).toBe(true);
    await m.close();
  });

  it('a TD renewal cut off by the time a refresh may take: provider_unavailable that says the refresh token may have been rotated, one try', async () => {
    const file = await tokenFile(login);
    // renewWithinDays above the 90-day life: this refresh asks for a new refresh token.
    const m = await manager(file.path, { lockTtlMs: 1000, renewWithinDays: 100 });
    inject(sandbox, { kind: 'delay', ms: 5000 }, 1);
    const error = await m.refresh({ force: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTdTokenError(error, 'provider_unavailable')).toBe(true);
    expect((error as Error).message).toMatch(/did not answer within 800 ms/);
    expect((error as Error).message).toMatch(
      /renewal may have reached TD, which then issued a new refresh token and retired the old one\. run 'td-token refresh' again; if it says to log in, run 'td-token login'$/,
    );
    expect(refreshGrants(sandbox)).toBe(1);
    expect((await readFile(file.path)).equals(file.bytes)).toBe(true);
    await m.close();
  });

  it('the provider stopped with a refresh in flight: provider_unavailable; a new provider on the same port works after a login', async () => {
    const own = await startSandbox({ flavor: 'tdameritrade', settings: { rateLimitPerMinute: 0 } });
    const port = Number(new URL(own.url).port);
    const ownProvider = sandboxProvider(own, 'tdameritrade');
    const file = await tokenFile(await sandboxLogin(own, ownProvider));
    const m = new TokenManager(ownProvider, new FileStore(file.path), {
      retry: { retries: 2, baseDelayMs: 40 },
    });
    inject(own, { kind: 'delay', ms: 10_000 }, 1);
    const pending = m.refresh({ force: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await until(() => own.counters().token.refresh_token === 1, 'the refresh to reach the sandbox');
    await own.close();
    tally.stops += 1;
    const error = await pending;
    expect(isTdTokenError(error, 'provider_unavailable')).toBe(true);
    expect((error as Error).message).toMatch(/could not be reached|dropped the connection/);
    expect((error as Error).message).toMatch(FIX);
    expect((await readFile(file.path)).equals(file.bytes)).toBe(true);

    // A provider on the same address again (this one knows none of the old tokens): after a
    // login, the same manager refreshes through it with no restart.
    const again = await startSandbox({ flavor: 'tdameritrade', port });
    try {
      expect(again.url).toBe(own.url);
      await m.saveLogin(await sandboxLogin(again, sandboxProvider(again, 'tdameritrade')));
      const before = (await readTokenFile(file.path)).access_token;
      const record = await m.refresh({ force: true });
      expect(record.access_token).not.toBe(before);
      expect(again.counters().token.refresh_token).toBe(1);
    } finally {
      await m.close();
      await again.close();
    }
  });
});

describe('Schwab\'s HTML 403 "Access Denied" page from the token endpoint', () => {
  it('is an outage: retried with backoff, then provider_unavailable; the token file untouched', async () => {
    const sandbox = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
    try {
      const provider = sandboxProvider(sandbox, 'schwab');
      const file = await tokenFile(await sandboxLogin(sandbox, provider));
      const m = new TokenManager(provider, new FileStore(file.path), {
        retry: { retries: 2, baseDelayMs: 40 },
      });
      inject(sandbox, { kind: 'html', status: 403 }, 3);
      const error = await m.refresh({ force: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isTdTokenError(error, 'provider_unavailable')).toBe(true);
      expect((error as Error).message).toMatch(/HTTP 403 with an HTML page/);
      expect((error as Error).message).toMatch(FIX);
      expect(refreshGrants(sandbox)).toBe(3);
      expect((await readFile(file.path)).equals(file.bytes)).toBe(true);

      // Once the page is gone, the same manager refreshes.
      inject(sandbox, { kind: 'html', status: 403 }, 1);
      const record = await m.refresh({ force: true });
      expect(refreshGrants(sandbox)).toBe(5);
      expect((await readTokenFile(file.path)).access_token).toBe(record.access_token);
      await m.close();
    } finally {
      await sandbox.close();
    }
  });
});

describe('the provider misbehaving, through `td-token refresh`', () => {
  const homes: Home[] = [];
  const sandboxes: Sandbox[] = [];
  afterAll(async () => {
    for (const s of sandboxes) await s.close().catch(() => undefined);
    for (const h of homes) await h.cleanup();
  });

  /** A sandbox of its own, a logged-in token file, and a home to run td-token in. */
  async function setup(port?: number) {
    const sandbox = await startSandbox({
      flavor: 'tdameritrade',
      settings: { rateLimitPerMinute: 0 },
      ...(port === undefined ? {} : { port }),
    });
    sandboxes.push(sandbox);
    const home = await makeHome();
    homes.push(home);
    const login = await sandboxLogin(sandbox, sandboxProvider(sandbox, 'tdameritrade'));
    const path = join(home.root, 'tokens', 'token.json');
    await writeTokenFile(path, login);
    const bytes = await readFile(path);
    const args = [
      'refresh',
      '--force',
      '--token-file',
      path,
      ...sandboxFlags(sandbox, 'tdameritrade'),
    ];
    return { sandbox, home, login, path, bytes, args };
  }

  function expectCleanFailure(
    result: { code: number | null; stdout: string; stderr: string },
    login: TokenRecord,
    problem: RegExp,
  ): void {
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^td-token: /m);
    expect(result.stderr).toMatch(problem);
    expect(result.stderr).toMatch(FIX);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    for (const secret of [login.access_token, login.refresh_token]) {
      expect(result.stderr).not.toContain(secret);
      expect(result.stdout).not.toContain(secret);
    }
  }

  // The cases run side by side (each has its own sandbox): their waits add up to half a minute.
  it('every transient fault on every try: 4 tries with backoff, exit 1 with the problem and the fix, the file untouched', {
    timeout: 60_000,
  }, async () => {
    await Promise.all(
      TRANSIENT.map(async (c) => {
        const s = await setup();
        inject(s.sandbox, c.fault, 4);
        const started = performance.now();
        const result = await runCli(s.args, s.home, { timeoutMs: 30_000 });
        const elapsed = performance.now() - started;
        expectCleanFailure(result, s.login, c.problem);
        // The default: 3 retries after 500, 1000, 2000 ms, each at least half that (jitter).
        expect(refreshGrants(s.sandbox), c.name).toBe(4);
        expect(elapsed, c.name).toBeGreaterThanOrEqual(1750);
        expect((await readFile(s.path)).equals(s.bytes), c.name).toBe(true);
      }),
    );
  });

  it('faults on three tries, then a good answer: exit 0 and a refreshed file', {
    timeout: 30_000,
  }, async () => {
    const s = await setup();
    inject(s.sandbox, { kind: 'status', status: 503 }, 2);
    inject(s.sandbox, { kind: 'drop' }, 1);
    const result = await runCli(s.args, s.home, { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(refreshGrants(s.sandbox)).toBe(4);
    expect((await readTokenFile(s.path)).access_token).not.toBe(s.login.access_token);
  });

  it('a persistent rate limit with Retry-After: 1: 4 tries at least a second apart, then exit 1', {
    timeout: 30_000,
  }, async () => {
    const s = await setup();
    inject(s.sandbox, { kind: 'rate-limit', retryAfterSec: 1 }, 4);
    const started = performance.now();
    const result = await runCli(s.args, s.home, { timeoutMs: 20_000 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(3000);
    expectCleanFailure(result, s.login, /rate limit/);
    expect(result.stderr).toMatch(/wait 1 s/);
    expect(refreshGrants(s.sandbox)).toBe(4);
    expect((await readFile(s.path)).equals(s.bytes)).toBe(true);
  });

  it('HTTP 503 with Retry-After: 2, then a good answer: the second try waits the 2 s, exit 0', {
    timeout: 30_000,
  }, async () => {
    const s = await setup();
    inject(s.sandbox, { kind: 'status', status: 503, retryAfterSec: 2 }, 1);
    const started = performance.now();
    const result = await runCli(s.args, s.home, { timeoutMs: 20_000 });
    // The default backoff alone would wait 250-500 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(2000);
    expect(result.code, result.stderr).toBe(0);
    expect(refreshGrants(s.sandbox)).toBe(2);
    expect((await readTokenFile(s.path)).access_token).not.toBe(s.login.access_token);
  });

  it('a provider that never answers: exit 1 once the refresh runs out of time (24 s), the file untouched', {
    timeout: 60_000,
  }, async () => {
    const s = await setup();
    inject(s.sandbox, { kind: 'delay', ms: 45_000 }, 1);
    const started = performance.now();
    const result = await runCli(s.args, s.home, { timeoutMs: 45_000 });
    const elapsed = performance.now() - started;
    expectCleanFailure(result, s.login, /did not answer within 24000 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(24_000);
    expect(refreshGrants(s.sandbox)).toBe(1);
    expect((await readFile(s.path)).equals(s.bytes)).toBe(true);
  });

  it('the provider stopped with the refresh in flight: exit 1 naming the connection, the file untouched; then a new provider on the same port', {
    timeout: 30_000,
  }, async () => {
    const s = await setup();
    inject(s.sandbox, { kind: 'delay', ms: 20_000 }, 1);
    const run = startCli(s.args, s.home);
    try {
      await until(() => refreshGrants(s.sandbox) === 1, 'the refresh to reach the sandbox');
      await s.sandbox.close();
      tally.stops += 1;
      const result = await run.exited;
      expectCleanFailure(result, s.login, /could not be reached \(ECONNREFUSED\)/);
      expect((await readFile(s.path)).equals(s.bytes)).toBe(true);
    } finally {
      await run.stop();
    }
    // Back on the same port (a new provider: a login first), refresh works with nothing changed.
    const port = Number(new URL(s.sandbox.url).port);
    const again = await setup(port);
    expect(again.sandbox.url).toBe(s.sandbox.url);
    const result = await runCli(again.args, again.home);
    expect(result.code, result.stderr).toBe(0);
    expect(refreshGrants(again.sandbox)).toBe(1);
  });
});

describe('`td-token watch` through a provider outage', () => {
  it('refreshes again by itself when the provider comes back on the same port, and stops cleanly on SIGTERM', {
    timeout: 60_000,
  }, async () => {
    // Access tokens of 302 s against the default 5-minute margin: a refresh every 2 s.
    const sandbox = await startSandbox({
      flavor: 'tdameritrade',
      settings: { rateLimitPerMinute: 0, accessTokenLifetimeSec: 302 },
    });
    const relay = await startRelay(Number(new URL(sandbox.url).port));
    const home = await makeHome();
    const provider = sandboxProvider(sandbox, 'tdameritrade');
    const path = join(home.root, 'tokens', 'token.json');
    await writeTokenFile(path, await sandboxLogin(sandbox, provider));
    const flags = sandboxFlags(sandbox, 'tdameritrade');
    flags[flags.indexOf('--token-url') + 1] = `${relay.url}/v1/oauth2/token`;
    const watch = startCli(['watch', '--token-file', path, ...flags], home);
    try {
      const refreshed = () => watch.stdout().match(/"event":"refreshed"/g)?.length ?? 0;
      await watch.waitFor('stdout', /"event":"refreshed"/, 15_000);

      // The provider goes away with a refresh in flight.
      inject(sandbox, { kind: 'delay', ms: 30_000 }, 1);
      const grants = refreshGrants(sandbox);
      await until(() => refreshGrants(sandbox) > grants, 'a refresh to be in flight');
      await relay.stop();
      tally.stops += 1;
      await watch.waitFor(
        'stdout',
        /"event":"refresh_failed"[^\n]*"code":"provider_unavailable"/,
        15_000,
      );
      const before = await readFile(path);
      const countAtOutage = refreshed();

      // Back on the same port: the watcher refreshes on its own.
      sandbox.faults.clear();
      await relay.start();
      await until(() => refreshed() > countAtOutage, 'a refresh after the outage', 30_000);
      const after = await readFile(path);
      expect(after.equals(before)).toBe(false);
      const record = JSON.parse(after.toString('utf8')) as TokenRecord;
      const api = await fetch(`${sandbox.apiUrl}/v1/accounts`, {
        headers: { authorization: `Bearer ${record.access_token}` },
      });
      expect(api.status).toBe(200);
      expect(watch.child.exitCode).toBeNull();
      expect(watch.stdout()).not.toContain(record.access_token);
      expect(watch.stdout()).not.toContain(record.refresh_token);

      watch.child.kill('SIGTERM');
      const exit = await watch.exited;
      expect(exit.signal).toBeNull();
      expect(exit.code).toBe(0);
      expect(exit.stdout).toMatch(/"event":"stopped"/);
    } finally {
      await watch.stop();
      await relay.stop();
      await sandbox.close();
      await home.cleanup();
    }
  });
});

describe('`td-token watch --on-relogin` stopped while the command runs', () => {
  it('SIGTERM stops the command (and what it started) and exits 0 within seconds, not after the 60 s command timeout', {
    timeout: 30_000,
  }, async () => {
    const sandbox = await startSandbox({
      flavor: 'tdameritrade',
      settings: { rateLimitPerMinute: 0 },
    });
    const home = await makeHome();
    try {
      const login = await sandboxLogin(sandbox, sandboxProvider(sandbox, 'tdameritrade'));
      // An expired access token and a revoked refresh token: a login is required at once.
      sandbox.revokeRefreshToken(login.refresh_token);
      const path = join(home.root, 'tokens', 'token.json');
      await writeTokenFile(path, { ...login, expires_at: Date.now() - 60_000 });
      const pidFile = join(home.root, 'sleep.pid');
      const command = `sleep 60 & echo $! > '${pidFile}'; wait`;
      const watch = startCli(
        [
          'watch',
          '--on-relogin',
          command,
          '--token-file',
          path,
          ...sandboxFlags(sandbox, 'tdameritrade'),
        ],
        home,
      );
      try {
        await watch.waitFor('stdout', /"event":"relogin_due"/, 15_000);
        let pid = 0;
        await until(() => {
          try {
            pid = Number(readFileSync(pidFile, 'utf8').trim());
          } catch {
            // Not written yet.
          }
          return pid > 0;
        }, 'the re-login command to start');
        const stopping = performance.now();
        watch.child.kill('SIGTERM');
        const exit = await watch.exited;
        expect(performance.now() - stopping).toBeLessThan(5000);
        expect(exit.code, exit.stderr).toBe(0);
        expect(exit.stdout).toMatch(
          /"event":"relogin_command"[^\n]*"signal":"SIGTERM"[^\n]*"stopped":true/,
        );
        expect(exit.stdout).toMatch(/"event":"stopped"/);
        // The command's own child went with it.
        await until(
          () => {
            try {
              process.kill(pid, 0);
              return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
            } catch {
              return true;
            }
          },
          "the command's sleep to end",
          3000,
        );
      } finally {
        await watch.stop();
      }
    } finally {
      await sandbox.close();
      await home.cleanup();
    }
  });
});

/** Mount a tmpfs of `size` at `dir`: undefined once mounted, else why it could not be. */
function mountTmpfs(dir: string, size: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') return 'there is no `mount` command';
    const said = e.stderr?.toString('utf8').trim().split('\n')[0]?.replace(/\.$/, '');
    return `\`mount -t tmpfs\` failed: ${said || e.message}`;
  }
}

function umount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    // already unmounted
  }
}

/** Why the tmpfs cases cannot run here; undefined when they can. */
const cannotMount = await (async () => {
  if (process.platform !== 'linux') return `this is ${process.platform}, not Linux`;
  const probe = await mkdtemp(join(tmpdir(), 'td-token-mount-'));
  const problem = mountTmpfs(probe, '64k');
  if (problem === undefined) umount(probe);
  await rm(probe, { recursive: true, force: true });
  return problem;
})();
const canMount = cannotMount === undefined;
const IS_ROOT = process.getuid?.() === 0;
if (!canMount) {
  console.warn(
    `faults: SKIPPING 'a full disk or a read-only file system when saving': it needs a tmpfs of its own (root, or a container allowed to mount), and ${cannotMount}. ` +
      "what covers those failures instead, without a real full or read-only file system: test/stores/file.test.ts's EFBIG case (a file size limit makes the write fail) " +
      `and its EACCES case (a read-only folder${IS_ROOT ? '; itself skipped here, as root ignores file modes' : ''})`,
  );
}

// Needs a tmpfs mount (root, or a container allowed to mount): there is no other way to make a
// real file system full or read-only for one folder. Where mounting is not allowed the cases
// are skipped, saying why (above); the file store's own tests cover failed writes that need no
// mount.
describe.skipIf(!canMount)('a full disk or a read-only file system when saving', () => {
  let sandbox: Sandbox;
  let home: Home;
  let mnt = '';
  beforeAll(async () => {
    sandbox = await startSandbox({ flavor: 'tdameritrade', settings: { rateLimitPerMinute: 0 } });
    home = await makeHome();
    mnt = join(home.root, 'mnt');
    await mkdir(mnt);
    const problem = mountTmpfs(mnt, '256k');
    if (problem !== undefined) throw new Error(`mounting the tmpfs failed: ${problem}`);
  });
  afterAll(async () => {
    if (mnt !== '') umount(mnt);
    await sandbox?.close();
    await home?.cleanup();
  });

  async function loggedIn(): Promise<{
    path: string;
    bytes: Buffer;
    login: TokenRecord;
    args: string[];
  }> {
    const login = await sandboxLogin(sandbox, sandboxProvider(sandbox, 'tdameritrade'));
    const path = join(mnt, 'td-token', 'token.json');
    await writeTokenFile(path, login);
    const args = [
      'refresh',
      '--force',
      '--token-file',
      path,
      ...sandboxFlags(sandbox, 'tdameritrade'),
    ];
    return { path, bytes: await readFile(path), login, args };
  }

  it('a full disk: exit 1 saying the disk is full, the old file intact and still good once space is freed', async () => {
    const s = await loggedIn();
    // Fill the file system to the last byte.
    const filler = join(mnt, 'filler');
    let chunk = 64 * 1024;
    let size = 0;
    await writeFile(filler, '');
    try {
      while (chunk >= 1) {
        try {
          await writeFile(filler, Buffer.alloc(chunk), { flag: 'a' });
          size += chunk;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          chunk = Math.floor(chunk / 2);
        }
      }
      expect(size).toBeGreaterThan(0);
      const expectDiskFull = (result: { code: number | null; stderr: string }) => {
        expect(result.code, result.stderr).toBe(1);
        expect(result.stderr).toMatch(
          /\(ENOSPC\)\. the disk \(or your quota\) is full: free some space and run the command again/,
        );
        expect(result.stderr).not.toContain(s.login.refresh_token);
        expect(result.stderr).not.toContain(s.login.access_token);
      };
      // Not a byte left: taking the lock (a small file beside the token file) fails first.
      const full = await runCli(s.args, home);
      expectDiskFull(full);
      expect(full.stderr).toMatch(/could not create the lock file/);
      tally.lockFileFailures.push('full disk');
      expect((await readFile(s.path)).equals(s.bytes)).toBe(true);

      // A page free: the lock is taken, the refresh succeeds at the provider, the save fails
      // (writing the new file, or the guard taken just before the rename, whichever runs out).
      // (A write that did not fit may have left part of itself: ask the file its size.)
      await truncate(filler, (await stat(filler)).size - 4096);
      const grants = refreshGrants(sandbox);
      const onePage = await runCli(s.args, home);
      expectDiskFull(onePage);
      expect(onePage.stderr).toMatch(
        /could not (write the token file .*token\.json|create the lock guard .*) \(ENOSPC\)/,
      );
      expect(refreshGrants(sandbox)).toBe(grants + 1);
      tally.saveFailures.push('full disk');
      expect((await readFile(s.path)).equals(s.bytes)).toBe(true);
      expect((await readdir(join(mnt, 'td-token'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    } finally {
      await rm(filler, { force: true });
    }

    // Space again: the same file refreshes (a plain TD refresh leaves the refresh token as it was).
    const again = await runCli(s.args, home);
    expect(again.code, again.stderr).toBe(0);
    expect((await readTokenFile(s.path)).access_token).not.toBe(s.login.access_token);
  });

  it('a read-only file system: exit 1 saying so and how to fix it, the old file intact', async () => {
    const s = await loggedIn();
    execFileSync('mount', ['-o', 'remount,ro', mnt], { stdio: 'ignore' });
    try {
      const result = await runCli(s.args, home);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/could not create the lock file .*\(EROFS\)/);
      expect(result.stderr).toMatch(/read-only: choose a writable place with --token-file/);
      tally.lockFileFailures.push('read-only');
      expect(result.stderr).not.toContain(s.login.refresh_token);
      expect((await readFile(s.path)).equals(s.bytes)).toBe(true);
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', mnt], { stdio: 'ignore' });
    }
    const again = await runCli(s.args, home);
    expect(again.code, again.stderr).toBe(0);
  });
});
