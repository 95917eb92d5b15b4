/**
 * `td-token login` through its login server, as a child process: the command's wiring (flags,
 * the in-process sandbox, storing the token, its messages and exit code). The login server's
 * pages and browser flows have their own tests.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { approveInSandbox } from '../helpers/sandbox-login.js';
import { freePort as freePortOn, isListening } from '../login/support.js';
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
const blockers: Server[] = [];

beforeAll(() => assertBuilt());
beforeEach(async () => {
  home = await makeHome();
});
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
  for (const server of blockers.splice(0)) await new Promise((resolve) => server.close(resolve));
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

/** Start `td-token login` (killed after the test if still running). */
function login(args: string[], env: Record<string, string> = {}): RunningCli {
  const child = startCli(['login', ...args], home, { env });
  running.push(child);
  return child;
}

/** Wait until the login server listens; returns its login URL. */
async function listening(child: RunningCli): Promise<string> {
  const [, loginUrl] = await child.waitFor('stderr', /to log in, open (\S+) in a browser/, 30_000);
  return loginUrl as string;
}

/** Whether this machine has ::1 (the login server binds it too for a localhost redirect URI). */
function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
}

/** The SHA-256 fingerprint of the certificate a TLS server on host:port presents. */
function servedFingerprint(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, servername: 'localhost', rejectUnauthorized: false });
    socket.setTimeout(5_000, () => socket.destroy(new Error('no TLS handshake within 5 s')));
    socket.once('secureConnect', () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.once('error', reject);
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
    // The printed address carries the per-run secret; without it no login starts.
    expect(loginUrl).toMatch(
      new RegExp(`^https://127\\.0\\.0\\.1:${port}/login\\?secret=[A-Za-z0-9_-]{43}$`),
    );
    const refused = await get(`https://127.0.0.1:${port}/login`);
    expect(refused.status).toBe(403);
    expect(refused.location).toBeUndefined();
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

  it('refuses a redirect URI that is not on this computer: exit 2, naming the fix', async () => {
    const login1 = login([
      '--no-browser',
      '--provider',
      'tdameritrade',
      '--client-id',
      'MYAPPKEY',
      '--redirect-uri',
      'https://example.com:8000',
    ]);
    const end = await login1.exited;
    expect(end.code).toBe(2);
    expect(end.stdout).toBe('');
    expect(end.stderr).toBe(
      "td-token: the redirect URI https://example.com:8000/ does not point at this computer (its host must be localhost, [::1] or an address in 127.0.0.0/8 such as 127.0.0.1), so the login server cannot receive the callback. register a loopback redirect URI with your app (e.g. https://127.0.0.1:8182) and pass it with --redirect-uri, or use 'td-token login --manual'\n",
    );
  });

  it('logs in through another loopback address (127.0.0.2), served there only', async () => {
    const port = await freePort();
    const redirect = `https://127.0.0.2:${port}`;
    const child = login([
      '--no-browser',
      '--provider',
      'sandbox-tdameritrade',
      '--redirect-uri',
      redirect,
      '--timeout',
      '60',
    ]);
    const started = await Promise.race([listening(child), child.exited]);
    if (typeof started !== 'string') {
      // A system without 127.0.0.2 (macOS, unless an alias is added): the error says so.
      expect(started.code).toBe(2);
      expect(started.stderr).toContain('this computer has no such loopback address');
      return;
    }
    expect(started.startsWith(`${redirect}/login?secret=`)).toBe(true);
    expect(await isListening('127.0.0.1', port)).toBe(false);
    const start = await get(started);
    expect(start.status).toBe(302);
    const callback = await approveInSandbox(start.location as string);
    expect(callback.startsWith(`${redirect}/?`)).toBe(true);
    expect((await get(callback)).status).toBe(200);
    const end = await child.exited;
    expect(end.code).toBe(0);
    expect(end.stderr).toContain('logged in to sandbox-tdameritrade as profile default');
    expect(await isListening('127.0.0.2', port)).toBe(false);
  }, 60_000);

  it('sandbox-schwab with a redirect URI not on https://127.0.0.1: exit 2 naming the fix, not a TypeError', async () => {
    for (const uri of ['https://localhost:9000/cb', 'http://127.0.0.1:9000/cb']) {
      const end = await login([
        '--no-browser',
        '--provider',
        'sandbox-schwab',
        '--redirect-uri',
        uri,
        '--timeout',
        '5',
      ]).exited;
      expect(end.code, uri).toBe(2);
      expect(end.stdout).toBe('');
      expect(end.stderr).toBe(
        `td-token: the schwab sandbox, like Schwab, accepts only redirect URIs on https://127.0.0.1 (https://127.0.0.1[:port][/path]), not ${uri} (from --redirect-uri). give one with --redirect-uri, e.g. https://127.0.0.1:8182, or use --provider sandbox-tdameritrade for a localhost redirect URI\n`,
      );
    }
  });

  it("says the redirect URI's port is in use: exit 2 and the fix", async () => {
    const port = await freePort();
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    const child = login([
      '--no-browser',
      '--provider',
      'sandbox-schwab',
      '--redirect-uri',
      `https://127.0.0.1:${port}`,
    ]);
    const end = await child.exited;
    expect(end.code).toBe(2);
    expect(end.stdout).toBe('');
    expect(end.stderr.trimEnd().split('\n').at(-1)).toBe(
      `td-token: the login server cannot listen on 127.0.0.1:${port}: the port is in use (by an earlier td-token login still running?). stop the program using it, or register another redirect URI with your app and pass it with --redirect-uri`,
    );
    expect(end.stderr).not.toContain('to log in, open');
  });

  it('--cert/--key: the login server presents the given certificate, not its own', async () => {
    const selfsigned = await import('selfsigned');
    const pems = await selfsigned.generate([{ name: 'commonName', value: 'my own dev cert' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    });
    await mkdir(join(home.cwd, 'certs'));
    await writeFile(join(home.cwd, 'certs', 'cert.pem'), pems.cert);
    await writeFile(join(home.cwd, 'certs', 'key.pem'), pems.private, { mode: 0o600 });
    const port = await freePort();
    const child = login([
      '--no-browser',
      '--provider',
      'sandbox-schwab',
      '--redirect-uri',
      `https://127.0.0.1:${port}`,
      '--cert',
      'certs/cert.pem',
      '--key',
      'certs/key.pem',
    ]);
    await listening(child);
    const expected = new X509Certificate(pems.cert).fingerprint256;
    expect(await servedFingerprint('127.0.0.1', port)).toBe(expected);
    // td-token made no certificate of its own, and says nothing about one.
    await expect(stat(join(home.configDir, 'certs'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(child.stderr()).not.toContain('self-signed');
    child.child.kill('SIGTERM');
    expect((await child.exited).code).toBe(1);
  }, 60_000);

  it('--cert that cannot be read, or is not a certificate: exit 2 with the fix', async () => {
    const missing = await login(['--cert', 'nowhere/cert.pem', '--key', 'nowhere/key.pem']).exited;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      'td-token: --cert nowhere/cert.pem cannot be read (ENOENT). give the path of a PEM file\n',
    );
    await writeFile(join(home.cwd, 'junk.pem'), 'not a certificate\n');
    const port = await freePort();
    const junk = await login([
      '--no-browser',
      '--provider',
      'sandbox-schwab',
      '--redirect-uri',
      `https://127.0.0.1:${port}`,
      '--cert',
      'junk.pem',
      '--key',
      'junk.pem',
    ]).exited;
    expect(junk.code).toBe(2);
    expect(junk.stderr).toMatch(
      /td-token: the login server's certificate or key could not be used \(.+\)\. give a matching PEM certificate and key with --cert and --key, or leave both out to use td-token's own\n$/,
    );
    expect(await isListening('127.0.0.1', port)).toBe(false);
  });

  it.runIf(process.platform === 'linux')(
    'opens the browser (xdg-open) at the login URL, and not with --no-browser',
    async () => {
      const bin = join(home.root, 'fake-bin');
      const opened = join(home.root, 'opened.txt');
      await mkdir(bin);
      await writeFile(join(bin, 'xdg-open'), `#!/bin/sh\necho "$@" >> '${opened}'\n`, {
        mode: 0o755,
      });
      const env = { PATH: `${bin}:${home.env['PATH']}` };
      const flags = ['--provider', 'sandbox-schwab', '--timeout', '60'];

      const port = await freePort();
      const withBrowser = login([...flags, '--redirect-uri', `https://127.0.0.1:${port}`], env);
      const loginUrl = await listening(withBrowser);
      await expect
        .poll(() => readFile(opened, 'utf8').catch(() => ''), { timeout: 10_000 })
        .toBe(`${loginUrl}\n`);
      withBrowser.child.kill('SIGTERM');
      await withBrowser.exited;

      const quietPort = await freePort();
      const quiet = login(
        [...flags, '--no-browser', '--redirect-uri', `https://127.0.0.1:${quietPort}`],
        env,
      );
      const quietUrl = await listening(quiet);
      quiet.child.kill('SIGTERM');
      await quiet.exited;
      // A browser opener would have been started before the line above was printed.
      await sleep(500);
      expect(await readFile(opened, 'utf8')).toBe(`${loginUrl}\n`);
      expect(quietUrl).toMatch(
        new RegExp(`^https://127\\.0\\.0\\.1:${quietPort}/login\\?secret=[A-Za-z0-9_-]{43}$`),
      );
      // Each run has its own secret.
      expect(new URL(quietUrl).searchParams.get('secret')).not.toBe(
        new URL(loginUrl).searchParams.get('secret'),
      );
    },
    60_000,
  );

  it('SIGTERM while waiting: exit 1, "stopped by SIGTERM", and the login server and its sandbox are closed', async () => {
    // TD's localhost redirect URI: the login server binds 127.0.0.1 and ::1.
    const port = await freePortOn(true);
    const child = login([
      '--no-browser',
      '--provider',
      'sandbox-tdameritrade',
      '--redirect-uri',
      `https://localhost:${port}`,
      '--timeout',
      '60',
    ]);
    const loginUrl = await listening(child);
    const start = await get(loginUrl.replace('localhost', '127.0.0.1'));
    const sandbox = new URL(start.location as string);
    const sandboxPort = Number(sandbox.port);
    expect(await isListening('127.0.0.1', port)).toBe(true);
    expect(await isListening('::1', port)).toBe(await hasIpv6Loopback());
    expect(await isListening(sandbox.hostname, sandboxPort)).toBe(true);
    child.child.kill('SIGTERM');
    const end = await child.exited;
    expect(end.code).not.toBe(0);
    expect(end.code).toBe(1);
    expect(end.signal).toBeNull();
    expect(end.stdout).toBe('');
    expect(end.stderr.trimEnd().split('\n').at(-1)).toBe('td-token: stopped by SIGTERM');
    expect(await isListening('127.0.0.1', port)).toBe(false);
    expect(await isListening('::1', port)).toBe(false);
    expect(await isListening(sandbox.hostname, sandboxPort)).toBe(false);
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
