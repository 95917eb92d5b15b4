/**
 * The notifier against real receivers on loopback (a webhook server, an ntfy-shaped server, an
 * SMTP server from smtp-server) and a real file store that several notifiers share, as the
 * processes of a fleet do: each event is sent once, a failed send is retried, nothing is shown
 * with a secret in it, and the token record keeps every canonical field.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keepNotificationState } from '../../src/notify/keep-state.js';
import { createNotifier, type Notifier, type NotifierOptions } from '../../src/notify/notifier.js';
import { parseNotifyTarget } from '../../src/notify/targets.js';
import { createStore } from '../../src/stores/index.js';
import type { TokenStore } from '../../src/stores/types.js';
import type { TokenRecord } from '../../src/token.js';
import { recordInvented } from '../helpers/ledger.js';
import {
  type HttpReceiver,
  type SmtpReceiver,
  startHttpReceiver,
  startSmtpReceiver,
} from './receivers.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const HOOK_TOKEN = recordInvented('invented_passphrase', 'hookPathToken0123456789abc');
const SMTP_PASSWORD = recordInvented('invented_passphrase', 'smtpPassword-0123456789');

let dir: string;
let stores: TokenStore[] = [];
let notifiers: Notifier[] = [];
let receivers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const n of notifiers) await n.close();
  for (const s of stores) await s.close();
  for (const r of receivers) await r.close();
  notifiers = [];
  stores = [];
  receivers = [];
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function record(refreshEndsAt: number): TokenRecord {
  return {
    access_token: recordInvented('invented_token', `access-${'a'.repeat(40)}`),
    expires_at: T0 + 30 * MINUTE,
    refresh_token: recordInvented('invented_token', `refresh-${'r'.repeat(40)}`),
    refresh_token_expires_at: refreshEndsAt,
    scope: 'api',
    token_type: 'Bearer',
    provider: 'schwab',
    issued_at: T0,
    version: 1,
  };
}

async function fileStore(
  initial?: TokenRecord,
): Promise<{ path: string; open(): Promise<TokenStore> }> {
  dir = await mkdtemp(join(tmpdir(), 'td-token-notify-'));
  const path = join(dir, 'tokens', 'token.json');
  const open = async () => {
    const store = await createStore({ kind: 'file', path });
    stores.push(store);
    return store;
  };
  if (initial) await (await open()).save(initial);
  return { path, open };
}

type Line = { level: string; event: string } & Record<string, unknown>;

function notifier(
  store: TokenStore,
  targets: string[],
  lines: Line[],
  extra: Partial<NotifierOptions> = {},
): Notifier {
  const n = createNotifier({
    targets: targets.map(parseNotifyTarget),
    store,
    profile: 'default',
    provider: 'schwab',
    log: (level, event, fields) => lines.push({ level, event, ...fields }),
    ...extra,
  });
  notifiers.push(n);
  return n;
}

async function webhook(): Promise<HttpReceiver> {
  const r = await startHttpReceiver();
  receivers.push(r);
  return r;
}

describe('createNotifier', () => {
  it('posts each event once to a webhook, however many notifiers share the store', async () => {
    const hook = await webhook();
    const files = await fileStore(record(T0 + 71 * HOUR));
    const lines: Line[] = [];
    const url = `${hook.origin}/services/${HOOK_TOKEN}`;
    const fleet = await Promise.all(
      Array.from({ length: 5 }, async () => notifier(await files.open(), [url], lines)),
    );
    const round = (at: number) => Promise.all(fleet.map((n) => n.check(undefined, at)));
    await round(T0);
    await round(T0 + MINUTE);
    expect(hook.received).toHaveLength(1);
    const first = JSON.parse(hook.received[0]!.body) as Record<string, unknown>;
    expect(first).toMatchObject({
      event: 'refresh_token_expiring',
      profile: 'default',
      provider: 'schwab',
      refresh_token_expires_at: new Date(T0 + 71 * HOUR).toISOString(),
      hours_left: 71,
      fix: "Log in again before then: run 'td-token login'.",
    });
    expect(first['message']).toContain('ends in 71 hours');
    expect(first['text']).toBe(first['content']);
    expect(first['text']).toContain(first['message']);
    expect(hook.received[0]!.headers['content-type']).toBe('application/json');
    // 24 h, 2 h, then the end: one each; 72 h is never sent again.
    for (const at of [
      T0 + 48 * HOUR,
      T0 + 48 * HOUR + MINUTE,
      T0 + 70 * HOUR,
      T0 + 71 * HOUR + 1,
    ]) {
      await round(at);
    }
    await round(T0 + 72 * HOUR);
    const events = hook.received.map((r) => {
      const b = JSON.parse(r.body) as { event: string; hours_left: number };
      return `${b.event}@${b.hours_left}`;
    });
    expect(events).toEqual([
      'refresh_token_expiring@71',
      'refresh_token_expiring@23',
      'refresh_token_expiring@1',
      'login_required@0',
    ]);
    // The record keeps every canonical field, and the log names the target masked.
    const stored = JSON.parse(await readFile(files.path, 'utf8')) as Record<string, unknown>;
    const { notifications, ...canonical } = stored;
    expect(canonical).toEqual(record(T0 + 71 * HOUR));
    expect(notifications).toMatchObject({ sent: { login_required: T0 + 71 * HOUR + 1 } });
    expect(lines.filter((l) => l.event === 'notified')).toHaveLength(4);
    expect(lines[0]).toMatchObject({ event: 'notified', target: `${hook.origin}/…` });
    expect(JSON.stringify(lines)).not.toContain(HOOK_TOKEN);
  });

  it('retries a failed webhook on a later tick, logging it masked, and sends it once', async () => {
    const hook = await webhook();
    hook.failNext(500, 503);
    const files = await fileStore(record(T0 + 20 * HOUR));
    const lines: Line[] = [];
    const url = `${hook.origin}/hook?token=${HOOK_TOKEN}`;
    const a = notifier(await files.open(), [url], lines, { now: () => T0 });
    const b = notifier(await files.open(), [url], lines, { now: () => T0 });
    await a.check(undefined, T0);
    // b sees a's claim and stays silent while a waits to retry.
    await b.check(undefined, T0 + 1000);
    expect(hook.received).toHaveLength(1);
    const failed = lines.find((l) => l.event === 'notify_failed');
    expect(failed).toMatchObject({
      level: 'warn',
      notification: 'refresh_token_expiring',
      target: `${hook.origin}/…?…`,
      error: 'answered HTTP 500',
    });
    await a.check(undefined, T0 + a.tickMs); // fails again (503)
    await a.check(undefined, T0 + a.tickMs * 2); // still waiting: 2 ticks after the second try
    await a.check(undefined, T0 + a.tickMs * 4);
    await b.check(undefined, T0 + a.tickMs * 5);
    expect(hook.received.map((r) => r.path)).toEqual([
      `/hook?token=${HOOK_TOKEN}`,
      `/hook?token=${HOOK_TOKEN}`,
      `/hook?token=${HOOK_TOKEN}`,
    ]);
    expect(lines.filter((l) => l.event === 'notified')).toHaveLength(1);
    expect(JSON.stringify(lines)).not.toContain(HOOK_TOKEN);
  });

  it('sends to an ntfy topic with its title and priority headers', async () => {
    const ntfy = await startHttpReceiver({ ntfy: true });
    receivers.push(ntfy);
    const files = await fileStore(record(T0 - 1));
    const lines: Line[] = [];
    const n = notifier(await files.open(), [`ntfy+${ntfy.origin}/td-token-alerts`], lines, {
      reloginUrl: () => 'https://phone.example/relogin/abc',
    });
    await n.check(undefined, T0);
    expect(ntfy.received).toHaveLength(1);
    const got = ntfy.received[0]!;
    expect(got.path).toBe('/td-token-alerts');
    expect(got.headers['title']).toBe('td-token: log in to schwab now (profile default)');
    expect(got.headers['priority']).toBe('urgent');
    expect(got.headers['tags']).toBe('rotating_light');
    expect(got.headers['click']).toBe('https://phone.example/relogin/abc');
    expect(got.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(got.body).toContain("Log in now: run 'td-token login'.");
    expect(got.body).toContain('Re-login page: https://phone.example/relogin/abc');
    expect(lines.map((l) => l.event)).toEqual(['notified']);
  });

  it('e-mails through a real SMTP server: sender, recipients, subject and body; a refused mail is sent again', async () => {
    const smtp: SmtpReceiver = await startSmtpReceiver({ user: 'bot', password: SMTP_PASSWORD });
    receivers.push(smtp);
    smtp.refuseNext(1);
    const files = await fileStore(record(T0 + 90 * MINUTE));
    const lines: Line[] = [];
    const target = `smtp://bot:${SMTP_PASSWORD}@127.0.0.1:${smtp.port}?to=me@example.com&from=td-token@example.com`;
    const n = notifier(await files.open(), [target], lines, { profile: 'live' });
    await n.check(undefined, T0);
    expect(smtp.mails).toHaveLength(0);
    const failed = lines.find((l) => l.event === 'notify_failed');
    expect(failed?.['target']).toBe(`smtp://bot:…@127.0.0.1:${smtp.port}?to=me@example.com`);
    expect(String(failed?.['error'])).toContain('451');
    await n.check(undefined, T0 + n.tickMs);
    await n.check(undefined, T0 + 2 * n.tickMs);
    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0]!;
    expect(mail.from).toBe('td-token@example.com');
    expect(mail.to).toEqual(['me@example.com']);
    expect(mail.user).toBe('bot');
    expect(mail.secure).toBe(false);
    expect(mail.subject).toBe('td-token: log in to schwab within 89 minutes (profile live)');
    expect(mail.text).toContain('The refresh token of profile "live" (schwab) ends in 89 minutes');
    expect(mail.text).toContain("run 'td-token login --profile live'");
    expect(JSON.stringify(lines)).not.toContain(SMTP_PASSWORD);
  });

  it('announces refreshes failing for 30 minutes once, and their recovery once', async () => {
    const hook = await webhook();
    const files = await fileStore(record(T0 + 100 * HOUR));
    const lines: Line[] = [];
    let clock = T0;
    const fleet = await Promise.all(
      [0, 1, 2].map(async () =>
        notifier(await files.open(), [`${hook.origin}/x`], lines, { now: () => clock }),
      ),
    );
    const failure = Object.assign(new Error('down'), { code: 'provider_unavailable' });
    await Promise.all(fleet.map((n) => n.refreshFailed(failure)));
    clock = T0 + 29 * MINUTE;
    await Promise.all(fleet.map((n) => n.check(undefined, clock)));
    expect(hook.received).toHaveLength(0);
    clock = T0 + 31 * MINUTE;
    await Promise.all(fleet.map((n) => n.check(undefined, clock)));
    await Promise.all(fleet.map((n) => n.refreshFailed(failure)));
    clock = T0 + 40 * MINUTE;
    await Promise.all(fleet.map((n) => n.refreshSucceeded()));
    await Promise.all(fleet.map((n) => n.check(undefined, clock + MINUTE)));
    const bodies = hook.received.map(
      (r) => JSON.parse(r.body) as { event: string; message: string },
    );
    expect(bodies.map((b) => b.event)).toEqual(['refresh_failing', 'refresh_recovered']);
    expect(bodies[0]!.message).toContain('has kept failing since 2026-01-05T12:00:00.000Z');
    expect(bodies[1]!.message).toContain('after failing for 40 minutes');
    // A short failure, never announced, recovers in silence.
    await Promise.all(fleet.map((n) => n.refreshFailed(failure)));
    clock += 5 * MINUTE;
    await Promise.all(fleet.map((n) => n.refreshSucceeded()));
    expect(hook.received).toHaveLength(2);
  });

  it("runs exec: commands with the notification and without td-token's secrets", async () => {
    const files = await fileStore(record(T0 + HOUR));
    const out = join(dir, 'exec.txt');
    const lines: Line[] = [];
    const saved = { ...process.env };
    process.env['TD_TOKEN_PASSPHRASE'] = recordInvented(
      'invented_passphrase',
      'passphrase-for-the-exec-test',
    );
    process.env['TD_TOKEN_CLIENT_SECRET'] = 'client-secret-for-the-test';
    try {
      const n = notifier(await files.open(), [`exec:{ env; echo; cat; } > '${out}'`], lines);
      await n.check(undefined, T0);
    } finally {
      process.env = saved;
    }
    const text = await readFile(out, 'utf8');
    expect(text).toContain('TD_TOKEN_EVENT=refresh_token_expiring');
    expect(text).toContain('TD_TOKEN_HOURS_LEFT=1');
    expect(text).toContain('"event":"refresh_token_expiring"');
    expect(text).not.toContain('TD_TOKEN_PASSPHRASE');
    expect(text).not.toContain('TD_TOKEN_CLIENT_SECRET');
    expect(lines).toEqual([
      {
        level: 'info',
        event: 'notified',
        notification: 'refresh_token_expiring',
        target: 'exec:{ …',
      },
    ]);
  });

  it('shows desktop notifications through notify-send, which gets no secrets', async () => {
    const files = await fileStore(record(T0 - 1));
    const bin = join(dir, 'bin');
    const out = join(dir, 'notify-send.txt');
    await import('node:fs/promises').then((fs) => fs.mkdir(bin));
    // A stand-in notify-send on PATH that records its arguments and environment.
    await writeFile(
      join(bin, 'notify-send'),
      `#!/bin/sh\nprintf '%s\\n' "$@" > '${out}'\nenv >> '${out}'\n`,
    );
    await chmod(join(bin, 'notify-send'), 0o755);
    const saved = { ...process.env };
    process.env['PATH'] = `${bin}:${saved['PATH'] ?? ''}`;
    process.env['TD_TOKEN_PASSPHRASE'] = 'passphrase-for-the-desktop-test';
    const lines: Line[] = [];
    try {
      await notifier(await files.open(), ['desktop'], lines).check(undefined, T0);
    } finally {
      process.env = saved;
    }
    const text = await readFile(out, 'utf8');
    expect(text.split('\n').slice(0, 3)).toEqual([
      '--app-name=td-token',
      '--urgency=critical',
      'td-token: log in to schwab now (profile default)',
    ]);
    expect(text).not.toContain('TD_TOKEN_PASSPHRASE');
    expect(lines.map((l) => l.event)).toEqual(['notified']);
  });

  it('says nothing and saves nothing without targets', async () => {
    const files = await fileStore(record(T0 - 1));
    const store = await files.open();
    const before = await readFile(files.path, 'utf8');
    const n = notifier(store, [], []);
    await n.check(undefined, T0);
    await n.refreshFailed(new Error('x'));
    expect(await readFile(files.path, 'utf8')).toBe(before);
  });
});

describe('keepNotificationState', () => {
  it('keeps the stored state when a save (a refresh) brings a record without it', async () => {
    const hook = await webhook();
    const files = await fileStore(record(T0 + HOUR));
    const raw = await files.open();
    await notifier(raw, [`${hook.origin}/x`], []).check(undefined, T0);
    const kept = keepNotificationState(raw);
    const refreshed = { ...record(T0 + HOUR), access_token: 'new-access-token-0123456789' };
    const lock = await kept.lock();
    try {
      await kept.load();
      await lock.save(refreshed);
    } finally {
      await lock.release();
    }
    const lock2 = await kept.lock();
    try {
      await lock2.save({ ...refreshed, expires_at: refreshed.expires_at + 1 });
    } finally {
      await lock2.release();
    }
    const stored = JSON.parse(await readFile(files.path, 'utf8')) as Record<string, unknown>;
    expect(stored['access_token']).toBe('new-access-token-0123456789');
    expect(stored['notifications']).toMatchObject({ sent: { expiring_2h: T0 } });
    // The next check sends nothing again.
    await notifier(raw, [`${hook.origin}/x`], []).check(undefined, T0 + MINUTE);
    expect(hook.received).toHaveLength(1);
  });
});
