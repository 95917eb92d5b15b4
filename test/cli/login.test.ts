/**
 * `td-token login` through its login server, as a child process: the command's wiring (flags,
 * the in-process sandbox, storing the token, its messages and exit code). The login server's
 * pages and browser flows have their own tests.
 */
import { stat } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { approveInSandbox } from '../helpers/sandbox-login.js';
import {
  assertBuilt,
  type Home,
  makeHome,
  type RunningCli,
  readTokenFile,
  startCli,
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** GET over HTTPS from the loopback login server (its certificate is self-signed). */
function get(url: string): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, location: res.headers.location });
    });
    req.once('error', reject);
    req.end();
  });
}

describe('td-token login', () => {
  it('--no-browser: serves the login, stores the token (0600), reports and exits 0', async () => {
    const port = await freePort();
    const redirect = `https://127.0.0.1:${port}/login/callback`;
    const login = startCli(
      [
        'login',
        '--no-browser',
        '--provider',
        'sandbox-schwab',
        '--redirect-uri',
        redirect,
        '--timeout',
        '60',
      ],
      home,
    );
    running.push(login);
    const [, loginUrl] = await login.waitFor('stderr', /to log in, open (\S+)/, 30_000);
    expect(login.stderr()).toContain('logging in to a schwab sandbox started by this command');
    const start = await get(loginUrl as string);
    expect(start.status).toBe(302);
    const callback = await approveInSandbox(start.location as string);
    expect(callback.startsWith(`${redirect}?`)).toBe(true);
    const done = await get(callback);
    expect(done.status).toBe(200);
    const end = await login.exited;
    expect(end.code).toBe(0);
    expect(end.stdout).toBe('');
    expect(end.stderr).toMatch(
      /logged in to sandbox-schwab as profile default; the token is stored in file /,
    );
    const tokenFile = join(home.configDir, 'tokens', 'default.json');
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    const stored = await readTokenFile(tokenFile);
    expect(end.stderr).not.toContain(stored.access_token);
    expect(end.stderr).not.toContain(stored.refresh_token);
  }, 60_000);

  it('--cert without --key is a usage error (exit 2)', async () => {
    const login = startCli(['login', '--cert', 'c.pem'], home);
    running.push(login);
    const end = await login.exited;
    expect(end.code).toBe(2);
    expect(end.stderr).toMatch(/^td-token: --cert and --key go together/);
  });

  it('--timeout must be a duration (exit 2)', async () => {
    const login = startCli(['login', '--timeout', 'soon'], home);
    running.push(login);
    const end = await login.exited;
    expect(end.code).toBe(2);
    expect(end.stderr).toMatch(/^td-token: --timeout is "soon", which is not a duration/);
  });
});
