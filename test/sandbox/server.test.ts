import { X509Certificate } from 'node:crypto';
import { Agent, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { describe, expect, it } from 'vitest';
import {
  isLoopbackHost,
  SANDBOX_DEFAULT_APPS,
  type SandboxOptions,
  startSandbox,
} from '../../src/sandbox/index.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';
import { authorizeUrl, basic, postToken } from './support.js';

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('startSandbox', () => {
  it('registers the pinned default apps', () => {
    expect(SANDBOX_DEFAULT_APPS.tdameritrade).toEqual({
      clientId: 'SANDBOXCONSUMERKEY',
      redirectUris: ['https://localhost:8000'],
    });
    expect(SANDBOX_DEFAULT_APPS.schwab).toEqual({
      clientId: 'SandboxAppKey0000000000000000000',
      clientSecret: 'SandboxSecret000',
      redirectUris: ['https://127.0.0.1:8182'],
    });
  });

  it('serves each flavor at the pinned paths', async () => {
    const td = await startSandbox({ flavor: 'tdameritrade' });
    const schwab = await startSandbox({ flavor: 'schwab' });
    try {
      expect(td.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(td.authorizeUrl).toBe(`${td.url}/auth`);
      expect(td.tokenUrl).toBe(`${td.url}/v1/oauth2/token`);
      expect(td.apiUrl).toBe(td.url);
      expect(td.certificate).toBeUndefined();
      expect(schwab.authorizeUrl).toBe(`${schwab.url}/v1/oauth/authorize`);
      expect(schwab.tokenUrl).toBe(`${schwab.url}/v1/oauth/token`);
      expect(schwab.url).not.toBe(td.url);
      expect(td.settings.codeLifetimeMs).toBe(60_000);
      expect(schwab.settings.codeLifetimeMs).toBe(30_000);
      expect(td.settings.refreshTokenLifetimeMs).toBe(90 * 86_400_000);
      expect(schwab.settings.refreshTokenLifetimeMs).toBe(7 * 86_400_000);
      const index = await fetch(`${td.url}/`);
      expect(index.status).toBe(200);
      expect(await index.text()).toContain('SANDBOXCONSUMERKEY');
      const schwabIndex = await (await fetch(`${schwab.url}/`)).text();
      expect(schwabIndex).not.toContain('SandboxSecret000');
    } finally {
      await td.close();
      await schwab.close();
    }
  });

  it.each(['0.0.0.0', '192.168.1.10', 'example.com', '::', '10.0.0.1', '128.0.0.1', ''])(
    'refuses the non-loopback host %j',
    async (host) => {
      await expect(startSandbox({ flavor: 'schwab', host })).rejects.toThrow(
        '"options.host" must be a loopback address (127.0.0.0/8, ::1 or localhost)',
      );
    },
  );

  it('recognises loopback hosts', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      'localhost',
      'LOCALHOST',
      '0:0:0:0:0:0:0:1',
    ]) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', 'localhost.example.com', '::ffff:10.0.0.1', '1.127.0.0']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it('listens on another 127/8 address and on localhost', async () => {
    const other = await startSandbox({ flavor: 'tdameritrade', host: '127.0.0.2' });
    const named = await startSandbox({ flavor: 'tdameritrade', host: 'localhost' });
    try {
      expect(other.url).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
      expect((await fetch(`${other.url}/`)).status).toBe(200);
      expect(named.url).toMatch(/^http:\/\/localhost:\d+$/);
      expect((await fetch(`${named.url}/`)).status).toBe(200);
    } finally {
      await other.close();
      await named.close();
    }
  });

  it('listens on ::1 when the machine has IPv6 loopback', async (context) => {
    let sandbox: Awaited<ReturnType<typeof startSandbox>> | undefined;
    try {
      sandbox = await startSandbox({ flavor: 'schwab', host: '::1' });
    } catch (error) {
      // A machine without IPv6 loopback cannot listen on ::1 at all: nothing to test there.
      if ((error as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') context.skip();
      throw error;
    }
    try {
      expect(sandbox.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
      expect((await fetch(`${sandbox.url}/`)).status).toBe(200);
    } finally {
      await sandbox.close();
    }
  });

  it('checks its options with TypeErrors naming the option', async () => {
    const cases: [unknown, string][] = [
      [undefined, '"options" must be an object'],
      [{ flavor: 'etrade' }, '"options.flavor" must be "tdameritrade" or "schwab"'],
      [{ flavor: 'schwab', port: 70000 }, '"options.port" must be an integer from 0 to 65535'],
      [
        { flavor: 'schwab', https: 'yes' },
        '"options.https" must be a boolean or { cert: string; key: string }',
      ],
      [{ flavor: 'schwab', now: 5 }, '"options.now" must be a function'],
      [{ flavor: 'schwab', apps: {} }, '"options.apps" must be an array'],
      [
        { flavor: 'schwab', settings: { codeLifetimeMs: -1 } },
        '"settings.codeLifetimeMs" must be a finite number >= 0',
      ],
      [
        { flavor: 'schwab', settings: { invalidateOldRefreshTokenOnRenewal: 'no' } },
        '"settings.invalidateOldRefreshTokenOnRenewal" must be a boolean',
      ],
      [
        { flavor: 'tdameritrade', apps: [{ clientId: '', redirectUris: ['https://x'] }] },
        '"app.clientId" must be a non-empty string',
      ],
      [
        { flavor: 'tdameritrade', apps: [{ clientId: 'K', redirectUris: [] }] },
        '"app.redirectUris" must be a non-empty array of URLs',
      ],
      [
        { flavor: 'tdameritrade', apps: [{ clientId: 'K', redirectUris: ['not a url'] }] },
        '"app.redirectUris" must hold absolute URLs',
      ],
    ];
    for (const [options, message] of cases) {
      await expect(startSandbox(options as SandboxOptions), message).rejects.toThrow(
        new TypeError(message),
      );
    }
  });

  it('fails with the listen error when the port is taken', async () => {
    const first = await startSandbox({ flavor: 'schwab' });
    try {
      const port = Number(new URL(first.url).port);
      await expect(startSandbox({ flavor: 'schwab', port })).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
    } finally {
      await first.close();
    }
  });

  it('strips a TD suffix given at registration', async () => {
    const sandbox = await startSandbox({
      flavor: 'tdameritrade',
      apps: [{ clientId: 'MYKEY@AMER.OAUTHAP', redirectUris: ['http://localhost:9999'] }],
    });
    try {
      const location = await approveInSandbox(
        authorizeUrl(sandbox, {
          client_id: 'MYKEY@AMER.OAUTHAP',
          redirect_uri: 'http://localhost:9999',
        }),
      );
      expect(new URL(location).searchParams.has('code')).toBe(true);
    } finally {
      await sandbox.close();
    }
  });
});

describe('the sandbox clock', () => {
  it('is the base clock plus an offset that advance() grows', async () => {
    let base = 1_000_000;
    const sandbox = await startSandbox({ flavor: 'schwab', now: () => base });
    try {
      expect(sandbox.clock.now()).toBe(1_000_000);
      sandbox.clock.advance(500);
      expect(sandbox.clock.now()).toBe(1_000_500);
      base += 10;
      expect(sandbox.clock.now()).toBe(1_000_510);
      expect(() => sandbox.clock.advance(-1)).toThrow('"ms" must be a finite number >= 0');
      expect(() => sandbox.clock.advance(Number.NaN)).toThrow(TypeError);
      expect(sandbox.clock.now()).toBe(1_000_510);
    } finally {
      await sandbox.close();
    }
  });
});

describe('HTTPS', () => {
  it('serves HTTPS with a self-made certificate for localhost, 127.0.0.1 and ::1', async () => {
    const sandbox = await startSandbox({ flavor: 'schwab', https: true });
    try {
      expect(sandbox.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const certificate = sandbox.certificate ?? '';
      const x509 = new X509Certificate(certificate);
      expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
      expect(x509.checkHost('localhost')).toBe('localhost');
      expect(x509.subjectAltName).toContain('IP Address:0:0:0:0:0:0:0:1');
      const page = await httpsGet(authorizeUrl(sandbox).href, certificate);
      expect(page.status).toBe(200);
      expect(page.body).toContain('id="login"');
      // Without trusting the certificate, the connection is refused.
      await expect(fetch(`${sandbox.url}/`)).rejects.toThrow(TypeError);
      const location = await approveInSandbox(authorizeUrl(sandbox), { ca: certificate });
      expect(new URL(location).searchParams.get('code')).toMatch(/^C0\./);
    } finally {
      await sandbox.close();
    }
  });

  it('serves HTTPS with a given certificate and key', async () => {
    const { generate } = await import('selfsigned');
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    const sandbox = await startSandbox({
      flavor: 'tdameritrade',
      https: { cert: pems.cert, key: pems.private },
    });
    try {
      expect(sandbox.certificate).toBe(pems.cert);
      const page = await httpsGet(`${sandbox.url}/`, pems.cert);
      expect(page.status).toBe(200);
    } finally {
      await sandbox.close();
    }
  });
});

describe('close()', () => {
  it('closes promptly with an open keep-alive connection, and can be called again', async () => {
    const sandbox = await startSandbox({ flavor: 'tdameritrade' });
    const agent = new Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${sandbox.url}/`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
      const idle = Object.values(agent.freeSockets).flat();
      expect(idle).toHaveLength(1);
      const socket = idle[0];
      const socketClosed = new Promise<void>((resolve) => socket?.once('close', () => resolve()));
      const started = performance.now();
      await sandbox.close();
      expect(performance.now() - started).toBeLessThan(1000);
      await socketClosed;
      await sandbox.close();
      await expect(fetch(`${sandbox.url}/`)).rejects.toThrow(TypeError);
    } finally {
      agent.destroy();
      await sandbox.close();
    }
  });

  it('closes with a request body still arriving', async () => {
    const sandbox = await startSandbox({ flavor: 'schwab' });
    const req = request(sandbox.tokenUrl, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': '1000',
        Authorization: basic(),
      },
    });
    const failed = new Promise<Error>((resolve) => req.on('error', resolve));
    req.write('grant_type=refresh_token&');
    // Bounded wait until the server has seen the request.
    for (let i = 0; i < 400 && sandbox.counters().token.total === 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(sandbox.counters().token.total).toBe(1);
    await sandbox.close();
    expect((await failed).message).toMatch(/socket hang up|ECONNRESET/);
  });
});

describe('counters()', () => {
  it('returns a snapshot, not the live object', async () => {
    const sandbox = await startSandbox({ flavor: 'schwab' });
    try {
      const before = sandbox.counters();
      await postToken(
        sandbox,
        { grant_type: 'refresh_token', refresh_token: 'x' },
        { Authorization: basic() },
      );
      expect(before.token.total).toBe(0);
      expect(sandbox.counters().token.total).toBe(1);
      await fetch(authorizeUrl(sandbox));
      expect(sandbox.counters().authorize).toBe(1);
    } finally {
      await sandbox.close();
    }
  });
});
