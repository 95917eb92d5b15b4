/**
 * The newcomer's path with nothing configured: `login --manual` (stdin piped) with no sandbox
 * running, then `token`, `status` and `refresh` in other processes, each starting a sandbox inside
 * itself that reads the tokens kept in the config folder; and `td-token sandbox` started before or
 * after, on the same tokens. Also `watch` and `cert`.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';
import {
  assertBuilt,
  type Home,
  makeHome,
  type RunningCli,
  readTokenFile,
  runCli,
  sandboxFlags,
  sandboxLogin,
  startCli,
  writeTokenFile,
} from './harness.js';
import { runInProcess } from './inprocess.js';

let home: Home;
const running: RunningCli[] = [];

beforeAll(() => assertBuilt());

beforeEach(async () => {
  home = await makeHome();
});

afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
  await home.cleanup();
});

/** `login --manual`: read the URL it prints, log in through the sandbox's forms, paste the callback. */
async function manualLogin(args: string[] = []): Promise<{ stderr: string; code: number | null }> {
  const login = startCli(['login', '--manual', ...args], home);
  running.push(login);
  const [, url] = await login.waitFor('stderr', /\n\s+(http:\/\/127\.0\.0\.1:\d+\/\S+)\n/);
  const callback = await approveInSandbox(url as string);
  login.child.stdin.end(`${callback}\n`);
  const result = await login.exited;
  return { stderr: result.stderr, code: result.code };
}

/** The JSON report of `status --json`. */
async function status(args: string[] = []): Promise<{ code: number | null; report: unknown }> {
  const r = await runCli(['status', '--json', ...args], home);
  return { code: r.code, report: JSON.parse(r.stdout) };
}

