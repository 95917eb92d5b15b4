/**
 * The fleet: N real `td-token watch` processes (node dist/cli/main.js) share one token file
 * against the sandbox, each told to notify an HTTPS webhook, an ntfy-shaped receiver and an SMTP
 * server offering STARTTLS. Each event (72 h, 24 h and 2 h left, login required, refreshes
 * failing, recovered) reaches each receiver exactly once. Then `refresh` from cron: two runs
 * send one notification.
 *
 * The refresh token's end is moved by rewriting the stored record under the store's lock (as a
 * login elsewhere would), and refreshes are made to fail with the sandbox's injected 503s, so the
 * watchers run on the real clock with short waits: `--notify-failing-after 3s` makes them check
 * every second.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCertificate } from '../../src/login/cert.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { createStore } from '../../src/stores/index.js';
import type { TokenRecord } from '../../src/token.js';
import {
  assertBuilt,
  type Home,
  makeHome,
  type RunningCli,
  runCli,
  sandboxFlags,
  sandboxLogin,
  startCli,
  writeTokenFile,
} from '../cli/harness.js';
import { recordInvented } from '../helpers/ledger.js';
import {
  type HttpReceiver,
  type SmtpReceiver,
  startHttpReceiver,
  startSmtpReceiver,
} from './receivers.js';

const N = 3;
const HOUR = 3_600_000;
const HOOK_TOKEN = recordInvented('invented_passphrase', 'fleetHookToken-0123456789');
const SMTP_PASSWORD = recordInvented('invented_passphrase', 'fleetSmtpPassword-98765');

let sandbox: Sandbox;
let home: Home;
let hook: HttpReceiver;
let ntfy: HttpReceiver;
let smtp: SmtpReceiver;
let certPath: string;
let certDir: string;

beforeAll(async () => {
  assertBuilt();
  // Access tokens of 302 s, refreshed 300 s before they end: the watchers refresh every 2 s, so
  // refreshes (which must keep what the fleet recorded) go on throughout.
  sandbox = await startSandbox({
    flavor: 'schwab',
    settings: { rateLimitPerMinute: 0, accessTokenLifetimeSec: 302 },
  });
  home = await makeHome();
  certDir = await mkdtemp(join(tmpdir(), 'td-token-notify-cert-'));
  const cert = await ensureCertificate(certDir);
  certPath = cert.certPath;
  hook = await startHttpReceiver({ tls: { key: cert.key, cert: cert.cert } });
  ntfy = await startHttpReceiver({ ntfy: true });
  smtp = await startSmtpReceiver({
    user: 'bot',
    password: SMTP_PASSWORD,
    tls: { key: cert.key, cert: cert.cert },
  });
});

afterAll(async () => {
  await hook?.close();
  await ntfy?.close();
  await smtp?.close();
  await sandbox?.close();
  await home?.cleanup();
  if (certDir !== undefined) await rm(certDir, { recursive: true, force: true });
});

function targets(): string[] {
  return [
    '--notify',
    `${hook.origin.replace('127.0.0.1', 'localhost')}/hooks/${HOOK_TOKEN}`,
    '--notify',
    `ntfy+${ntfy.origin}/td-token-fleet`,
    '--notify',
    `smtp://bot:${SMTP_PASSWORD}@localhost:${smtp.port}?to=me@example.com`,
  ];
}

/** Rewrite the stored record under the store's lock, keeping what the fleet recorded. */
async function rewrite(path: string, change: (r: TokenRecord) => TokenRecord): Promise<void> {
  const store = await createStore({ kind: 'file', path });
  try {
    const lock = await store.lock({ waitMs: 10_000 });
    try {
      const record = await store.load();
      if (record === undefined) throw new Error('no record');
      await lock.save(change(record));
    } finally {
      await lock.release();
    }
  } finally {
    await store.close();
  }
}

