/**
 * The newcomer's path with nothing configured: `td-token sandbox` in one process, `login
 * --manual` (stdin piped), `token`, `refresh` and `status` in others find it by themselves; and
 * `login` with no sandbox running starts one inside itself. Also `watch` and `cert`.
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

describe('zero configuration', () => {
  it('td-token sandbox + login --manual + token + refresh + status, then the sandbox stops', async () => {
    const sandbox = startCli(['sandbox'], home);
    running.push(sandbox);
    const [line] = await sandbox.waitFor('stdout', /^\{.*\}\n/);
    const info = JSON.parse(line as string);
    expect(info).toMatchObject({ flavor: 'schwab', pid: sandbox.child.pid });
    expect(sandbox.stderr()).toContain('client secret:  SandboxSecret000');
    const recordFile = join(home.configDir, 'sandbox', 'schwab.json');
    expect((await stat(recordFile)).mode & 0o777).toBe(0o600);

    const before = await runCli(['status', '--json'], home);
    expect(before.code).toBe(3);
    const report = JSON.parse(before.stdout);
    expect(report).toMatchObject({
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

    const ok = await runCli(['status', '--json'], home);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, api: { accepted: true } });

    sandbox.child.kill('SIGTERM');
    const end = await sandbox.exited;
    expect(end.code).toBe(0);
    expect(end.stderr).toContain('sandbox stopped');
    await expect(stat(recordFile)).rejects.toMatchObject({ code: 'ENOENT' });

    // The access token is still handed out while fresh; refreshing needs a sandbox again.
    const fresh = await runCli(['token'], home);
    expect(fresh.code).toBe(0);
    const gone = await runCli(['refresh', '--force'], home);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toBe(
      "td-token: no schwab sandbox is running, and tokens from a sandbox that stopped cannot be refreshed. start one with 'td-token sandbox' in another terminal, then run 'td-token login'\n",
    );
  });

  it('login with no sandbox running starts one inside itself, and says its tokens end with it', async () => {
    const login = await manualLogin(['--provider', 'sandbox-tdameritrade']);
    expect(login.code).toBe(0);
    expect(login.stderr).toMatch(
      /warning: logging in to a tdameritrade sandbox started by this command/,
    );
    const stored = await readTokenFile(join(home.configDir, 'tokens', 'default.json'));
    expect(stored.refresh_token_expires_at - Date.now()).toBeGreaterThan(89 * 86_400_000);
    const status = await runCli(['status', '--json', '--provider', 'sandbox-tdameritrade'], home);
    expect(status.code).toBe(3);
    expect(JSON.parse(status.stdout).problems[0]).toMatchObject({
      code: 'sandbox_missing',
      fix: 'td-token sandbox --flavor tdameritrade   (in another terminal), then td-token login --provider sandbox-tdameritrade',
    });
  });

  it('login --manual with nothing on stdin fails at once instead of waiting (exit 1)', async () => {
    const r = await runCli(['login', '--manual', '--provider', 'sandbox-tdameritrade'], home);
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
