/**
 * Each doctor check against the real failure it looks for: the sandbox with an app still
 * pending, an unknown key, a callback registered with a trailing slash or other case, a wrong
 * secret, a skewed clock; a port another server holds; loose modes; a Redis nobody runs; a
 * record the configured passphrase cannot open; a certificate trusted or not.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkCertificate } from '../../src/doctor/cert.js';
import { checkConfigFolder, checkPort, checkStoreModes } from '../../src/doctor/local.js';
import {
  checkAppCredentials,
  checkAuthorize,
  checkClock,
  type ProbeTarget,
  portalOf,
  probeAuthorize,
} from '../../src/doctor/provider.js';
import { checkRedirectShape, redirectVariants } from '../../src/doctor/redirect.js';
import { checkStore } from '../../src/doctor/store.js';
import { ensureCertificate } from '../../src/login/cert.js';
import { createProvider } from '../../src/providers/index.js';
import type { ProviderName } from '../../src/providers/types.js';
import {
  type Sandbox,
  type SandboxApp,
  type SandboxSettings,
  startSandbox,
} from '../../src/sandbox/index.js';
import { createStore } from '../../src/stores/create.js';
import { sandboxLogin } from '../cli/harness.js';
import { freePort } from '../helpers/redis.js';

const SCHWAB_KEY = 'DoctorAppKey00000000000000000000';
const SCHWAB_SECRET = 'DoctorSecret0000';
const TD_KEY = 'DOCTORCONSUMERKEY';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'td-token-doctor-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function schwabSandbox(
  app: Partial<SandboxApp>,
  settings: Partial<SandboxSettings> = {},
): Promise<Sandbox> {
  sandbox = await startSandbox({
    flavor: 'schwab',
    apps: [
      {
        clientId: SCHWAB_KEY,
        clientSecret: SCHWAB_SECRET,
        redirectUris: ['https://127.0.0.1:8182'],
        ...app,
      },
    ],
    settings,
  });
  return sandbox;
}

function target(
  box: Sandbox,
  protocol: ProviderName,
  options: { clientId: string; clientSecret?: string; redirectUri: string },
): ProbeTarget {
  return {
    protocol,
    options: {
      ...(protocol === 'schwab' ? { clientSecret: SCHWAB_SECRET } : {}),
      ...options,
      authorizeUrl: box.authorizeUrl,
      tokenUrl: box.tokenUrl,
      apiUrl: box.apiUrl,
    },
    portal: portalOf(protocol),
  };
}

async function authorizeCheck(t: ProbeTarget) {
  const provider = createProvider(t.protocol, t.options);
  return checkAuthorize(t, await probeAuthorize(provider));
}

describe('authorize: what the provider says about the app and the redirect URI', () => {
  it('passes for a ready app and its registered callback', async () => {
    const box = await schwabSandbox({});
    const result = await authorizeCheck(
      target(box, 'schwab', { clientId: SCHWAB_KEY, redirectUri: 'https://127.0.0.1:8182' }),
    );
    expect(result).toMatchObject({ name: 'authorize', ok: true, fix: '' });
    expect(result.detail).toContain('login page');
  });

  it('an app still "Approved - Pending": not ready, wait for "Ready For Use"', async () => {
    const box = await schwabSandbox({ status: 'pending' });
    const result = await authorizeCheck(
      target(box, 'schwab', { clientId: SCHWAB_KEY, redirectUri: 'https://127.0.0.1:8182' }),
    );
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/not ready for use yet/);
    expect(result.fix).toMatch(/Ready For Use/);
  });

  it('an unknown app key: invalid_client, copy the App Key', async () => {
    const box = await schwabSandbox({});
    const result = await authorizeCheck(
      target(box, 'schwab', { clientId: 'NotTheKey', redirectUri: 'https://127.0.0.1:8182' }),
    );
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/does not know this app key/);
    expect(result.fix).toMatch(/App Key/);
  });

  it('a callback registered with a trailing slash: refused, and the registered one named', async () => {
    const box = await schwabSandbox({ redirectUris: ['https://127.0.0.1:8182/'] });
    const result = await authorizeCheck(
      target(box, 'schwab', { clientId: SCHWAB_KEY, redirectUri: 'https://127.0.0.1:8182' }),
    );
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/"Access Denied"/);
    expect(result.detail).toContain('but accepts https://127.0.0.1:8182/');
    expect(result.fix).toContain('--redirect-uri https://127.0.0.1:8182/');
  });

  it('a callback registered in other case: refused, and the registered one named', async () => {
    const box = await schwabSandbox({ redirectUris: ['https://127.0.0.1:8182/callback'] });
    const result = await authorizeCheck(
      target(box, 'schwab', {
        clientId: SCHWAB_KEY,
        redirectUri: 'https://127.0.0.1:8182/Callback',
      }),
    );
    expect(result.ok).toBe(false);
    expect(result.fix).toContain('--redirect-uri https://127.0.0.1:8182/callback');
  });

  it('TD: localhost registered, 127.0.0.1 configured: the TD page, and the registered one named', async () => {
    sandbox = await startSandbox({
      flavor: 'tdameritrade',
      apps: [{ clientId: TD_KEY, redirectUris: ['https://localhost:8000'] }],
    });
    const result = await authorizeCheck(
      target(sandbox, 'tdameritrade', { clientId: TD_KEY, redirectUri: 'https://127.0.0.1:8000' }),
    );
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/unauthorized access to your account/);
    expect(result.fix).toContain('--redirect-uri https://localhost:8000');
  });

  it('a callback no variant matches: the exact-match rule and where to copy it from', async () => {
    const box = await schwabSandbox({ redirectUris: ['https://127.0.0.1:9999/elsewhere'] });
    const result = await authorizeCheck(
      target(box, 'schwab', { clientId: SCHWAB_KEY, redirectUri: 'https://127.0.0.1:8182' }),
    );
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/not registered for this app/);
    expect(result.fix).toMatch(/developer\.schwab\.com/);
  });

  it('no answer: says the endpoint could not be asked', async () => {
    const port = await freePort();
    const t: ProbeTarget = {
      protocol: 'schwab',
      options: {
        clientId: SCHWAB_KEY,
        clientSecret: SCHWAB_SECRET,
        redirectUri: 'https://127.0.0.1:8182',
        authorizeUrl: `http://127.0.0.1:${port}/v1/oauth/authorize`,
        tokenUrl: `http://127.0.0.1:${port}/v1/oauth/token`,
      },
      portal: portalOf('schwab'),
    };
    const error = await probeAuthorize(createProvider('schwab', t.options)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    const result = await checkAuthorize(t, error as Error);
    expect(result.ok).toBe(false);
    expect(checkClock(error as Error).ok).toBe(false);
  });
});

describe('app-credentials: the token endpoint judges the key and secret', () => {
  it('passes for the right secret, fails for a wrong one (Schwab) and an unknown key (TD)', async () => {
    const box = await schwabSandbox({});
    const right = target(box, 'schwab', {
      clientId: SCHWAB_KEY,
      clientSecret: SCHWAB_SECRET,
      redirectUri: 'https://127.0.0.1:8182',
    });
    const good = await checkAppCredentials(right, createProvider('schwab', right.options));
    expect(good.ok, good.detail).toBe(true);
    const wrong = { ...right, options: { ...right.options, clientSecret: 'WrongSecret00000' } };
    const bad = await checkAppCredentials(wrong, createProvider('schwab', wrong.options));
    expect(bad.ok).toBe(false);
    expect(bad.detail).toMatch(/refuses the app key and secret \(HTTP 401 invalid_client\)/);
    await box.close();

    sandbox = await startSandbox({
      flavor: 'tdameritrade',
      apps: [{ clientId: TD_KEY, redirectUris: ['https://localhost:8000'] }],
    });
    const td = target(sandbox, 'tdameritrade', {
      clientId: 'OTHERKEY',
      redirectUri: 'https://localhost:8000',
    });
    const tdBad = await checkAppCredentials(td, createProvider('tdameritrade', td.options));
    expect(tdBad.ok).toBe(false);
    const tdRight = { ...td, options: { ...td.options, clientId: TD_KEY } };
    expect(
      (await checkAppCredentials(tdRight, createProvider('tdameritrade', tdRight.options))).ok,
    ).toBe(true);
  });
});

describe("clock: this computer against the provider's Date header", () => {
  for (const [skew, ok] of [
    [0, true],
    [25_000, true],
    [45_000, false],
    [-120_000, false],
  ] as const) {
    it(`a provider ${skew / 1000} s off ${ok ? 'passes' : 'fails'}`, async () => {
      const box = await schwabSandbox({}, { clockSkewMs: skew });
      const t = target(box, 'schwab', {
        clientId: SCHWAB_KEY,
        redirectUri: 'https://127.0.0.1:8182',
      });
      const result = checkClock(await probeAuthorize(createProvider('schwab', t.options)));
      expect(result.ok, result.detail).toBe(ok);
      if (!ok) {
        expect(result.detail).toContain(
          skew > 0 ? 's behind the provider' : 's ahead of the provider',
        );
        expect(result.fix).toMatch(/timedatectl/);
      }
    });
  }
});

describe('redirect-uri: by its shape', () => {
  it('Schwab: http, localhost and capitals fail; 127.0.0.1 https passes', () => {
    expect(checkRedirectShape('schwab', 'https://127.0.0.1:8182').ok).toBe(true);
    const http = checkRedirectShape('schwab', 'http://127.0.0.1:8182');
    expect(http.ok).toBe(false);
    expect(http.detail).toMatch(/only https/);
    const localhost = checkRedirectShape('schwab', 'https://localhost:8182');
    expect(localhost.ok).toBe(false);
    expect(localhost.fix).toContain('127.0.0.1');
    expect(checkRedirectShape('schwab', 'HTTPS://127.0.0.1:8182').ok).toBe(false);
    expect(checkRedirectShape('schwab', 'not a url').ok).toBe(false);
  });

  it('TD: localhost and http on this computer pass; a public http host fails', () => {
    expect(checkRedirectShape('tdameritrade', 'https://localhost:8000').ok).toBe(true);
    expect(checkRedirectShape('tdameritrade', 'http://localhost:8000').ok).toBe(true);
    expect(checkRedirectShape('tdameritrade', 'http://example.com/cb').ok).toBe(false);
    expect(checkRedirectShape('tdameritrade', 'https://LocalHost:8000').ok).toBe(false);
  });

  it('variants: a trailing slash either way, lower case, localhost and 127.0.0.1 swapped', () => {
    expect(redirectVariants('https://127.0.0.1:8182')).toEqual([
      'https://127.0.0.1:8182/',
      'https://localhost:8182',
    ]);
    expect(redirectVariants('https://LocalHost:8000/')).toEqual([
      'https://LocalHost:8000',
      'https://localhost:8000/',
      'https://127.0.0.1:8000/',
    ]);
  });
});

describe('port: the login server can listen', () => {
  let holder: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (holder ? holder.close(() => resolve()) : resolve()));
    holder = undefined;
  });

  it('passes for a free port and fails, naming how to find the holder, for a taken one', async () => {
    const port = await freePort();
    expect((await checkPort(`https://127.0.0.1:${port}`)).ok).toBe(true);
    holder = createServer();
    await new Promise<void>((resolve) => holder?.listen(port, '127.0.0.1', () => resolve()));
    const taken = await checkPort(`https://127.0.0.1:${port}`);
    expect(taken.ok).toBe(false);
    expect(taken.detail).toContain(`port ${port} on 127.0.0.1 is taken`);
    expect(taken.fix).toContain(`lsof -i :${port}`);
  });

  it('is not checked for a redirect URI elsewhere', async () => {
    const result = await checkPort('https://example.com/callback');
    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(/not checked/);
  });
});

describe.skipIf(process.platform === 'win32')('modes (POSIX modes do not exist on Windows)', () => {
  it('config folder: 0700 passes, 0755 fails with the chmod', async () => {
    const dir = join(root, 'config-mode');
    await mkdir(dir, { mode: 0o700 });
    await chmod(dir, 0o700);
    expect((await checkConfigFolder(dir)).ok).toBe(true);
    await chmod(dir, 0o755);
    const loose = await checkConfigFolder(dir);
    expect(loose.ok).toBe(false);
    expect(loose.detail).toContain('mode 0755');
    expect(loose.fix).toBe(`chmod 700 ${dir}`);
    expect((await checkConfigFolder(join(root, 'missing'))).ok).toBe(true);
  });

  it('store: a token file others can read, or a folder others can write, fails', async () => {
    const dir = join(root, 'store-mode');
    await mkdir(dir, { mode: 0o700 });
    const path = join(dir, 'token.json');
    await writeFile(path, '{}', { mode: 0o600 });
    await chmod(path, 0o600);
    expect((await checkStoreModes({ kind: 'file', path })).ok).toBe(true);
    await chmod(path, 0o644);
    const readable = await checkStoreModes({ kind: 'file', path });
    expect(readable.ok).toBe(false);
    expect(readable.fix).toBe(`chmod 600 ${path}`);
    await chmod(path, 0o600);
    await chmod(dir, 0o777);
    const open = await checkStoreModes({ kind: 'file', path });
    expect(open.ok).toBe(false);
    expect(open.fix).toBe(`chmod o-w ${dir}`);
    await chmod(dir, 0o700);
    expect(
      (await checkStoreModes({ kind: 'redis', url: 'redis://127.0.0.1', profile: 'p' })).ok,
    ).toBe(true);
  });
});

describe('store: it answers, and its record opens', () => {
  it('a Redis nobody runs fails in bounded time with the ping to try', async () => {
    const port = await freePort();
    const store = { kind: 'redis' as const, url: `redis://127.0.0.1:${port}`, profile: 'p' };
    const started = Date.now();
    const result = await checkStore(store, store);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/cannot be reached/);
    expect(result.fix).toMatch(/redis-cli/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('SQLite: a missing file passes (login makes it), an existing one opens', async () => {
    const path = join(root, 'tokens.db');
    const spec = { kind: 'sqlite' as const, path, profile: 'p' };
    const missing = await checkStore(spec, spec);
    expect(missing.ok).toBe(true);
    expect(missing.detail).toMatch(/not made yet/);
    const made = await createStore(spec);
    await made.close();
    const opened = await checkStore(spec, spec);
    expect(opened.ok, opened.detail).toBe(true);
    expect(opened.detail).toMatch(/answers; no login stored/);
  });

  it('a record the configured passphrase cannot open fails, naming the usual cause', async () => {
    sandbox = await startSandbox({ flavor: 'schwab' });
    const record = await sandboxLogin(sandbox, 'schwab');
    const path = join(root, 'enc', 'token.json');
    await mkdir(join(root, 'enc'), { mode: 0o700 });
    const right = await createStore({
      kind: 'file',
      path,
      encryption: { passphrase: 'right horse battery' },
    });
    await right.save(record);
    await right.close();
    const wrong = {
      kind: 'file' as const,
      path,
      encryption: { passphrase: 'wrong horse battery' },
    };
    const result = await checkStore(wrong, wrong);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/cannot open/);
    expect(result.fix).toMatch(/mistyped passphrase/);
    const good = { kind: 'file' as const, path, encryption: { passphrase: 'right horse battery' } };
    expect((await checkStore(good, good)).ok).toBe(true);
  });
});

describe('certificate: trusted, or the command that trusts it', () => {
  it('missing: fails with td-token cert; untrusted: fails; in the system bundle: passes', async () => {
    const certDir = join(root, 'certs');
    const none = await checkCertificate('https://127.0.0.1:8182', certDir, {});
    expect(none.ok).toBe(false);
    expect(none.fix).toContain('td-token cert');
    const files = await ensureCertificate(certDir);
    const bundle = join(root, 'bundle.pem');
    await writeFile(bundle, '');
    const untrusted = await checkCertificate('https://127.0.0.1:8182', certDir, {
      SSL_CERT_FILE: bundle,
    });
    expect(untrusted.ok).toBe(false);
    expect(untrusted.fix).toMatch(/update-ca-certificates/);
    await writeFile(bundle, await readFile(files.certPath, 'utf8'));
    const trusted = await checkCertificate('https://127.0.0.1:8182', certDir, {
      SSL_CERT_FILE: bundle,
    });
    expect(trusted.ok, trusted.detail).toBe(true);
    expect(trusted.detail).toContain(bundle);
    const extra = await checkCertificate('https://127.0.0.1:8182', certDir, {
      SSL_CERT_FILE: join(root, 'no-bundle.pem'),
      NODE_EXTRA_CA_CERTS: bundle,
    });
    expect(extra.ok).toBe(true);
    expect(extra.detail).toContain('NODE_EXTRA_CA_CERTS');
    expect((await checkCertificate('http://localhost:8000', certDir, {})).detail).toMatch(
      /not needed/,
    );
  });
});
