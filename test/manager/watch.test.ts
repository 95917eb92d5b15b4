import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenManager } from '../../src/manager.js';
import { keepNotificationState } from '../../src/notify/keep-state.js';
import { createNotifier } from '../../src/notify/notifier.js';
import { parseNotifyTarget } from '../../src/notify/targets.js';
import { runWatch, type WatchOptions } from '../../src/watch.js';
import { startHttpReceiver } from '../notify/receivers.js';
import { advanceTo, DAY, HOUR, MINUTE, type Setup, sandboxLogin, setup } from './setup.js';

let current: Setup | undefined;
let dir: string | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

type Line = Record<string, unknown> & { event: string };

/**
 * Run the watcher with a sleep that moves the sandbox clock instead of waiting, for at most
 * `sleeps` sleeps. `onSleep` runs before each sleep's clock move.
 */
async function watch(
  s: Setup,
  sleeps: number,
  options: WatchOptions & { onSleep?: (index: number, ms: number) => Promise<void> | void } = {},
): Promise<{ lines: Line[]; waits: number[] }> {
  const controller = new AbortController();
  const lines: Line[] = [];
  const waits: number[] = [];
  const { onSleep, ...rest } = options;
  await runWatch(s.manager, {
    ...rest,
    signal: controller.signal,
    log: (line) => lines.push(line as Line),
    sleep: async (ms) => {
      await onSleep?.(waits.length, ms);
      waits.push(ms);
      s.sandbox.clock.advance(ms);
      if (waits.length >= sleeps) controller.abort();
    },
  });
  return { lines, waits };
}

const events = (lines: Line[]) => lines.map((l) => l.event);

