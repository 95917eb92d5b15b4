/**
 * Logging in again from anywhere, as a person or a script runs it: `login --print-url` then
 * `login --callback-url URL|-` (two processes), `login --auth-command CMD` (a real command that
 * logs in to the sandbox), the notice before replacing a stored login that still has days left,
 * and the question before replacing a record the configured passphrase cannot open. Against a
 * real sandbox, with the built command line.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isTdTokenError } from '../../src/errors.js';
import { confirmReplacement } from '../../src/login/replace-guard.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';
import { assertBuilt, type Home, makeHome, readTokenFile, runCli, sandboxEnv } from './harness.js';

const APPROVE = fileURLToPath(new URL('../sandbox/fixtures/approve-command.mjs', import.meta.url));
const AUTH_COMMAND = `"${process.execPath}" "${APPROVE}"`;

let sandbox: Sandbox;
let home: Home;
let env: Record<string, string>;

beforeAll(async () => {
  assertBuilt();
  sandbox = await startSandbox({ flavor: 'schwab' });
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(async () => {
  home = await makeHome();
  env = sandboxEnv(sandbox, 'schwab');
});
afterEach(async () => {
  await home.cleanup();
});

function tokenPath(profile = 'default'): string {
  return join(home.configDir, 'tokens', `${profile}.json`);
}

function login(args: string[], options: { env?: Record<string, string>; input?: string } = {}) {
  return runCli(['login', ...args], home, {
    env: { ...env, ...options.env },
    ...(options.input === undefined ? {} : { input: options.input }),
    timeoutMs: 30_000,
  });
}

describe('login --print-url, then --callback-url', () => {
  it('prints only the URL on stdout, keeps the pending login, and completes it in another process', async () => {
    const printed = await login(['--print-url']);
    expect(printed.code, printed.stderr).toBe(0);
    const url = printed.stdout.trim();
    expect(printed.stdout).toBe(`${url}\n`);
    expect(url.startsWith(sandbox.authorizeUrl)).toBe(true);
    expect(printed.stderr).toContain('td-token login --callback-url');
    const pending = join(home.configDir, 'pending-logins', 'default.json');
    expect((await stat(pending)).mode & 0o777).toBe(0o600);

    const callback = await approveInSandbox(url);
    const done = await login(['--callback-url', callback]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe('');
    expect(done.stderr).toMatch(/logged in to schwab as profile default/);
    expect((await readTokenFile(tokenPath())).refresh_token).toMatch(/\S/);
    await expect(stat(pending)).rejects.toThrow();

    const again = await login(['--callback-url', callback]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/was used already/);
  });

  it('--callback-url - reads the address from stdin', async () => {
    const printed = await login(['--print-url']);
    const callback = await approveInSandbox(printed.stdout.trim());
    const done = await login(['--callback-url', '-'], { input: `\n  ${callback}  \n` });
    expect(done.code, done.stderr).toBe(0);
    expect((await readTokenFile(tokenPath())).access_token).toMatch(/\S/);
  });

  it("another profile's callback is refused, naming the profile it belongs to", async () => {
    const printed = await login(['--print-url', '--profile', 'paper']);
    expect(printed.code, printed.stderr).toBe(0);
    const callback = await approveInSandbox(printed.stdout.trim());
    const wrong = await login(['--callback-url', callback, '--profile', 'live']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/pending login of profile paper, not live/);
    const right = await login(['--callback-url', callback, '--profile', 'paper']);
    expect(right.code, right.stderr).toBe(0);
    expect((await readTokenFile(tokenPath('paper'))).access_token).toMatch(/\S/);
  });

  it('the new flags do not mix with each other or with the login server flags', async () => {
    for (const args of [
      ['--print-url', '--manual'],
      ['--print-url', '--callback-url', 'x'],
      ['--auth-command', 'true', '--keep-running'],
      ['--callback-url', 'x', '--no-browser'],
    ]) {
      const result = await login(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/do not go together|does not apply|do not apply/);
    }
  });
});

describe('login --auth-command', () => {
  it("logs in through the command, which gets the URL but none of td-token's secrets", async () => {
    const report = join(home.root, 'report.json');
    const result = await login(['--auth-command', AUTH_COMMAND], {
      env: { APPROVE_REPORT: report, TD_TOKEN_PASSPHRASE: 'correct horse battery staple' },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('approve-command: logging in to the sandbox');
    const seen = JSON.parse(await readFile(report, 'utf8')) as Record<string, unknown>;
    expect(String(seen['envUrl']).startsWith(sandbox.authorizeUrl)).toBe(true);
    expect(seen['stdinUrl']).toBe(seen['envUrl']);
    expect(seen).toMatchObject({ hasPassphrase: false, hasClientSecret: false });
    const token = await runCli(['token'], home, {
      env: { ...env, TD_TOKEN_PASSPHRASE: 'correct horse battery staple' },
    });
    expect(token.code, token.stderr).toBe(0);
  });

  it('a command that prints no callback URL fails with its exit status', async () => {
    const result = await login(['--auth-command', 'echo nothing here; exit 4']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/exit status 4/);
  });
});

describe('replacing a stored login', () => {
  it('with days left: says so before the URL; without a terminal goes ahead and says so', async () => {
    const first = await login(['--auth-command', AUTH_COMMAND]);
    expect(first.code, first.stderr).toBe(0);
    const second = await login(['--print-url']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/refresh token is good for another 7 days/);
    expect(second.stderr).toMatch(/replaces that refresh token for every holder of this login/);
    expect(second.stderr).toMatch(/no terminal to ask in, so going ahead/);
    const third = await login(['--print-url', '--yes']);
    expect(third.code).toBe(0);
    expect(third.stderr).not.toMatch(/no terminal to ask in/);
  });

  it('a record the passphrase cannot open: refused without --yes (file untouched), replaced with it', async () => {
    const first = await login(['--auth-command', AUTH_COMMAND], {
      env: { TD_TOKEN_PASSPHRASE: 'the right passphrase' },
    });
    expect(first.code, first.stderr).toBe(0);
    const before = await readFile(tokenPath(), 'utf8');
    const typo = await login(['--auth-command', AUTH_COMMAND], {
      env: { TD_TOKEN_PASSPHRASE: 'the rigth passphrase' },
    });
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/mistyped passphrase/);
    expect(typo.stderr).toMatch(/pass --yes to replace it/);
    expect(await readFile(tokenPath(), 'utf8')).toBe(before);
    const yes = await login(['--auth-command', AUTH_COMMAND, '--yes'], {
      env: { TD_TOKEN_PASSPHRASE: 'the rigth passphrase' },
    });
    expect(yes.code, yes.stderr).toBe(0);
    const token = await runCli(['token'], home, {
      env: { ...env, TD_TOKEN_PASSPHRASE: 'the rigth passphrase' },
    });
    expect(token.code, token.stderr).toBe(0);
  });
});

describe('the question at a terminal', () => {
  function streams(answer: string) {
    const input = new PassThrough();
    let said = '';
    const output = new Writable({
      write(chunk: Buffer, _enc, done) {
        said += chunk.toString();
        if (said.endsWith('[y/N] ')) input.write(answer);
        done();
      },
    });
    return { input, output, said: () => said };
  }
  const live = { kind: 'live' as const, refreshTokenExpiresAt: Date.now() + 5 * 86_400_000 };

  it('"y" goes on; anything else cancels and keeps the stored login', async () => {
    const yes = streams('y\n');
    await confirmReplacement(live, { yes: false, isTTY: true, location: 'file t.json', ...yes });
    expect(yes.said()).toMatch(/log in anyway and replace it\? \[y\/N\] $/);
    const no = streams('\n');
    const error = await confirmReplacement(live, {
      yes: false,
      isTTY: true,
      location: 'file t.json',
      ...no,
    }).catch((e: unknown) => e);
    expect(isTdTokenError(error)).toBe(true);
    expect((error as Error).message).toMatch(/the stored login was kept/);
    const typo = streams('n\n');
    const refused = await confirmReplacement(
      { kind: 'unreadable', reason: 'the configured passphrase or key file cannot open it' },
      { yes: false, isTTY: true, location: 'file t.json', ...typo },
    ).catch((e: unknown) => e);
    expect(isTdTokenError(refused, 'decrypt_failed')).toBe(true);
  });
});