describe('zero configuration', () => {
  it('login with no sandbox running, then token, status and refresh in other processes; then td-token sandbox on the same tokens', async () => {
    const stateFile = join(home.configDir, 'sandbox', 'schwab-state.json');
    const offline = await status(['--offline']);
    expect(offline.code).toBe(3);
    expect(offline.report).toMatchObject({
      sandbox: { state: 'not-started', url: null, stateFile },
      endpoints: { tokenUrl: null },
      fix: 'td-token login',
    });

    const login = await manualLogin();
    expect(login.code).toBe(0);
    expect(login.stderr).toContain(
      `logging in to a schwab sandbox started by this command; it keeps its tokens in ${stateFile}`,
    );
    expect(login.stderr).not.toContain('warning');
    expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
    const tokenFile = join(home.configDir, 'tokens', 'default.json');
    const stored = await readTokenFile(tokenFile);

    const token = await runCli(['token'], home);
    expect(token).toMatchObject({ code: 0, stdout: `${stored.access_token}\n`, stderr: '' });

    const ok = await status();
    expect(ok.code).toBe(0);
    expect(ok.report).toMatchObject({
      ok: true,
      sandbox: { state: 'in-process', stateFile },
      api: { accepted: true },
    });

    const refresh = await runCli(['refresh', '--force'], home);
    expect(refresh.code).toBe(0);
    const refreshed = await readTokenFile(tokenFile);
    expect(refreshed.access_token).not.toBe(stored.access_token);
    const after = await runCli(['token'], home);
    expect(after).toMatchObject({ code: 0, stdout: `${refreshed.access_token}\n`, stderr: '' });

    // A token the client thinks expired: 'token' refreshes it through a sandbox of its own.
    await writeTokenFile(tokenFile, { ...refreshed, expires_at: Date.now() - 1000 });
    const renewed = await runCli(['token'], home);
    expect(renewed.code).toBe(0);
    expect(renewed.stdout).not.toBe(`${refreshed.access_token}\n`);
    expect(renewed.stdout).toBe(`${(await readTokenFile(tokenFile)).access_token}\n`);

    // td-token sandbox, started afterwards, knows those tokens; and the next in-process one
    // knows what it issued.
    const sandbox = startCli(['sandbox'], home);
    running.push(sandbox);
    const [line] = await sandbox.waitFor('stdout', /^\{.*\}\n/);
    const info = JSON.parse(line as string);
    const withSandbox = await status();
    expect(withSandbox.code).toBe(0);
    expect(withSandbox.report).toMatchObject({
      ok: true,
      sandbox: { state: 'running', url: info.url, stateFile },
      api: { accepted: true },
    });
    expect((await runCli(['refresh', '--force'], home)).code).toBe(0);
    const fromSandbox = await readTokenFile(tokenFile);
    expect(await runCli(['token'], home)).toMatchObject({
      code: 0,
      stdout: `${fromSandbox.access_token}\n`,
    });
    sandbox.child.kill('SIGTERM');
    expect((await sandbox.exited).code).toBe(0);
    const afterSandbox = await status();
    expect(afterSandbox.code).toBe(0);
    expect(afterSandbox.report).toMatchObject({
      sandbox: { state: 'in-process' },
      api: { accepted: true },
    });
  }, 60_000);

  it('td-token sandbox + login --manual + token + refresh + status; refresh still works once it stops', async () => {
    const sandbox = startCli(['sandbox'], home);
    running.push(sandbox);
    const [line] = await sandbox.waitFor('stdout', /^\{.*\}\n/);
    const info = JSON.parse(line as string);
    expect(info).toMatchObject({ flavor: 'schwab', pid: sandbox.child.pid });
    expect(sandbox.stderr()).toContain('client secret:  SandboxSecret000');
    const recordFile = join(home.configDir, 'sandbox', 'schwab.json');
    expect((await stat(recordFile)).mode & 0o777).toBe(0o600);

    const before = await status();
    expect(before.code).toBe(3);
    expect(before.report).toMatchObject({
      provider: 'sandbox-schwab',
      sandbox: { state: 'running', url: info.url },
      endpoints: { tokenUrl: info.tokenUrl },
      loggedIn: false,
      fix: 'td-token login',
    });

    const login = await manualLogin();
    expect(login.code).toBe(0);
    expect(login.stderr).toContain(`logging in to the td-token sandbox at ${info.url}`);
    expect(login.stderr).toMatch(
      /logged in to sandbox-schwab as profile default; the token is stored in file /,
    );

    const tokenFile = join(home.configDir, 'tokens', 'default.json');
    const stored = await readTokenFile(tokenFile);
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    const token = await runCli(['token'], home);
    expect(token).toMatchObject({ code: 0, stdout: `${stored.access_token}\n`, stderr: '' });

    const refresh = await runCli(['refresh', '--force'], home);
    expect(refresh.code).toBe(0);
    expect((await readTokenFile(tokenFile)).access_token).not.toBe(stored.access_token);

    const ok = await status();
    expect(ok.code).toBe(0);
    expect(ok.report).toMatchObject({ ok: true, api: { accepted: true } });

    sandbox.child.kill('SIGTERM');
    const end = await sandbox.exited;
    expect(end.code).toBe(0);
    expect(end.stderr).toContain('sandbox stopped');
    await expect(stat(recordFile)).rejects.toMatchObject({ code: 'ENOENT' });

    const again = await runCli(['refresh', '--force'], home);
    expect(again.code).toBe(0);
    expect((await status()).report).toMatchObject({ ok: true, api: { accepted: true } });
  }, 60_000);

  it('the same with the TD Ameritrade sandbox: login, then refresh and status after it (in-process, each starting its own sandbox on the kept tokens)', async () => {
    const flags = ['--provider', 'sandbox-tdameritrade'];
    const login = await manualLogin(flags);
    expect(login.code).toBe(0);
    expect(login.stderr).toContain('logging in to a tdameritrade sandbox started by this command');
    const tokenFile = join(home.configDir, 'tokens', 'default.json');
    const stored = await readTokenFile(tokenFile);
    expect(stored.refresh_token_expires_at - Date.now()).toBeGreaterThan(89 * 86_400_000);
    expect((await runInProcess(['refresh', '--force', ...flags], home)).code).toBe(0);
    expect((await readTokenFile(tokenFile)).access_token).not.toBe(stored.access_token);
    const r = await runInProcess(['status', '--json', ...flags], home);
    const after = { code: r.code, report: JSON.parse(r.stdout) };
    expect(after.code).toBe(0);
    expect(after.report).toMatchObject({
      sandbox: { stateFile: join(home.configDir, 'sandbox', 'tdameritrade-state.json') },
      api: { accepted: true },
    });
  }, 60_000);

  it('login --manual with nothing on stdin fails at once instead of waiting (exit 1)', async () => {
    const r = await runInProcess(['login', '--manual', '--provider', 'sandbox-tdameritrade'], home);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/td-token: standard input ended without the redirected URL/);
  });
});

describe('watch and cert', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it('watch logs JSON lines on stdout and stops cleanly on SIGTERM', async () => {
    const tokenFile = join(home.cwd, 'token.json');
    const record = await sandboxLogin(sandbox, 'schwab');
    await writeTokenFile(tokenFile, record);
    const watch = startCli(
      ['watch', ...sandboxFlags(sandbox, 'schwab'), '--token-file', tokenFile],
      home,
    );
    running.push(watch);
    await watch.waitFor('stdout', /"event":"fresh"/);
    watch.child.kill('SIGTERM');
    const end = await watch.exited;
    expect(end.code).toBe(0);
    const lines = end.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ event: 'start' });
    expect(lines.at(-1)).toMatchObject({ event: 'stopped' });
    expect(end.stdout).not.toContain(record.access_token);
  });

  it('cert makes the certificate once, prints its path on stdout, and how to trust it on stderr', async () => {
    const first = await runCli(['cert'], home, { timeoutMs: 60_000 });
    expect(first.code).toBe(0);
    const certPath = first.stdout.trim();
    expect(certPath.startsWith(join(home.configDir, 'certs'))).toBe(true);
    expect(await readFile(certPath, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(first.stderr).toMatch(/^made a new certificate: /);
    expect(first.stderr).toContain('certutil -d sql:$HOME/.pki/nssdb');
    const second = await runCli(['cert'], home);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).toMatch(/^certificate: /);
  }, 60_000);
});