/** Poll `get` every 20 ms until it yields a value (not undefined, not NaN, no throw), at most 5 s. */
async function until<T>(get: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + 5000;
  for (;;) {
    try {
      const value = await get();
      if (value !== undefined && !Number.isNaN(value)) return value;
    } catch {
      // Not yet.
    }
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether process `pid` runs (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

describe('runWatch', () => {
  it('refreshes ahead of expiry, margin before it, and logs JSON lines without tokens', async () => {
    current = await setup('schwab', { marginMs: 5 * MINUTE });
    const { lines, waits } = await watch(current, 6);
    expect(current.sandbox.counters().token.refresh_token).toBe(5);
    expect(events(lines)).toEqual([
      'start',
      'fresh',
      ...Array.from({ length: 5 }, () => ['refreshed', 'fresh']).flat(),
      'stopped',
    ]);
    for (const ms of waits) {
      expect(ms).toBeGreaterThan(25 * MINUTE - 5000);
      expect(ms).toBeLessThanOrEqual(25 * MINUTE);
    }
    const text = JSON.stringify(lines);
    const stored = (await current.store.load())!;
    expect(text).not.toContain(stored.access_token);
    expect(text).not.toContain(stored.refresh_token);
    expect(text).not.toContain(current.login.access_token);
    for (const line of lines) expect(typeof line['time']).toBe('string');
  });

  it('rides out a provider outage with growing back-off', async () => {
    current = await setup('tdameritrade');
    advanceTo(current.sandbox, current.login.expires_at + 1000);
    current.sandbox.faults.inject({ kind: 'status', status: 503 }, 3);
    const { lines, waits } = await watch(current, 4);
    const failed = lines.filter((l) => l.event === 'refresh_failed');
    expect(failed.map((l) => l['code'])).toEqual([
      'provider_unavailable',
      'provider_unavailable',
      'provider_unavailable',
    ]);
    expect(waits.slice(0, 3)).toEqual([5000, 10_000, 20_000]);
    expect(events(lines).slice(-3)).toEqual(['refreshed', 'fresh', 'stopped']);
    expect(current.sandbox.counters().token.ok).toBe(1);
  });

  it("waits out a rate limit's Retry-After longer than maxBackoffMs, then recovers", async () => {
    current = await setup('tdameritrade');
    advanceTo(current.sandbox, current.login.expires_at + 1000);
    // Ten minutes: twice the default backoff cap of five.
    current.sandbox.faults.inject({ kind: 'rate-limit', retryAfterSec: 600 }, 1);
    const { lines, waits } = await watch(current, 2);
    const failed = lines.filter((l) => l.event === 'refresh_failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      code: 'rate_limited',
      retryInMs: 600_000,
      retryAfterMs: 600_000,
    });
    expect(waits[0]).toBe(600_000);
    expect(events(lines)).toEqual(['start', 'refresh_failed', 'refreshed', 'fresh', 'stopped']);
    expect(current.sandbox.counters().token).toMatchObject({ refresh_token: 2, ok: 1 });
  });

  it("waits out a 503's Retry-After too, but never more than an hour; without one, the backoff", async () => {
    current = await setup('tdameritrade');
    advanceTo(current.sandbox, current.login.expires_at + 1000);
    current.sandbox.faults.inject({ kind: 'status', status: 503, retryAfterSec: 2 * 3600 }, 1);
    current.sandbox.faults.inject({ kind: 'status', status: 503, retryAfterSec: 1 }, 1);
    current.sandbox.faults.inject({ kind: 'status', status: 503 }, 1);
    const { lines, waits } = await watch(current, 4, { maxBackoffMs: 60_000 });
    const failed = lines.filter((l) => l.event === 'refresh_failed');
    expect(failed.map((l) => [l['code'], l['retryAfterMs'], l['retryInMs']])).toEqual([
      ['provider_unavailable', 7_200_000, 3_600_000],
      // A Retry-After shorter than the backoff (10 s after the second failure) does not shorten it.
      ['provider_unavailable', 1000, 10_000],
      ['provider_unavailable', undefined, 20_000],
    ]);
    expect(waits.slice(0, 3)).toEqual([3_600_000, 10_000, 20_000]);
    expect(events(lines).slice(-3)).toEqual(['refreshed', 'fresh', 'stopped']);
  });

  it('stops the re-login command, and what it started, when its signal aborts', async () => {
    current = await setup('schwab');
    const s = current;
    s.sandbox.revokeRefreshToken(s.login.refresh_token);
    advanceTo(s.sandbox, s.login.expires_at + 1000);
    dir = await mkdtemp(join(tmpdir(), 'td-token-watch-'));
    const pidFile = join(dir, 'sleep.pid');
    const out = join(dir, 'finished.txt');
    const controller = new AbortController();
    const lines: Line[] = [];
    const watching = runWatch(s.manager, {
      signal: controller.signal,
      log: (line) => lines.push(line as Line),
      // A command that would run 60 s: a grandchild `sleep` the shell waits for.
      onReloginDue: `sleep 60 & echo $! > '${pidFile}'; wait; echo finished > '${out}'`,
    });
    const pid = await until(async () => Number((await readFile(pidFile, 'utf8')).trim()));
    expect(alive(pid)).toBe(true);
    const stopping = performance.now();
    controller.abort();
    await watching;
    expect(performance.now() - stopping).toBeLessThan(3000);
    expect(events(lines)).toEqual([
      'start',
      'login_required',
      'relogin_due',
      'relogin_command',
      'stopped',
    ]);
    expect(lines.find((l) => l.event === 'relogin_command')).toMatchObject({
      level: 'warn',
      stopped: true,
      signal: 'SIGTERM',
    });
    await until(async () => !alive(pid) || undefined);
    await expect(readFile(out, 'utf8')).rejects.toThrow();
  });

  it('runs the re-login command once when a Schwab refresh token has under 48 hours left', async () => {
    current = await setup('schwab');
    dir = await mkdtemp(join(tmpdir(), 'td-token-watch-'));
    const out = join(dir, 'relogin.txt');
    advanceTo(current.sandbox, current.login.refresh_token_expires_at - 49 * HOUR);
    const { lines } = await watch(current, 8, {
      onReloginDue: `echo "$TD_TOKEN_HOURS_LEFT" >> '${out}'`,
    });
    const written = (await readFile(out, 'utf8')).trim().split('\n');
    expect(written).toHaveLength(1);
    expect(Number(written[0])).toBeLessThan(48);
    expect(Number(written[0])).toBeGreaterThan(47);
    expect(lines.filter((l) => l.event === 'relogin_due')).toHaveLength(1);
    const warned = lines.filter((l) => l.event === 'refresh_token_expiring');
    expect(warned).toHaveLength(1);
    expect(warned[0]!['hoursLeft']).toBeLessThan(48);
    expect(lines.find((l) => l.event === 'relogin_command')?.['exitCode']).toBe(0);
  });

  it('runs no re-login command for a refresh expiry it only assumed, and shows none', async () => {
    current = await setup('schwab');
    dir = await mkdtemp(join(tmpdir(), 'td-token-watch-'));
    const out = join(dir, 'relogin.txt');
    const { manager, sandbox, login } = current;
    await manager.saveLogin({
      ...login,
      refresh_token_expires_at: sandbox.clock.now() + 10 * HOUR,
      refresh_token_expiry_assumed: true,
    });
    const { lines } = await watch(current, 4, { onReloginDue: `echo due >> '${out}'` });
    expect(events(lines)).not.toContain('relogin_due');
    expect(events(lines)).not.toContain('refresh_token_expiring');
    await expect(readFile(out, 'utf8')).rejects.toThrow();
    const fresh = lines.filter((l) => l.event === 'fresh');
    expect(fresh.length).toBeGreaterThan(0);
    for (const line of fresh) {
      expect(line['refreshTokenExpiresAt']).toBeNull();
      expect(line['hoursLeft']).toBeNull();
    }

    // The same record with a known expiry 10 hours away calls for a re-login.
    await manager.saveLogin({
      ...login,
      refresh_token_expires_at: sandbox.clock.now() + 10 * HOUR,
    });
    const known = await watch(current, 2, { onReloginDue: `echo due >> '${out}'` });
    expect(events(known.lines)).toContain('relogin_due');
    expect((await readFile(out, 'utf8')).trim()).toBe('due');
  });

  it('renews a TD refresh token inside the window', async () => {
    current = await setup('tdameritrade', { renewWithinDays: 7 });
    advanceTo(current.sandbox, current.login.refresh_token_expires_at - 6 * DAY);
    const { lines } = await watch(current, 2);
    const refreshed = lines.filter((l) => l.event === 'refreshed');
    expect(refreshed.map((l) => l['refreshTokenRenewed'])).toEqual([true, false]);
    expect(lines.some((l) => l.event === 'relogin_due')).toBe(false);
    const stored = (await current.store.load())!;
    expect(stored.refresh_token).not.toBe(current.login.refresh_token);
  });

  it('calls for a re-login when a TD renewal does not renew', async () => {
    // The token endpoint answers renewals without a new refresh token.
    const noRenewal: typeof fetch = (input, init) => {
      if (typeof init?.body === 'string' || init?.body instanceof URLSearchParams) {
        const body = new URLSearchParams(init.body);
        body.delete('access_type');
        return fetch(input, { ...init, body: body.toString() });
      }
      return fetch(input, init);
    };
    current = await setup('tdameritrade', { renewWithinDays: 7, fetch: noRenewal });
    dir = await mkdtemp(join(tmpdir(), 'td-token-watch-'));
    const out = join(dir, 'relogin.txt');
    advanceTo(current.sandbox, current.login.refresh_token_expires_at - 6 * DAY);
    const { lines } = await watch(current, 3, { onReloginDue: `echo due >> '${out}'` });
    expect(lines.filter((l) => l.event === 'relogin_due').map((l) => l['reason'])).toEqual([
      'renewal_failed',
    ]);
    expect((await readFile(out, 'utf8')).trim().split('\n')).toEqual(['due']);
  });

  it('waits for a new login when one is required, instead of exiting', async () => {
    current = await setup('schwab');
    const s = current;
    s.sandbox.revokeRefreshToken(s.login.refresh_token);
    advanceTo(s.sandbox, s.login.expires_at + 1000);
    dir = await mkdtemp(join(tmpdir(), 'td-token-watch-'));
    const out = join(dir, 'relogin.txt');
    const { lines, waits } = await watch(s, 4, {
      loginPollMs: 60_000,
      onReloginDue: `echo due >> '${out}'`,
      onSleep: async (index) => {
        if (index === 1) await s.manager.saveLogin(await sandboxLogin(s.sandbox, s.provider));
      },
    });
    expect(events(lines).slice(0, 6)).toEqual([
      'start',
      'login_required',
      'relogin_due',
      'relogin_command',
      'login_required',
      'fresh',
    ]);
    expect(waits.slice(0, 2)).toEqual([60_000, 60_000]);
    expect((await readFile(out, 'utf8')).trim().split('\n')).toEqual(['due']);
  });

  it("runs the re-login command without td-token's secrets in its environment", async () => {
    current = await setup('schwab');
    dir = await mkdtemp(join(tmpdir(), 'td-token-watch-'));
    const out = join(dir, 'env.txt');
    advanceTo(current.sandbox, current.login.refresh_token_expires_at - 47 * HOUR);
    const saved = { ...process.env };
    process.env['TD_TOKEN_PASSPHRASE'] = 'a-passphrase-for-this-test';
    process.env['TD_TOKEN_CLIENT_SECRET'] = 'a-client-secret-for-this-test';
    try {
      await watch(current, 1, { onReloginDue: `env > '${out}'` });
    } finally {
      process.env = saved;
    }
    const env = await readFile(out, 'utf8');
    expect(env).toContain('TD_TOKEN_HOURS_LEFT=');
    expect(env).not.toContain('TD_TOKEN_PASSPHRASE');
    expect(env).not.toContain('TD_TOKEN_CLIENT_SECRET');
  });

  it('tells its notifier how refreshes go: failing for a while, recovered, a login required', async () => {
    current = await setup('schwab', { retry: false });
    // Refreshes keep what the notifier recorded on the token record (as the CLI's do).
    const s: Setup = {
      ...current,
      manager: new TokenManager(current.provider, keepNotificationState(current.store), {
        now: current.sandbox.clock.now,
        retry: false,
      }),
    };
    const hook = await startHttpReceiver();
    try {
      const notifier = createNotifier({
        targets: [parseNotifyTarget(`${hook.origin}/hook`)],
        store: s.store,
        profile: 'default',
        provider: 'sandbox-schwab',
        now: s.sandbox.clock.now,
        failingAfterMs: 10 * MINUTE,
      });
      advanceTo(s.sandbox, s.login.expires_at + 1000);
      // Down for 5 + 10 + 20 + 40 + 80 + 160 + 300 + 300 + 300 s: past 10 minutes, then back.
      s.sandbox.faults.inject({ kind: 'status', status: 503 }, 9);
      const { lines } = await watch(s, 11, {
        notifier,
        onSleep: async () => {
          await notifier.idle();
        },
      });
      await notifier.idle();
      const events = hook.received.map((r) => (JSON.parse(r.body) as { event: string }).event);
      expect(events).toEqual(['refresh_failing', 'refresh_recovered']);
      expect(lines.filter((l) => l.event === 'refresh_failed')).toHaveLength(9);
      // A login required is announced once, however often the watcher finds it so.
      s.sandbox.revokeRefreshToken(s.login.refresh_token);
      const stored = (await s.store.load())!;
      advanceTo(s.sandbox, stored.expires_at + 1000);
      const again = createNotifier({
        targets: [parseNotifyTarget(`${hook.origin}/hook`)],
        store: s.store,
        profile: 'default',
        provider: 'sandbox-schwab',
        now: s.sandbox.clock.now,
      });
      await watch(s, 3, { notifier: again, loginPollMs: 1000, onSleep: () => again.idle() });
      const last = hook.received.slice(2).map((r) => JSON.parse(r.body) as Record<string, unknown>);
      expect(last.map((b) => b['event'])).toEqual(['login_required']);
      expect(last[0]!['provider']).toBe('sandbox-schwab');
    } finally {
      await hook.close();
    }
  });

  it('stops at once when its signal aborts, with the real sleep', async () => {
    current = await setup('schwab');
    const controller = new AbortController();
    const lines: Line[] = [];
    const started = Date.now();
    await runWatch(current.manager, {
      signal: controller.signal,
      log: (line) => {
        lines.push(line as Line);
        if (line['event'] === 'fresh') controller.abort();
      },
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(events(lines)).toEqual(['start', 'fresh', 'stopped']);
  });
});
