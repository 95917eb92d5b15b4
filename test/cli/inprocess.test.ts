/**
 * Commands run in-process against a real sandbox, with the sandbox's clock and faults injected
 * into the command's world: `status --verify` on a refresh token a later login superseded, a
 * corrupt token file, flag typos, the refresh token never shown, and the world itself (the
 * configuration left as resolved, secrets kept per run).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openContext } from '../../src/cli/context.js';
import { commandContext, loadConfig } from '../../src/cli/world.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { maskToken } from '../../src/token.js';
import {
  type Home,
  makeHome,
  readTokenFile,
  sandboxFlags,
  sandboxLogin,
  writeTokenFile,
} from './harness.js';
import {
  expectKeptAndMarkedRefused,
  runInProcess,
  sandboxClock,
  withSandbox,
} from './inprocess.js';

let sandbox: Sandbox;
let home: Home;
let tokenFile: string;
let flags: string[];

beforeAll(async () => {
  sandbox = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
});

afterAll(async () => {
  await sandbox?.close();
});

beforeEach(async () => {
  home = await makeHome();
  tokenFile = join(home.cwd, 'output', 'token.json');
  flags = [...sandboxFlags(sandbox, 'schwab'), '--token-file', tokenFile];
  sandbox.faults.clear();
});

afterEach(async () => {
  await home.cleanup();
});

const run = (args: string[]) => runInProcess(args, home, { deps: sandboxClock(sandbox) });

async function loggedIn() {
  const record = await sandboxLogin(sandbox, 'schwab');
  await writeTokenFile(tokenFile, record);
  sandbox.resetCounters();
  return record;
}

describe('status of a refused or an assumed refresh token', () => {
  it('a refresh token the provider refused: status says so and exits 3, asking the provider nothing', async () => {
    const record = await loggedIn();
    await writeTokenFile(tokenFile, { ...record, expires_at: sandbox.clock.now() - 1000 });
    sandbox.revokeRefreshToken(record.refresh_token);
    expect((await run(['token', ...flags])).code).toBe(3);
    sandbox.resetCounters();
    const r = await run(['status', '--offline', ...flags]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/refresh token: {2}.+, refused by the provider /);
    expect(r.stderr).not.toContain("the next 'td-token token' refreshes it");
    expect(r.stderr).toMatch(/problem: the provider refused the refresh token/);
    const json = JSON.parse((await run(['status', '--offline', '--json', ...flags])).stdout);
    expect(json.refreshToken).toMatchObject({ valid: false, refusedAt: expect.any(String) });
    expect(sandbox.counters().token.total).toBe(0);
  });

  it('a refresh token whose lifetime the server never said: "expiry unknown", no expiry warning', async () => {
    const record = await loggedIn();
    // An assumed expiry 1 hour away would warn if it were believed.
    await writeTokenFile(tokenFile, {
      ...record,
      refresh_token_expires_at: sandbox.clock.now() + 3_600_000,
      refresh_token_expiry_assumed: true,
    });
    const r = await run(['status', '--offline', ...flags]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('expiry unknown (the server does not say');
    expect(r.stderr).not.toMatch(/refresh token expires/);
    const json = JSON.parse((await run(['status', '--offline', '--json', ...flags])).stdout);
    expect(json.refreshToken).toMatchObject({
      expiryKnown: false,
      expiresAt: null,
      daysLeft: null,
    });
  });
});

describe('status --verify', () => {
  it('a refresh token a later login superseded: "replaced or revoked: log in again", exit 3', async () => {
    const first = await loggedIn();
    // Without --verify, the stored login looks fine: nothing asks the provider about it.
    const plain = await run(['status', ...flags]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toContain('ok: logged in');
    // A second browser login of the same app (another machine, another tool) supersedes it.
    await sandboxLogin(sandbox, 'schwab');
    sandbox.resetCounters();
    const before = await readFile(tokenFile, 'utf8');

    const r = await run(['status', '--verify', ...flags]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('verified:       replaced or revoked: log in again');
    expect(r.stderr).toMatch(/problem: the provider refused the refresh token: it was replaced/);
    expect(r.stderr).toMatch(/\n {2}fix: td-token login --provider schwab/);
    expect(r.stderr).not.toContain('ok: logged in');
    expect(r.stderr).not.toContain(first.refresh_token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    expectKeptAndMarkedRefused(before, await readFile(tokenFile, 'utf8'));

    const json = await run(['status', '--verify', '--json', ...flags]);
    expect(json.code).toBe(3);
    const report = JSON.parse(json.stdout);
    expect(report.verify).toEqual({ accepted: false, detail: 'replaced or revoked: log in again' });
    expect(report.problems.map((p: { code: string }) => p.code)).toContain(
      'refresh_token_replaced',
    );
  });

  it('a live refresh token: one refresh, saved like any refresh, exit 0', async () => {
    const record = await loggedIn();
    const r = await run(['status', '--verify', '--json', ...flags]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.verify.accepted).toBe(true);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    const stored = await readTokenFile(tokenFile);
    expect(stored.access_token).not.toBe(record.access_token);
    expect(stored.refresh_token).toBe(record.refresh_token);
    expect(report.accessToken.token).toBe(maskToken(stored.access_token));
  });

  it('a provider down: exit 1 (not 3), the stored token kept', async () => {
    await loggedIn();
    const before = await readFile(tokenFile, 'utf8');
    sandbox.faults.inject({ kind: 'status', status: 503 }, 10);
    const r = await run(['status', '--verify', ...flags]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/problem: the refresh token could not be verified/);
    expect(await readFile(tokenFile, 'utf8')).toBe(before);
  });

  it('cannot go with --offline (usage, exit 2)', async () => {
    const r = await run(['status', '--verify', '--offline', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("run 'td-token status --help' for usage");
  });
});

describe('status on a token file that cannot be read', () => {
  it('a truncated file: exit 1, says the store cannot be read, not "none stored"', async () => {
    await mkdir(join(home.cwd, 'output'), { recursive: true, mode: 0o700 });
    await writeFile(tokenFile, '{"access_token": "abc", "expires_at": ', { mode: 0o600 });
    const r = await run(['status', ...flags]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('token:          the store cannot be read');
    expect(r.stderr).not.toContain('none stored');
    expect(r.stderr).toMatch(/problem: .*token\.json/);
    const json = await run(['status', '--json', ...flags]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).problems[0].code).toBe('store_unreadable');
  });
});

describe('status --show-token', () => {
  it('shows the access token, never the refresh token (text and JSON)', async () => {
    const record = await loggedIn();
    const text = await run(['status', '--show-token', '--offline', ...flags]);
    expect(text.code).toBe(0);
    expect(text.stderr).toContain(`access token:   ${record.access_token},`);
    expect(text.stderr).not.toContain(record.refresh_token);
    expect(text.stderr).toContain(`refresh token:  ${maskToken(record.refresh_token)},`);
    const json = await run(['status', '--json', '--show-token', '--offline', ...flags]);
    expect(json.stdout).not.toContain(record.refresh_token);
  });
});

describe('flag typos', () => {
  it('suggest the nearest flag and point at the command own --help', async () => {
    const r = await run(['status', '--jsno']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      "td-token: unknown flag --jsno for 'td-token status'. did you mean '--json'?\nrun 'td-token status --help' for usage\n",
    );
    const global = await run(['token', '--profle', 'x']);
    expect(global.stderr).toContain("did you mean '--profile'?");
    expect(global.stderr).toContain("run 'td-token token --help' for usage");
    const far = await run(['token', '--zzzzzz']);
    expect(far.stderr).not.toContain('did you mean');
  });
});

describe('the injected clock', () => {
  it('moving the sandbox clock past the access token makes token refresh, with no sleeping', async () => {
    // A sandbox of its own: its clock only moves forward.
    const own = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
    try {
      const ownFlags = [...sandboxFlags(own, 'schwab'), '--token-file', tokenFile];
      const record = await sandboxLogin(own, 'schwab');
      await writeTokenFile(tokenFile, record);
      const runOwn = (args: string[]) => runInProcess(args, home, { deps: sandboxClock(own) });
      const fresh = await runOwn(['token', ...ownFlags]);
      expect(fresh.stdout).toBe(`${record.access_token}\n`);
      expect(own.counters().token.refresh_token).toBe(0);
      own.clock.advance(31 * 60_000);
      const r = await runOwn(['token', ...ownFlags]);
      expect(r.code).toBe(0);
      const stored = await readTokenFile(tokenFile);
      expect(stored.access_token).not.toBe(record.access_token);
      expect(r.stdout).toBe(`${stored.access_token}\n`);
      expect(own.counters().token.refresh_token).toBe(1);
    } finally {
      await own.close();
    }
  });
});

describe('the world', () => {
  it('the sandbox endpoints come beside the configuration; the configuration is not rewritten', async () => {
    const cli = commandContext(withSandbox(sandbox));
    const io = {
      stdout: process.stdout,
      stderr: process.stderr,
      stdin: process.stdin,
      env: home.env,
      cwd: home.cwd,
      isTTY: false,
    };
    const config = await loadConfig(cli, io, {});
    expect(config.provider).toBe('sandbox-schwab');
    const sourcesBefore = structuredClone(config.sources);
    const ctx = await openContext(cli, io, {}, { config });
    try {
      expect(ctx.sandbox.kind).toBe('in-process');
      expect(ctx.provider.tokenUrl).toBe(sandbox.tokenUrl);
      expect(ctx.sources.tokenUrl).toEqual({
        kind: 'sandbox',
        name: 'a sandbox started by this command',
      });
      expect(config.sources).toEqual(sourcesBefore);
    } finally {
      await ctx.close();
    }
  });

  it('secrets are kept per run: one run masks what it saw, the next starts with none', () => {
    const a = commandContext();
    const b = commandContext();
    a.secrets.remember('SECRET-VALUE-1', undefined, '');
    expect([...a.secrets]).toEqual(['SECRET-VALUE-1']);
    expect([...b.secrets]).toEqual([]);
  });
});
