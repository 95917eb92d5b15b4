import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CallbackError, isTdTokenError, ProviderError } from '../../src/errors.js';
import { loopbackBindHosts } from '../../src/login/address.js';
import { ensureCertificate } from '../../src/login/cert.js';
import { TokenManager } from '../../src/manager.js';
import { createAuthorizationRequest, exchangeAuthorizationCode } from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import type { Provider } from '../../src/providers/types.js';
import { accountNumber } from '../../src/sandbox/api.js';
import { SANDBOX_DEFAULT_APPS, type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { MemoryStore } from '../../src/stores/index.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';
import {
  freePort,
  type HttpsAnswer,
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

/** The Schwab sandbox account the access token belongs to (each user has their own). */
async function accountOf(accessToken: string): Promise<string | undefined> {
  const answer = await fetch(`${sandbox.apiUrl}/trader/v1/accounts/accountNumbers`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  expect(answer.status).toBe(200);
  const accounts = (await answer.json()) as { accountNumber: string }[];
  return accounts[0]?.accountNumber;
}

/** The same secret with its last character changed (never to itself). */
function offByOne(secret: string): string {
  return `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

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
  it('serves the status page; its buttons and the per-run secret only with ?secret=', async () => {
    const run = await start();
    const secret = secretOf(run.info.loginUrl);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(run.info.loginUrl).toBe(`${run.origin}/login?secret=${secret}`);
    expect(run.info.statusUrl).toBe(`${run.origin}/?secret=${secret}`);
    // Anyone on this computer can load `/`: the status, but no form and no secret.
    const tampered = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    for (const url of [
      `${run.origin}/`,
      `${run.origin}/?secret=`,
      `${run.origin}/?secret=${tampered}`,
      `${run.origin}/?secret=${secret.slice(0, 10)}`,
    ]) {
      const page = await httpsRequest(url, { ca });
      expect(page.status, url).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expectSecurityHeaders(page.headers);
      expect(page.body, url).toContain('Not logged in');
      expect(page.body, url).toContain(
        'To log in, or to refresh or stop from this page, open the address td-token printed in the terminal.',
      );
      expect(page.body, url).not.toContain(secret);
      expect(page.body, url).not.toMatch(/<form|name="secret"|href="\/login/);
    }
    // With the secret: the Log in, and Stop buttons, each a POST form carrying it.
    const page = await httpsRequest(run.info.statusUrl, { ca });
    expect(page.status).toBe(200);
    expectSecurityHeaders(page.headers);
    expect(page.body).toContain('Not logged in');
    expect(page.body).toContain('<form method="post" action="/login">');
    expect(page.body).toContain('<button type="submit" id="login">Log in</button>');
    expect(page.body).toContain('<form method="post" action="/shutdown">');
    expect(page.body).not.toContain('open the address td-token printed');
    expect(secretOf(page.body)).toBe(secret);
    run.abort();
    const outcome = await run.outcome;
    expect(outcome.error).toBeInstanceOf(Error);
    expect(await isListening('127.0.0.1', run.port)).toBe(false);
  });

  it('redirects the printed address to the provider with a fresh state each time', async () => {
    const run = await start();
    const first = await httpsRequest(run.info.loginUrl, { ca });
    const second = await httpsRequest(run.info.loginUrl, { ca });
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
      const answer = await httpsRequest(run.info.loginUrl, {
        ca,
        headers: { 'sec-fetch-mode': mode },
      });
      expect(answer.status, mode).toBe(403);
      expect(answer.headers.location).toBeUndefined();
    }
    const navigation = await httpsRequest(run.info.loginUrl, {
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
    // Even with the secret (a leaked address): another site or a frame starts nothing.
    for (const [what, headers] of refused) {
      const answer = await httpsRequest(run.info.loginUrl, { ca, headers });
      expect(answer.status, what).toBe(403);
      expect(answer.headers.location, what).toBeUndefined();
      expectSecurityHeaders(answer.headers);
      expect(answer.body, what).toContain('data-code="forbidden"');
      expect(answer.body, what).toContain('No login was started.');
      expect(answer.body, what).toContain(
        'open the address td-token printed in the terminal in the address bar.',
      );
    }
    // Typed or pasted into the address bar, or the status page's Log in button.
    for (const site of ['none', 'same-origin']) {
      const answer = await httpsRequest(run.info.loginUrl, {
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
    const redirect = await httpsRequest(run.info.loginUrl, {
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

  it("refuses a local process's 33 plain GET /login (no secret): no state is minted, and the person's login still stores the person's token", async () => {
    const run = await start();
    const secret = secretOf(run.info.loginUrl);
    // The person opens the address td-token printed and approves with their own account.
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
    expect(redirect.status).toBe(302);
    const callback = await approveInSandbox(String(redirect.headers.location), {
      username: 'the-person',
    });
    // Meanwhile another process on this computer (another user's, say) asks for more logins
    // than the server keeps states, the plainest way: no Fetch Metadata, no secret. Before the
    // secret was needed, that pushed the person's state out and gave it states of its own.
    for (let i = 0; i < 33; i++) {
      const answer = await httpsRequest(`${run.origin}/login`);
      expect(answer.status, `request ${i + 1}`).toBe(403);
      expect(answer.headers.location).toBeUndefined();
      expectSecurityHeaders(answer.headers);
      expect(answer.body).toContain('data-code="forbidden"');
      expect(answer.body).toContain('No login was started.');
      expect(answer.body).toContain('open the address td-token printed in the terminal');
      expect(answer.body).not.toContain(secret);
    }
    expect(everyLine(run)).toContain(
      "refused to start a login for a request without this run's secret (not the address td-token printed); still waiting for the login",
    );
    // The log mentions a few and then counts.
    expect(run.logs.length).toBeLessThan(10);

    // The person's state is still there: the login completes with the person's account.
    sandbox.resetCounters();
    const page = await httpsRequest(callback, { ca });
    expect(page.status).toBe(200);
    expect(page.body).toContain('data-result="success"');
    const { record } = await run.outcome;
    expect(run.stored).toEqual([record]);
    expect(sandbox.counters().token.authorization_code).toBe(1);
    expect(await accountOf(record!.access_token)).toBe(accountNumber('the-person', 8));
    expect(everyLine(run)).toContain(
      "refused 33 request(s) without this run's secret to start a login",
    );
  });

  it('gives a local process without the secret no state of its own, so nothing of its is stored', async () => {
    const run = await start();
    const secret = secretOf(run.info.loginUrl);
    const wrong = offByOne(secret);
    // Every way to start a login without the secret: none leads to the provider.
    const tries: [string, string, HttpsAnswer][] = [];
    const attempt = async (what: string, path: string, options = {}) => {
      tries.push([what, path, await httpsRequest(`${run.origin}${path}`, options)]);
    };
    await attempt('GET', '/login');
    await attempt('GET, empty secret', '/login?secret=');
    await attempt('GET, wrong secret', `/login?secret=${wrong}`);
    await attempt('GET, part of the secret', `/login?secret=${secret.slice(0, 20)}`);
    await attempt('GET as a navigation', '/login', {
      headers: {
        'sec-fetch-mode': 'navigate',
        'sec-fetch-dest': 'document',
        'sec-fetch-site': 'none',
      },
    });
    await attempt('HEAD', '/login', { method: 'HEAD' });
    await attempt('POST', '/login', { method: 'POST', headers: FORM, body: '' });
    await attempt('POST, wrong secret', '/login', {
      method: 'POST',
      headers: FORM,
      body: `secret=${wrong}`,
    });
    for (const [what, , answer] of tries) {
      expect(answer.status, what).toBe(403);
      expect(answer.headers.location, what).toBeUndefined();
      expect(answer.body, what).not.toContain(secret);
    }
    // Nor does any page it can load give it the secret (or a form that carries it).
    for (const path of ['/', `/?secret=${wrong}`, '/?code=a&state=b', '/nowhere', '/shutdown']) {
      const answer = await httpsRequest(`${run.origin}${path}`);
      expect(answer.body, path).not.toContain(secret);
      expect(answer.body, path).not.toContain('<form');
    }

    // Left to make an authorization request of its own and approve it with its own account,
    // its callback carries a state this server never sent: refused, nothing exchanged or stored.
    sandbox.resetCounters();
    const own = createAuthorizationRequest(run.provider);
    const forged = await approveInSandbox(own.url, { username: 'the-attacker' });
    expect(new URL(forged).searchParams.get('code')).toBeTruthy();
    const refused = await httpsRequest(forged);
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('data-code="state_mismatch"');
    expect(refused.body).not.toContain(secret);
    expectSecurityHeaders(refused.headers);
    expect(sandbox.counters().token.total).toBe(0);
    expect(run.stored).toEqual([]);

    // The person's login goes through, and what is stored is the person's.
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
    const callback = await approveInSandbox(String(redirect.headers.location), {
      username: 'the-person',
    });
    expect((await httpsRequest(callback, { ca })).status).toBe(200);
    const { record } = await run.outcome;
    expect(run.stored).toEqual([record]);
    expect(await accountOf(record!.access_token)).toBe(accountNumber('the-person', 8));
    expect(accountNumber('the-person', 8)).not.toBe(accountNumber('the-attacker', 8));
  });

  it("starts a login from the status page's Log in button: POST with the secret, from this origin, 303 to the provider", async () => {
    const run = await start();
    const secret = secretOf((await httpsRequest(run.info.statusUrl, { ca })).body);
    // What Chromium sends for the button of our no-referrer page.
    const button = {
      ...FORM,
      origin: 'null',
      'sec-fetch-site': 'same-origin',
      'sec-fetch-mode': 'navigate',
      'sec-fetch-dest': 'document',
    };
    const press = () =>
      httpsRequest(`${run.origin}/login`, {
        ca,
        method: 'POST',
        headers: button,
        body: `secret=${secret}`,
      });
    const first = await press();
    const second = await press();
    expect(first.status).toBe(303);
    expectSecurityHeaders(first.headers);
    const location = new URL(String(first.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(sandbox.authorizeUrl);
    expect(location.searchParams.get('state')).toBeTruthy();
    expect(location.searchParams.get('state')).not.toBe(
      new URL(String(second.headers.location)).searchParams.get('state'),
    );
    // The secret from another site, or no secret: refused.
    for (const [what, headers, body] of [
      ['another origin', { ...FORM, origin: 'https://evil.example' }, `secret=${secret}`],
      ['cross-site', { ...button, 'sec-fetch-site': 'cross-site' }, `secret=${secret}`],
      ['no secret', button, ''],
    ] as const) {
      const answer = await httpsRequest(`${run.origin}/login`, {
        ca,
        method: 'POST',
        headers,
        body,
      });
      expect(answer.status, what).toBe(403);
      expect(answer.headers.location, what).toBeUndefined();
    }
    const put = await httpsRequest(run.info.loginUrl, { ca, method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe('GET, POST');
    expect(put.body).not.toContain(secret);

    const callback = await approveInSandbox(location);
    const page = await httpsRequest(callback, { ca });
    expect(page.status).toBe(200);
    expect(page.body).toContain('data-result="success"');
    expect((await run.outcome).record).toBeDefined();
  });

  it('sends the security headers on every kind of page, and the secret only to pages that proved it', async () => {
    const run = await start({ keepRunning: true });
    const secret = secretOf(run.info.loginUrl);
    const seen = new Set<number>();
    const check = (what: string, answer: HttpsAnswer, status: number): HttpsAnswer => {
      expect(answer.status, what).toBe(status);
      expectSecurityHeaders(answer.headers);
      if (status < 300 || status >= 400) {
        expect(answer.headers['content-type'], what).toBe('text/html; charset=utf-8');
      }
      seen.add(status);
      return answer;
    };
    const get = (path: string, options = {}) =>
      httpsRequest(`${run.origin}${path}`, { ca, ...options });

    check('status', await get('/'), 200);
    check('status with the secret', await get(`/?secret=${secret}`), 200);
    check('not found', await get('/nowhere'), 404);
    check('a page with another method', await get('/', { method: 'PUT' }), 405);
    check('an action with GET', await get(`/shutdown?secret=${secret}`), 405);
    check('a foreign Host', await get('/', { headers: { host: `evil.example:${run.port}` } }), 421);
    check('login without the secret', await get('/login'), 403);
    check(
      'a POST without the secret',
      await get('/shutdown', { method: 'POST', headers: FORM }),
      403,
    );
    const wrong = check('a callback of no login', await get('/?code=c&state=s'), 400);
    expect(wrong.body).not.toContain(secret);
    check('login', await httpsRequest(run.info.loginUrl, { ca }), 302);

    // A failed exchange (the code was redeemed elsewhere first): an error page.
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
    const location = new URL(String(redirect.headers.location));
    const used = await approveInSandbox(location);
    await exchangeAuthorizationCode(run.provider, used, {
      expectedState: location.searchParams.get('state') ?? '',
      retry: false,
    });
    const failed = check('a failed exchange', await httpsRequest(used, { ca }), 502);
    expect(failed.body).toContain('Login failed');
    // A callback of a login this run started, the server still running: Log in again, Status.
    expect(secretOf(failed.body)).toBe(secret);
    expect(failed.body).toContain(`href="/?secret=${secret}"`);
    // The same callback again: its state is spent, so it gets no secret.
    const replayed = check('a spent state', await httpsRequest(used, { ca }), 400);
    expect(replayed.body).not.toContain(secret);

    // A login that works: the success page.
    const again = await httpsRequest(run.info.loginUrl, { ca });
    const callback = await approveInSandbox(String(again.headers.location));
    const success = check('success', await httpsRequest(callback, { ca }), 200);
    expect(success.body).toContain('data-result="success"');

    const stopped = check(
      'stopped',
      await get('/shutdown', { method: 'POST', headers: FORM, body: `secret=${secret}` }),
      200,
    );
    expect(stopped.body).toContain('data-result="stopped"');
    expect([...seen].sort()).toEqual([200, 302, 400, 403, 404, 405, 421, 502]);
    // Forms post to this server only; the provider is there for the Log in button's redirect.
    expect(String(stopped.headers['content-security-policy'])).toContain(
      `; form-action 'self' ${new URL(sandbox.authorizeUrl).origin};`,
    );
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
    const login = await httpsRequest(run.info.loginUrl, {
      ca,
      headers: { host: `evil.example:${run.port}` },
    });
    expect(login.body).not.toContain(secretOf(run.info.loginUrl));
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
    const secret = secretOf((await httpsRequest(run.info.statusUrl, { ca })).body);
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
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
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
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
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
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
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
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
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
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
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
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
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
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
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
      onToken: (record) => manager.saveLogin(record),
      status: () => manager.peek(),
      refresh: () => manager.refresh({ force: true }),
    });
    running.push({ outcome: run.outcome, controller });
    const origin = run.info.origin;
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
    const callback = await approveInSandbox(String(redirect.headers.location));
    const success = await httpsRequest(callback, { ca });
    expect(success.status).toBe(200);
    expect(success.body).toContain('keeps running');
    // The login this run started proved the secret: its page links to the status page with it.
    const secret = secretOf(run.info.loginUrl);
    expect(success.body).toContain(`<a class="button" id="status" href="/?secret=${secret}">`);
    expect(everyLine(run)).toContain(
      `the status page, with its Refresh and Stop buttons: ${run.info.statusUrl}`,
    );

    const open = await httpsRequest(`${origin}/`, { ca });
    expect(open.body).toContain('Logged in.');
    expect(open.body).not.toContain(secret);
    expect(open.body).not.toContain('<form');
    const status = await httpsRequest(`${origin}/?secret=${secret}`, { ca });
    expect(status.body).toContain('Logged in.');
    expect(status.body).toContain('Refresh token expires');
    expect(status.body).toContain('action="/login/refresh"');
    const stored = await manager.peek();
    expect(stored).toBeDefined();
    for (const page of [open, status, success]) {
      expect(page.body).not.toContain(stored!.access_token);
      expect(page.body).not.toContain(stored!.refresh_token);
    }
    expect(secretOf(status.body)).toBe(secret);
    sandbox.resetCounters();
    const refreshed = await httpsRequest(`${origin}/login/refresh`, {
      ca,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `secret=${secret}`,
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toContain('Refreshed');
    // Answered to a POST that carried the secret: the buttons are still there.
    expect(secretOf(refreshed.body)).toBe(secret);
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
      const redirect = await httpsRequest(run.info.loginUrl);
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
      expect(run.info.loginUrl).toMatch(
        new RegExp(`^${run.origin.replaceAll('.', '\\.')}/login\\?secret=[A-Za-z0-9_-]{43}$`),
      );
      expect(everyLine(run)).toContain(`open ${run.info.loginUrl} in a browser`);
      run.abort();
      await run.outcome;
    } finally {
      process.env['PATH'] = path;
    }
  });

  it('says in one line beside the address when the browser cannot be opened, and gives the opener no td-token secret', async () => {
    if (process.platform !== 'linux') return; // xdg-open is Linux's opener; macOS and Windows have their own.
    const bin = join(dir, 'failing-bin');
    const seen = join(dir, 'failing-opener-env.txt');
    await mkdir(bin, { recursive: true });
    // What xdg-open does on a machine without a display or a text browser: exit 3.
    await writeFile(join(bin, 'xdg-open'), `#!/bin/sh\nenv > "${seen}"\nexit 3\n`, {
      mode: 0o755,
    });
    const path = process.env['PATH'];
    const display = process.env['DISPLAY'];
    process.env['PATH'] = `${bin}:${path ?? ''}`;
    process.env['DISPLAY'] = ':99';
    process.env['TD_TOKEN_PASSPHRASE'] = 'passphrase-of-the-login-test';
    try {
      const run = await start({ openBrowser: true });
      await expect
        .poll(() => run.logs.filter((line) => line.startsWith('could not open a browser')), {
          timeout: 5_000,
        })
        .toEqual([
          "could not open a browser (xdg-open exited with code 3). open the address above in a browser on this computer, or run 'td-token login --manual' to log in by pasting the redirected address instead",
        ]);
      // Beside the printed address: the line right after it.
      const at = run.logs.findIndex((line) => line.startsWith('to log in, open '));
      expect(run.logs.slice(at + 1).join('\n')).toMatch(
        /^(the browser may warn[^\n]*\n)?could not open a browser/,
      );
      const env = await readFile(seen, 'utf8');
      expect(env).toContain('DISPLAY=:99');
      expect(env).not.toContain('TD_TOKEN_PASSPHRASE');
      expect(env).not.toContain('passphrase-of-the-login-test');
      run.abort();
      await run.outcome;
    } finally {
      process.env['PATH'] = path;
      if (display === undefined) delete process.env['DISPLAY'];
      else process.env['DISPLAY'] = display;
      delete process.env['TD_TOKEN_PASSPHRASE'];
    }
  });

  it('names the provider as it is told (the sandbox) in the log, the status page and the success page, with local times', async () => {
    const label = 'the sandbox (schwab flavor)';
    const run = await start({ providerLabel: label });
    const status = await httpsRequest(`${run.origin}/`, { ca });
    expect(status.body).toContain(`<dt>Provider</dt><dd>${label}</dd>`);
    expect(status.body).not.toContain('<dd>schwab</dd>');
    const redirect = await httpsRequest(run.info.loginUrl, { ca });
    const callback = await approveInSandbox(String(redirect.headers.location));
    const success = await httpsRequest(callback, { ca });
    expect(success.body).toContain(`td-token received and stored a token from ${label}.`);
    expect(success.body).not.toMatch(/\d{2}:\d{2}:\d{2}\.\d{3}Z/);
    expect(success.body).toMatch(
      /<dd>\d{4}-\d{2}-\d{2} \d{2}:\d{2} \(UTC[+-]\d{2}:\d{2}\) \(in (29|30) min\)<\/dd>/,
    );
    await run.outcome;
    expect(everyLine(run)).toMatch(
      /^logged in to the sandbox \(schwab flavor\): the access token expires \d{4}-\d{2}-\d{2} \d{2}:\d{2} \(UTC[+-]\d{2}:\d{2}\) \(in (29|30) min\), the refresh token /m,
    );
    expect(everyLine(run)).not.toContain('logged in to schwab');
    expect(everyLine(run)).not.toMatch(/\d{2}:\d{2}:\d{2}\.\d{3}Z/);
  });

  it('says the timeout once: in the rejection the caller reports, not also in the log', async () => {
    const run = await start({ timeoutMs: 300 });
    const { error } = await run.outcome;
    expect(isTdTokenError(error, 'login_timeout')).toBe(true);
    expect((error as Error).message).toMatch(/^no login finished within 300 ms\. /);
    expect(everyLine(run)).not.toContain('no login finished');
  });

  it('checks its arguments', async () => {
    await expect(
      startLogin(sandboxProvider(`https://127.0.0.1:${await freePort()}`), { providerLabel: '' }),
    ).rejects.toThrow(new TypeError('"options.providerLabel" must be a non-empty string'));
    const provider = sandboxProvider(`https://127.0.0.1:${await freePort()}`);
    await expect(startLogin(provider, { timeoutMs: 0 })).rejects.toThrow(
      new TypeError('"options.timeoutMs" must be a positive number'),
    );
  });
});
