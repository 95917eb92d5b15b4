import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CallbackError, isTdTokenError, ProviderError } from '../../src/errors.js';
import { ensureCertificate } from '../../src/login/cert.js';
import { loopbackBindHosts } from '../../src/login/server.js';
import { TokenManager } from '../../src/manager.js';
import { exchangeAuthorizationCode } from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import type { Provider } from '../../src/providers/types.js';
import { SANDBOX_DEFAULT_APPS, type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { MemoryStore } from '../../src/stores/index.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';
import {
  freePort,
  httpsRequest,
  isListening,
  type RunningLogin,
  secretOf,
  startLogin,
} from './support.js';

let dir: string;
let certDir: string;
let ca: string;
let sandbox: Sandbox;
/** Every server started, so a failed test cannot leave one running. */
const running: { outcome: RunningLogin['outcome']; controller: AbortController }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'td-token-login-server-'));
  certDir = join(dir, 'certs');
  ca = (await ensureCertificate(certDir)).cert;
  sandbox = await startSandbox({ flavor: 'schwab' });
});

afterEach(async () => {
  for (const run of running.splice(0)) {
    run.controller.abort();
    await run.outcome;
  }
});

afterAll(async () => {
  await sandbox?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A Schwab provider pointed at the sandbox, with an app registered for `redirectUri`. */
function sandboxProvider(redirectUri: string, register = true): Provider {
  const app = SANDBOX_DEFAULT_APPS.schwab;
  if (register) sandbox.registerApp({ ...app, redirectUris: [redirectUri] });
  return createProvider('schwab', {
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri,
    authorizeUrl: sandbox.authorizeUrl,
    tokenUrl: sandbox.tokenUrl,
    apiUrl: sandbox.apiUrl,
  });
}

async function start(
  options: Parameters<typeof startLogin>[1] = {},
  redirect?: (port: number) => string,
) {
  const port = await freePort(true);
  const redirectUri = redirect ? redirect(port) : `https://127.0.0.1:${port}`;
  // The Schwab sandbox only registers 127.0.0.1 callbacks, like Schwab.
  const provider = sandboxProvider(redirectUri, new URL(redirectUri).hostname === '127.0.0.1');
  const controller = new AbortController();
  const run = await startLogin(provider, { certDir, signal: controller.signal, ...options });
  running.push({ outcome: run.outcome, controller });
  return { ...run, port, provider, origin: run.info.origin, abort: () => controller.abort() };
}

function everyLine(run: RunningLogin): string {
  return run.logs.join('\n');
}

const SECURITY = {
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

function expectSecurityHeaders(headers: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(SECURITY)) expect(headers[name]).toBe(value);
  const csp = String(headers['content-security-policy']);
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("form-action 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('script-src');
}

describe('loopbackBindHosts', () => {
  it('binds both loopback addresses for localhost and only loopback', () => {
    expect(loopbackBindHosts('localhost')).toEqual(['127.0.0.1', '::1']);
    expect(loopbackBindHosts('127.0.0.1')).toEqual(['127.0.0.1']);
    expect(loopbackBindHosts('127.0.0.2')).toEqual(['127.0.0.2']);
    expect(loopbackBindHosts('127.255.1.9')).toEqual(['127.255.1.9']);
    expect(loopbackBindHosts('::1')).toEqual(['::1']);
    expect(loopbackBindHosts('127.0.0.256')).toBeUndefined();
    expect(loopbackBindHosts('128.0.0.1')).toBeUndefined();
    expect(loopbackBindHosts('127.0.0.1.nip.io')).toBeUndefined();
    expect(loopbackBindHosts('[::1]')).toEqual(['::1']);
    expect(loopbackBindHosts('example.com')).toBeUndefined();
    expect(loopbackBindHosts('0.0.0.0')).toBeUndefined();
    expect(loopbackBindHosts('192.168.1.10')).toBeUndefined();
  });
});

describe('runLoginServer', () => {
  it('serves a status page with security headers, a Login link and the per-run secret', async () => {
    const run = await start();
    const page = await httpsRequest(`${run.origin}/`, { ca });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expectSecurityHeaders(page.headers);
    expect(page.body).toContain('Not logged in');
    expect(page.body).toContain('href="/login"');
    expect(page.body).toContain('action="/shutdown"');
    expect(secretOf(page.body)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    run.abort();
    const outcome = await run.outcome;
    expect(outcome.error).toBeInstanceOf(Error);
    expect(await isListening('127.0.0.1', run.port)).toBe(false);
  });

  it('redirects /login to the provider with a fresh state each time', async () => {
    const run = await start();
    const first = await httpsRequest(`${run.origin}/login`, { ca });
    const second = await httpsRequest(`${run.origin}/login`, { ca });
    expect(first.status).toBe(302);
    expectSecurityHeaders(first.headers);
    const a = new URL(String(first.headers.location));
    const b = new URL(String(second.headers.location));
    expect(`${a.origin}${a.pathname}`).toBe(sandbox.authorizeUrl);
    expect(a.searchParams.get('redirect_uri')).toBe(run.provider.redirectUri);
    expect(a.searchParams.get('client_id')).toBe(SANDBOX_DEFAULT_APPS.schwab.clientId);
    expect(a.searchParams.get('state')).toBeTruthy();
    expect(a.searchParams.get('state')).not.toBe(b.searchParams.get('state'));
    // An image or fetch of another page cannot start logins (and push the real state out).
    for (const mode of ['no-cors', 'cors', 'same-origin']) {
      const answer = await httpsRequest(`${run.origin}/login`, {
        ca,
        headers: { 'sec-fetch-mode': mode },
      });
      expect(answer.status, mode).toBe(403);
      expect(answer.headers.location).toBeUndefined();
    }
    const navigation = await httpsRequest(`${run.origin}/login`, {
      ca,
      headers: { 'sec-fetch-mode': 'navigate' },
    });
    expect(navigation.status).toBe(302);
    run.abort();
    await run.outcome;
  });

  it('starts a login only for a top-level navigation the person made (Fetch Metadata)', async () => {
    const run = await start();
    const nav = (dest: string, site: string) => ({
      'sec-fetch-mode': 'navigate',
      'sec-fetch-dest': dest,
      'sec-fetch-site': site,
    });
    // A hidden frame on another site, another site's link or window, a frame of our own.
    const refused: [string, Record<string, string>][] = [
      ['cross-site iframe', nav('iframe', 'cross-site')],
      ['same-site iframe', nav('iframe', 'same-site')],
      ['same-origin iframe', nav('iframe', 'same-origin')],
      ['typed into a frame', nav('frame', 'none')],
      ['cross-site top-level link', nav('document', 'cross-site')],
      ['same-site top-level link', nav('document', 'same-site')],
      ['dest alone', { 'sec-fetch-dest': 'iframe' }],
      ['site alone', { 'sec-fetch-site': 'cross-site' }],
    ];
    for (const [what, headers] of refused) {
      const answer = await httpsRequest(`${run.origin}/login`, { ca, headers });
      expect(answer.status, what).toBe(403);
      expect(answer.headers.location, what).toBeUndefined();
      expectSecurityHeaders(answer.headers);
      expect(answer.body, what).toContain('data-code="forbidden"');
      expect(answer.body, what).toContain('No login was started.');
      expect(answer.body, what).toContain(`open ${run.origin}/login in the address bar.`);
    }
    // Typed or pasted into the address bar, or the status page's Log in button.
    for (const site of ['none', 'same-origin']) {
      const answer = await httpsRequest(`${run.origin}/login`, {
        ca,
        headers: { ...nav('document', site), 'sec-fetch-user': '?1' },
      });
      expect(answer.status, site).toBe(302);
    }
    expect(everyLine(run)).toContain(
      'refused to start a login for a request with Sec-Fetch-Dest: iframe (another site, a frame or a script); still waiting for the login',
    );
    run.abort();
    await run.outcome;
    expect(everyLine(run)).toContain(
      `refused ${refused.length} request(s) from another site or a frame to start a login`,
    );
  });

  it('keeps the real login when a page elsewhere frames /login many times', async () => {
    const run = await start();
    const redirect = await httpsRequest(`${run.origin}/login`, {
      ca,
      headers: {
        'sec-fetch-mode': 'navigate',
        'sec-fetch-dest': 'document',
        'sec-fetch-site': 'none',
      },
    });
    const callback = await approveInSandbox(String(redirect.headers.location));
    // More frames than the states the server keeps: none of them may push the real one out.
    for (let i = 0; i < 40; i++) {
      const framed = await httpsRequest(`${run.origin}/login`, {
        ca,
        headers: {
          'sec-fetch-mode': 'navigate',
          'sec-fetch-dest': 'iframe',
          'sec-fetch-site': 'cross-site',
        },
      });
      expect(framed.status).toBe(403);
    }
    const page = await httpsRequest(callback, { ca });
    expect(page.status).toBe(200);
    expect(page.body).toContain('data-result="success"');
    expect((await run.outcome).record).toBeDefined();
  });

  it('refuses requests whose Host header is not a loopback name with the right port', async () => {
    const run = await start();
    for (const host of [
      `evil.example:${run.port}`,
      'evil.example',
      `127.0.0.1:${run.port + 1}`,
      `127.0.0.1.nip.io:${run.port}`,
      `localhost.evil.example:${run.port}`,
    ]) {
      const answer = await httpsRequest(`${run.origin}/`, { ca, headers: { host } });
      expect(answer.status, host).toBe(421);
      expect(answer.body).not.toContain('name="secret"');
      expectSecurityHeaders(answer.headers);
    }
    const login = await httpsRequest(`${run.origin}/login`, {
      ca,
      headers: { host: `evil.example:${run.port}` },
    });
    expect(login.status).toBe(421);
    expect(login.headers.location).toBeUndefined();
    for (const host of [
      `localhost:${run.port}`,
      `127.0.0.1:${run.port}`,
      `[::1]:${run.port}`,
      `LOCALHOST:${run.port}`,
    ]) {
      const answer = await httpsRequest(`${run.origin}/`, { ca, headers: { host } });
      expect(answer.status, host).toBe(200);
    }
    run.abort();
    await run.outcome;
  });

  it('changes state only on POST with the per-run secret from its own origin', async () => {
    const run = await start();
    const secret = secretOf((await httpsRequest(`${run.origin}/`, { ca })).body);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };

    const get = await httpsRequest(`${run.origin}/shutdown?secret=${secret}`, { ca });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    const none = await httpsRequest(`${run.origin}/shutdown`, {
      ca,
      method: 'POST',
      headers: form,
      body: '',
    });
    expect(none.status).toBe(403);
    // One character off (never the same one: a random secret ends in 'A' one time in 64).
    const tampered = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    expect(tampered).not.toBe(secret);
    const wrong = await httpsRequest(`${run.origin}/shutdown`, {
      ca,
      method: 'POST',
      headers: form,
      body: `secret=${tampered}`,
    });
    expect(wrong.status).toBe(403);
    const foreign = await httpsRequest(`${run.origin}/shutdown`, {
      ca,
      method: 'POST',
      headers: { ...form, origin: 'https://evil.example' },
      body: `secret=${secret}`,
    });
    expect(foreign.status).toBe(403);
    const crossSite = await httpsRequest(`${run.origin}/shutdown`, {
      ca,
      method: 'POST',
      headers: { ...form, 'sec-fetch-site': 'cross-site' },
      body: `secret=${secret}`,
    });
    expect(crossSite.status).toBe(403);
    // An opaque origin (a sandboxed frame elsewhere) is refused; a no-referrer page of ours is not.
    const opaque = await httpsRequest(`${run.origin}/shutdown`, {
      ca,
      method: 'POST',
      headers: { ...form, origin: 'null', 'sec-fetch-site': 'cross-site' },
      body: `secret=${secret}`,
    });
    expect(opaque.status).toBe(403);
    const opaqueNoSite = await httpsRequest(`${run.origin}/shutdown`, {
      ca,
      method: 'POST',
      headers: { ...form, origin: 'null' },
      body: `secret=${secret}`,
    });
    expect(opaqueNoSite.status).toBe(403);
    const json = await httpsRequest(`${run.origin}/shutdown`, {
      ca,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ secret }),
    });
    expect(json.status).toBe(403);
    const refreshGet = await httpsRequest(`${run.origin}/login/refresh`, { ca });
    expect(refreshGet.status).toBe(405);
    // None of that stopped the server.
    expect((await httpsRequest(`${run.origin}/`, { ca })).status).toBe(200);

    const ok = await httpsRequest(`${run.origin}/shutdown`, {
      ca,
      method: 'POST',
      headers: { ...form, origin: 'null', 'sec-fetch-site': 'same-origin' },
      body: `secret=${encodeURIComponent(secret)}`,
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('data-result="stopped"');
    const outcome = await run.outcome;
    expect(isTdTokenError(outcome.error, 'login_required')).toBe(true);
    expect(await isListening('127.0.0.1', run.port)).toBe(false);
  });

  it('logs in: /login, the provider, the callback; stores the token, shows success and stops', async () => {
    const run = await start();
    const redirect = await httpsRequest(`${run.origin}/login`, { ca });
    const callback = await approveInSandbox(String(redirect.headers.location));
    expect(callback.startsWith(`${run.provider.redirectUri}/?`)).toBe(true);
    const page = await httpsRequest(callback, { ca });
    expect(page.status).toBe(200);
    expectSecurityHeaders(page.headers);
    expect(page.body).toContain('data-result="success"');
    const { record, error } = await run.outcome;
    expect(error).toBeUndefined();
    expect(record).toBeDefined();
    expect(run.stored).toEqual([record]);
    expect(record?.provider).toBe('schwab');
    expect(record?.expires_at).toBeGreaterThan(Date.now());
    // The token is neither in the page nor in the log.
    for (const secret of [record!.access_token, record!.refresh_token]) {
      expect(page.body).not.toContain(secret);
      expect(everyLine(run)).not.toContain(secret);
    }
    expect(sandbox.counters().token.authorization_code).toBeGreaterThan(0);
    expect(await isListening('127.0.0.1', run.port)).toBe(false);
  });

  it('refuses a callback with a wrong or missing state, exchanges nothing, and keeps waiting', async () => {
    const run = await start();
    const redirect = await httpsRequest(`${run.origin}/login`, { ca });
    const callback = new URL(await approveInSandbox(String(redirect.headers.location)));
    sandbox.resetCounters();

    const tampered = new URL(callback);
    tampered.searchParams.set('state', 'not-the-state');
    const wrong = await httpsRequest(tampered, { ca });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toContain('data-code="state_mismatch"');
    expectSecurityHeaders(wrong.headers);

    const stateless = new URL(callback);
    stateless.searchParams.delete('state');
    const missing = await httpsRequest(stateless, { ca });
    expect(missing.status).toBe(400);
    expect(missing.body).toContain('data-code="missing_state"');

    expect(sandbox.counters().token.total).toBe(0);
    expect(run.stored).toEqual([]);
    expect(everyLine(run)).toContain('still waiting');

    // The real callback still completes the login.
    const page = await httpsRequest(callback, { ca });
    expect(page.status).toBe(200);
    const { record } = await run.outcome;
    expect(run.stored).toEqual([record]);
    expect(sandbox.counters().token.total).toBe(1);
  });

  it('survives a flood of bad callbacks without exchanging or storing anything', async () => {
    const run = await start();
    const redirect = await httpsRequest(`${run.origin}/login`, { ca });
    const callback = new URL(await approveInSandbox(String(redirect.headers.location)));
    sandbox.resetCounters();
    const agent = new Agent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: false });
    try {
      const bad: URL[] = [];
      for (let i = 0; i < 300; i++) {
        const url = new URL(run.origin);
        const kind = i % 6;
        if (kind === 0) url.search = `?code=forged${i}&state=guess${i}`;
        else if (kind === 1)
          url.search = `?code=${callback.searchParams.get('code')}&state=guess${i}`;
        else if (kind === 2) url.search = `?error=access_denied&state=guess${i}`;
        else if (kind === 3) url.search = `?code=%E0%A4%A&state=%ZZ`;
        else if (kind === 4) url.search = `?state=${'x'.repeat(2000)}&code=${'y'.repeat(2000)}`;
        else url.search = `?code=c&code=d&state=a&state=b`;
        bad.push(url);
      }
      const answers = await Promise.all(bad.map((url) => httpsRequest(url, { agent })));
      expect(answers.every((a) => a.status === 400)).toBe(true);
    } finally {
      agent.destroy();
    }
    expect(sandbox.counters().token.total).toBe(0);
    expect(run.stored).toEqual([]);
    // The log mentions a few and then counts; it does not grow with the flood.
    expect(run.logs.length).toBeLessThan(10);
    const page = await httpsRequest(callback, { ca });
    expect(page.status).toBe(200);
    const { record } = await run.outcome;
    expect(run.stored).toEqual([record]);
    expect(everyLine(run)).toMatch(/refused 300 callback/);
  });

  it('shows what happened when the person presses Deny, and rejects with access_denied', async () => {
    const run = await start();
    const redirect = await httpsRequest(`${run.origin}/login`, { ca });
    const callback = await approveInSandbox(String(redirect.headers.location), { deny: true });
    expect(new URL(callback).searchParams.get('error')).toBe('access_denied');
    const page = await httpsRequest(callback, { ca });
    expect(page.status).toBe(403);
    expect(page.body).toContain('Login denied');
    expect(page.body).toContain('data-code="access_denied"');
    expect(page.body).toContain('What to do:');
    const { error } = await run.outcome;
    expect(error).toBeInstanceOf(CallbackError);
    expect(isTdTokenError(error, 'access_denied')).toBe(true);
    expect(run.stored).toEqual([]);
    expect(await isListening('127.0.0.1', run.port)).toBe(false);
  });

  it('shows what happened when the exchange fails (a used code), and rejects with the provider error', async () => {
    const run = await start();
    const redirect = await httpsRequest(`${run.origin}/login`, { ca });
    const location = new URL(String(redirect.headers.location));
    const callback = await approveInSandbox(location);
    // Someone else redeems the code first.
    await exchangeAuthorizationCode(run.provider, callback, {
      expectedState: location.searchParams.get('state') ?? '',
      retry: false,
    });
    const page = await httpsRequest(callback, { ca });
    expect(page.status).toBe(502);
    expect(page.body).toContain('Login failed');
    expect(page.body).toContain('What to do:');
    const { error } = await run.outcome;
    expect(error).toBeInstanceOf(ProviderError);
    expect(run.stored).toEqual([]);
    expect(everyLine(run)).toContain('login failed');
    expect(await isListening('127.0.0.1', run.port)).toBe(false);
  });

  it('keeps nothing when stopped while the code is being exchanged', async () => {
    let exchange: Promise<string> | undefined;
    const run = await start({
      fetch: (input, init) => {
        const answer = globalThis.fetch(input, init);
        exchange = answer.then(
          () => 'answered',
          (error: Error) => `failed: ${error.name}`,
        );
        return answer;
      },
    });
    const redirect = await httpsRequest(`${run.origin}/login`, { ca });
    const callback = await approveInSandbox(String(redirect.headers.location));
    sandbox.faults.inject({ kind: 'delay', ms: 5_000 }, 1);
    const page = httpsRequest(callback, { ca }).catch((error: unknown) => error);
    // The token request has reached the provider (the fault was taken) when we stop.
    await expect.poll(() => sandbox.faults.pending(), { timeout: 5_000 }).toBe(0);
    run.abort();
    const { error, record } = await run.outcome;
    expect(record).toBeUndefined();
    expect((error as Error).name).toBe('AbortError');
    expect(await page).toBeInstanceOf(Error);
    // The exchange in flight was cut off with the server, so nothing can be stored later.
    expect(await exchange).toBe('failed: AbortError');
    expect(run.stored).toEqual([]);
    expect(await isListening('127.0.0.1', run.port)).toBe(false);
    sandbox.faults.clear();
  });

  it('gives up after the timeout with a clear error and closes every connection', async () => {
    const run = await start({ timeoutMs: 400 });
    // An idle keep-alive connection must not keep the server open.
    const agent = new Agent({ keepAlive: true, ca });
    try {
      expect((await httpsRequest(`${run.origin}/`, { agent, ca })).status).toBe(200);
      const { error } = await run.outcome;
      expect(isTdTokenError(error, 'login_timeout')).toBe(true);
      expect((error as Error).message).toMatch(
        /^no login finished within 0 seconds|^no login finished within/,
      );
      expect((error as Error).message).toContain("run 'td-token login' again");
      expect(await isListening('127.0.0.1', run.port)).toBe(false);
    } finally {
      agent.destroy();
    }
  });

  it('listens on loopback only', async () => {
    const run = await start();
    for (const address of run.info.addresses) {
      expect(['127.0.0.1', '::1']).toContain(address.address);
      expect(address.port).toBe(run.port);
    }
    const external = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i !== undefined && !i.internal);
    for (const address of external) {
      expect(await isListening(address!.address, run.port), address!.address).toBe(false);
    }
    run.abort();
    await run.outcome;
  });

  it('binds 127.0.0.1 and ::1 for a localhost redirect URI', async () => {
    const run = await start({}, (port) => `https://localhost:${port}`);
    const hosts = run.info.addresses.map((a) => a.address).sort();
    expect(hosts[0]).toBe('127.0.0.1');
    const v6 = await isListening('::1', run.port);
    expect(hosts.includes('::1')).toBe(v6);
    expect(run.info.origin).toBe(`https://localhost:${run.port}`);
    run.abort();
    await run.outcome;
    expect(await isListening('127.0.0.1', run.port)).toBe(false);
  });

  it('serves the callback on the redirect URI path and keeps / as the status page', async () => {
    const run = await start({}, (port) => `https://127.0.0.1:${port}/login/callback`);
    expect(run.info.callbackPath).toBe('/login/callback');
    expect((await httpsRequest(`${run.origin}/?code=x&state=y`, { ca })).status).toBe(200);
    const bare = await httpsRequest(`${run.origin}/login/callback`, { ca });
    expect(bare.status).toBe(400);
    const redirect = await httpsRequest(`${run.origin}/login`, { ca });
    const callback = await approveInSandbox(String(redirect.headers.location));
    expect(new URL(callback).pathname).toBe('/login/callback');
    expect((await httpsRequest(callback, { ca })).status).toBe(200);
    expect((await run.outcome).record).toBeDefined();
  });

  it('keeps running as a status page, refreshes on POST, and stops on /shutdown', async () => {
    const port = await freePort();
    const provider = sandboxProvider(`https://127.0.0.1:${port}`);
    const manager = new TokenManager(provider, new MemoryStore());
    const controller = new AbortController();
    const run = await startLogin(provider, {
      certDir,
      signal: controller.signal,
      keepRunning: true,
      manager,
      onToken: (record) => manager.saveLogin(record),
    });
    running.push({ outcome: run.outcome, controller });
    const origin = run.info.origin;
    const redirect = await httpsRequest(`${origin}/login`, { ca });
    const callback = await approveInSandbox(String(redirect.headers.location));
    const success = await httpsRequest(callback, { ca });
    expect(success.status).toBe(200);
    expect(success.body).toContain('keeps running');

    const status = await httpsRequest(`${origin}/`, { ca });
    expect(status.body).toContain('Logged in.');
    expect(status.body).toContain('Refresh token expires');
    const stored = await manager.peek();
    expect(stored).toBeDefined();
    expect(status.body).not.toContain(stored!.access_token);
    expect(status.body).not.toContain(stored!.refresh_token);

    const secret = secretOf(status.body);
    sandbox.resetCounters();
    const refreshed = await httpsRequest(`${origin}/login/refresh`, {
      ca,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `secret=${secret}`,
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toContain('Refreshed');
    expect(sandbox.counters().token.refresh_token).toBe(1);
    const after = await manager.peek();
    expect(after?.access_token).not.toBe(stored?.access_token);

    const stop = await httpsRequest(`${origin}/shutdown`, {
      ca,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `secret=${secret}`,
    });
    expect(stop.status).toBe(200);
    const { record, error } = await run.outcome;
    expect(error).toBeUndefined();
    expect(record?.access_token).toBe(stored?.access_token);
    expect(await isListening('127.0.0.1', port)).toBe(false);
    await manager.close();
  });

  it('refuses a redirect URI that is not loopback, naming the fix', async () => {
    const provider = sandboxProvider('https://example.com:8182', false);
    const error = await startLogin(provider, { certDir }).catch((e: unknown) => e);
    expect(isTdTokenError(error, 'invalid_config')).toBe(true);
    expect((error as Error).message).toContain('--redirect-uri');
    const wild = sandboxProvider('https://0.0.0.0:8182', false);
    await expect(startLogin(wild, { certDir })).rejects.toThrow(/does not point at this computer/);
  });

  it('serves any address of 127.0.0.0/8 it can bind, only there, and logs in through it', async () => {
    const host = '127.0.0.2';
    const port = await freePort();
    const redirectUri = `https://${host}:${port}`;
    const td = await startSandbox({ flavor: 'tdameritrade' });
    try {
      const app = SANDBOX_DEFAULT_APPS.tdameritrade;
      td.registerApp({ ...app, redirectUris: [redirectUri] });
      const provider = createProvider('tdameritrade', {
        clientId: app.clientId,
        redirectUri,
        authorizeUrl: td.authorizeUrl,
        tokenUrl: td.tokenUrl,
        apiUrl: td.apiUrl,
      });
      const bindable = await new Promise<boolean>((resolve) => {
        const probe = createNetServer();
        probe.once('error', () => resolve(false));
        probe.listen(0, host, () => probe.close(() => resolve(true)));
      });
      if (!bindable) {
        // macOS has only 127.0.0.1 unless an alias is added: the error says so and what to do.
        await expect(startLogin(provider, { certDir })).rejects.toThrow(
          `the login server cannot listen on ${host}:${port}: this computer has no such loopback address`,
        );
        return;
      }
      const controller = new AbortController();
      const run = await startLogin(provider, { certDir, signal: controller.signal });
      running.push({ outcome: run.outcome, controller });
      expect(run.info.origin).toBe(redirectUri);
      expect(run.info.addresses.map((a) => a.address)).toEqual([host]);
      expect(await isListening('127.0.0.1', port)).toBe(false);
      expect(everyLine(run)).toContain(
        `td-token's certificate names localhost, 127.0.0.1, [::1], not ${host}, so browsers warn about it even when it is trusted`,
      );
      const status = await httpsRequest(`${redirectUri}/`);
      expect(status.status).toBe(200);
      const rebound = await httpsRequest(`${redirectUri}/`, {
        headers: { host: `127.0.0.3:${port}` },
      });
      expect(rebound.status).toBe(421);
      expect(rebound.body).toContain(
        `only answers requests addressed to localhost, 127.0.0.1, [::1] or ${host}.`,
      );
      const redirect = await httpsRequest(`${redirectUri}/login`);
      const location = new URL(String(redirect.headers.location));
      expect(location.searchParams.get('redirect_uri')).toBe(redirectUri);
      const callback = await approveInSandbox(location);
      expect(callback.startsWith(`${redirectUri}/?`)).toBe(true);
      expect((await httpsRequest(callback)).status).toBe(200);
      expect((await run.outcome).record?.provider).toBe('tdameritrade');
      expect(await isListening(host, port)).toBe(false);
    } finally {
      await td.close();
    }
  });

  it('says when the port is taken, and leaves nothing listening of its own', async () => {
    const run = await start();
    const second = await startLogin(run.provider, { certDir }).catch((e: unknown) => e);
    expect(isTdTokenError(second, 'invalid_config')).toBe(true);
    expect((second as Error).message).toMatch(/in use/);
    // The first server is unaffected.
    expect((await httpsRequest(`${run.origin}/`, { ca })).status).toBe(200);
    run.abort();
    await run.outcome;
  });

  it('uses the certificate it is given', async () => {
    const own = await ensureCertificate(join(dir, 'own-certs'));
    const run = await start({ cert: { cert: own.cert, key: own.key }, certDir: undefined });
    expect(run.info.certPath).toBeUndefined();
    expect((await httpsRequest(`${run.origin}/`, { ca: own.cert })).status).toBe(200);
    await expect(httpsRequest(`${run.origin}/`, { ca })).rejects.toThrow();
    run.abort();
    await run.outcome;
  });

  it('opens the browser at the login URL, and does not with openBrowser false', async () => {
    if (process.platform !== 'linux') return;
    const bin = join(dir, 'fake-bin');
    const seen = join(dir, 'opened.txt');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'xdg-open'), `#!/bin/sh\necho "$@" >> "${seen}"\n`, { mode: 0o755 });
    const path = process.env['PATH'];
    process.env['PATH'] = `${bin}:${path ?? ''}`;
    try {
      const quiet = await start({ openBrowser: false });
      quiet.abort();
      await quiet.outcome;
      const run = await start({ openBrowser: true });
      await expect
        .poll(() => readFile(seen, 'utf8').catch(() => ''), { timeout: 5_000 })
        .toBe(`${run.info.loginUrl}\n`);
      expect(run.info.loginUrl).toBe(`${run.origin}/login`);
      expect(everyLine(run)).toContain(`open ${run.info.loginUrl} in a browser`);
      run.abort();
      await run.outcome;
    } finally {
      process.env['PATH'] = path;
    }
  });

  it('checks its arguments', async () => {
    const provider = sandboxProvider(`https://127.0.0.1:${await freePort()}`);
    await expect(startLogin(provider, { timeoutMs: 0 })).rejects.toThrow(
      new TypeError('"options.timeoutMs" must be a positive number'),
    );
  });
});