/** What each receiver got, as `event@hours_left` (webhook), titles (ntfy) and subjects (mail). */
function got(): { hook: string[]; ntfy: string[]; mail: string[] } {
  return {
    hook: hook.received.map((r) => {
      const b = JSON.parse(r.body) as { event: string };
      return b.event;
    }),
    ntfy: ntfy.received.map((r) => String(r.headers['title'])),
    mail: smtp.mails.map((m) => m.subject),
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(got())}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('N watch processes sharing one token file', () => {
  it('send exactly one of each event to each target', { timeout: 180_000 }, async () => {
    const path = join(home.root, 'tokens', 'token.json');
    const login = await sandboxLogin(sandbox, 'schwab');
    await writeTokenFile(path, { ...login, refresh_token_expires_at: Date.now() + 71 * HOUR });
    const watchers: RunningCli[] = [];
    try {
      for (let i = 0; i < N; i++) {
        watchers.push(
          startCli(
            [
              'watch',
              '--token-file',
              path,
              ...targets(),
              '--notify-failing-after',
              '3s',
              ...sandboxFlags(sandbox, 'schwab'),
            ],
            home,
            { env: { NODE_EXTRA_CA_CERTS: certPath } },
          ),
        );
      }
      for (const w of watchers) await w.waitFor('stdout', /"event":"fresh"/, 30_000);

      const count = (n: number) => () => {
        const g = got();
        return g.hook.length >= n && g.ntfy.length >= n && g.mail.length >= n;
      };
      // Each step: wait for it to arrive everywhere, then three more ticks for any duplicate.
      await until('72 h', count(1));
      await pause(3000);
      await rewrite(path, (r) => ({ ...r, refresh_token_expires_at: Date.now() + 23 * HOUR }));
      await until('24 h', count(2));
      await pause(3000);
      // Refreshes fail (the provider answers 503) until the faults are cleared.
      sandbox.faults.inject({ kind: 'status', status: 503 }, 100_000);
      await until('refreshes failing', count(3), 60_000);
      await pause(2000);
      sandbox.faults.clear();
      await until('recovered', count(4), 60_000);
      await pause(3000);
      await rewrite(path, (r) => ({ ...r, refresh_token_expires_at: Date.now() + HOUR }));
      await until('2 h', count(5));
      await pause(3000);
      await rewrite(path, (r) => ({ ...r, refresh_token_expires_at: Date.now() - 1000 }));
      await until('login required', count(6));
      await pause(3000);
    } finally {
      sandbox.faults.clear();
      for (const w of watchers) w.child.kill('SIGTERM');
    }
    const exits = await Promise.all(watchers.map((w) => w.exited));
    for (const exit of exits) {
      expect(exit.code, exit.stderr).toBe(0);
      // The log names each target masked, never with its secret.
      expect(exit.stdout).toContain('"event":"notify_targets"');
      expect(exit.stdout).not.toContain(HOOK_TOKEN);
      expect(exit.stdout).not.toContain(SMTP_PASSWORD);
    }
    const notified = exits.flatMap((e) =>
      e.stdout.split('\n').filter((l) => l.includes('"event":"notified"')),
    );
    expect(notified, notified.join('\n')).toHaveLength(18);

    const g = got();
    expect(g.hook).toEqual([
      'refresh_token_expiring',
      'refresh_token_expiring',
      'refresh_failing',
      'refresh_recovered',
      'refresh_token_expiring',
      'login_required',
    ]);
    const hours = [0, 1, 4].map(
      (i) => (JSON.parse(hook.received[i]!.body) as { hours_left: number }).hours_left,
    );
    expect(hours[0]).toBeGreaterThan(70);
    expect(hours[0]).toBeLessThanOrEqual(71);
    expect(hours[1]).toBeGreaterThan(22);
    expect(hours[1]).toBeLessThanOrEqual(23);
    expect(hours[2]).toBeGreaterThan(0);
    expect(hours[2]).toBeLessThanOrEqual(1);
    expect(g.ntfy.map((t) => t.replace(/\d+ (hours|minutes)/, 'N $1'))).toEqual([
      'td-token: log in to schwab within N hours (profile default)',
      'td-token: log in to schwab within N hours (profile default)',
      expect.stringMatching(
        /^td-token: refreshing has failed for \d+ seconds \(profile default\)$/,
      ),
      'td-token: refreshing works again (profile default)',
      'td-token: log in to schwab within N minutes (profile default)',
      'td-token: log in to schwab now (profile default)',
    ]);
    expect(g.mail).toEqual(g.ntfy);
    // STARTTLS was offered, so every mail came over TLS, from the logged-in user.
    expect(
      smtp.mails.every((m) => m.secure && m.user === 'bot' && m.to.join() === 'me@example.com'),
    ).toBe(true);
    expect(smtp.mails[5]!.text).toContain(`Log in now: run 'td-token login --token-file ${path}'.`);
    expect(hook.received.every((r) => r.path === `/hooks/${HOOK_TOKEN}`)).toBe(true);
    // Refreshes went on all along, and the record kept what was sent.
    expect(sandbox.counters().token.ok).toBeGreaterThan(5);
    const stored = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(stored).toHaveProperty('notifications.sent.login_required');
  });
});

describe('refresh --notify from cron', () => {
  it('two runs send one notification, and the login command it shows', async () => {
    const before = hook.received.length;
    expect(sandbox.faults.pending()).toBe(0);
    const path = join(home.root, 'cron', 'token.json');
    const login = await sandboxLogin(sandbox, 'schwab');
    await writeTokenFile(path, { ...login, refresh_token_expires_at: Date.now() + 20 * HOUR });
    const url = `${hook.origin.replace('127.0.0.1', 'localhost')}/hooks/${HOOK_TOKEN}`;
    for (let i = 0; i < 2; i++) {
      const result = await runCli(
        [
          'refresh',
          '--profile',
          'paper',
          '--token-file',
          path,
          '--notify',
          url,
          ...sandboxFlags(sandbox, 'schwab'),
        ],
        home,
        { env: { NODE_EXTRA_CA_CERTS: certPath } },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).not.toContain(HOOK_TOKEN);
      if (i === 0) {
        expect(result.stderr).toContain(
          `notified refresh_token_expiring to https://localhost:${new URL(hook.origin).port}/…`,
        );
      } else {
        expect(result.stderr).not.toContain('notified');
      }
    }
    const sent = hook.received
      .slice(before)
      .map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      event: 'refresh_token_expiring',
      profile: 'paper',
      provider: 'schwab',
    });
    expect(sent[0]!['fix']).toBe(
      `Log in again before then: run 'td-token login --profile paper --token-file ${path}'.`,
    );
    expect(JSON.parse(await readFile(path, 'utf8'))).toHaveProperty('notifications.sent');
  });
});
