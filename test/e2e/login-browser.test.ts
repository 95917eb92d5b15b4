/**
 * `td-token login` end to end: the built command runs as a child process against the sandbox,
 * and headless Chromium does what a person does (Log in, the provider's login form, Allow).
 * Both providers: Schwab (https://127.0.0.1:<port>) and TD Ameritrade (https://localhost:<port>).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exchangeAuthorizationCode } from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import { accountNumber } from '../../src/sandbox/api.js';
import { SANDBOX_DEFAULT_APPS, type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { freePort, isListening } from '../login/support.js';
import {
  assertBuilt,
  type Child,
  isolatedEnv,
  loginThroughBrowser,
  runCli,
  SEED_FIELDS,
  signInToSandbox,
  startCli,
} from './support.js';

type Flavor = 'schwab' | 'tdameritrade';

const E2E_TIMEOUT = 90_000;

let browser: TestBrowser;
let dir: string;
/** Whether this machine has ::1 (the login server then binds it for a localhost redirect URI). */
let hasIpv6Loopback = false;
const children: Child[] = [];
const contexts: BrowserContext[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'td-token-e2e-login-'));
  browser = await launchBrowser();
  hasIpv6Loopback = await new Promise<boolean>((resolve) => {
    const probe = createNetServer();
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
});

afterEach(async () => {
  for (const child of children.splice(0)) await child.stop();
  for (const context of contexts.splice(0)) await context.close();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

afterAll(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Another site (plain http on 127.0.0.1, so neither same-origin nor same-site with the login
 * server) whose page holds `count` hidden frames of `frameUrl`. Returns the page's URL.
 */
async function serveFramingPage(frameUrl: string, count: number): Promise<string> {
  const frames = Array.from(
    { length: count },
    (_, i) => `<iframe src="${frameUrl}?n=${i}" width="1" height="1" style="border:0"></iframe>`,
  ).join('\n');
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>a page elsewhere</title>\n${frames}\n`);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/**
 * Another process on this computer: `count` plain GETs of `url` one after the other (Node's
 * https.get, no Fetch Metadata), printing the statuses. Killed after 20 s.
 */
async function plainGets(url: string, count: number): Promise<number[]> {
  const script = `
    const https = require('node:https');
    const [url, count] = process.argv.slice(1);
    const get = () => new Promise((resolve, reject) => {
      https.get(url, { rejectUnauthorized: false, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      }).on('error', reject);
    });
    (async () => {
      const statuses = [];
      for (let i = 0; i < Number(count); i++) statuses.push(await get());
      process.stdout.write(JSON.stringify(statuses));
    })().catch((error) => { console.error(error); process.exit(1); });
  `;
  const child = spawn(process.execPath, ['-e', script, url, String(count)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(killer);
  if (code !== 0) throw new Error(`the plain GETs failed (exit ${code}): ${err}`);
  return JSON.parse(out) as number[];
}

async function newPage(): Promise<Page> {
  const context = await browser.browser.newContext({ ignoreHTTPSErrors: true });
  contexts.push(context);
  return context.newPage();
}

describe.each<Flavor>(['schwab', 'tdameritrade'])('td-token login (%s)', (flavor) => {
  let sandbox: Sandbox;
  let n = 0;

  beforeAll(async () => {
    sandbox = await startSandbox({ flavor });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  /** A fresh home, a free port, an app registered for it, and the flags that point at it all. */
  async function setup() {
    const home = join(dir, `${flavor}-${++n}`);
    const port = await freePort(flavor === 'tdameritrade');
    const redirectUri =
      flavor === 'schwab' ? `https://127.0.0.1:${port}` : `https://localhost:${port}`;
    const app = SANDBOX_DEFAULT_APPS[flavor];
    sandbox.registerApp({ ...app, redirectUris: [redirectUri] });
    const tokenFile = join(home, 'output', 'token.json');
    const flags = [
      '--provider',
      flavor,
      '--client-id',
      app.clientId,
      ...(app.clientSecret === undefined ? [] : ['--client-secret', app.clientSecret]),
      '--redirect-uri',
      redirectUri,
      '--authorize-url',
      sandbox.authorizeUrl,
      '--token-url',
      sandbox.tokenUrl,
      '--api-url',
      sandbox.apiUrl,
      '--token-file',
      tokenFile,
    ];
    const env = isolatedEnv(home);
    const origin = new URL(redirectUri).origin;
    const cli = (args: string[], input?: string) =>
      runCli([...args, ...flags], { env, cwd: dir, ...(input === undefined ? {} : { input }) });
    const login = (...extra: string[]) => {
      const child = startCli(['login', '--no-browser', ...extra, ...flags], { env, cwd: dir });
      children.push(child);
      return child;
    };
    const provider = createProvider(flavor, {
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      redirectUri,
      authorizeUrl: sandbox.authorizeUrl,
      tokenUrl: sandbox.tokenUrl,
      apiUrl: sandbox.apiUrl,
    });
    // The flags as error messages repeat them: the secret stays in the environment.
    const loginFlags = flags
      .map((flag) => (flag === app.clientSecret ? '"$TD_TOKEN_CLIENT_SECRET"' : flag))
      .join(' ');
    return {
      home,
      port,
      redirectUri,
      origin,
      tokenFile,
      flags,
      loginFlags,
      env,
      cli,
      login,
      provider,
    };
  }

  /** Wait until the login server says it listens; returns the address it printed. */
  async function listening(child: Child, origin: string): Promise<string> {
    const match = await child.waitForStderr(/to log in, open (\S+) in a browser/);
    const loginUrl = match[1] ?? '';
    // The address carries the per-run secret: only the person who ran td-token has it.
    expect(loginUrl).toMatch(/\/login\?secret=[A-Za-z0-9_-]{43}$/);
    expect(loginUrl.startsWith(`${origin}/login?`)).toBe(true);
    return loginUrl;
  }

  /** The sandbox account an access token belongs to (each sandbox user has their own). */
  async function accountOf(accessToken: string): Promise<string | undefined> {
    const path = flavor === 'schwab' ? '/trader/v1/accounts/accountNumbers' : '/v1/accounts';
    const answer = await fetch(`${sandbox.apiUrl}${path}`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as {
      accountNumber?: string;
      securitiesAccount?: { accountId: string };
    }[];
    return body[0]?.accountNumber ?? body[0]?.securitiesAccount?.accountId;
  }

  /** The addresses the login server binds: TD's `localhost` is both 127.0.0.1 and ::1. */
  function boundHosts(): string[] {
    return flavor === 'tdameritrade' ? ['127.0.0.1', '::1'] : ['127.0.0.1'];
  }

  /** Nothing accepts connections on the redirect URI's port, on any address the server bound. */
  async function expectClosed(port: number): Promise<void> {
    for (const host of boundHosts()) {
      expect(await isListening(host, port), `${host} port ${port}`).toBe(false);
    }
  }

  /**
   * In Chromium: open the authorize URL, log in to the sandbox, press Allow (or Deny), and
   * return the URL the provider sent the browser to, whose page fails to load because nothing
   * listens there (the `--manual` case).
   */
  async function approveInChromium(
    authorizeUrl: string,
    redirectOrigin: string,
    choice: 'allow' | 'deny' = 'allow',
  ): Promise<string> {
    const page = await newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(authorizeUrl);
    await signInToSandbox(page);
    const failed = page.waitForEvent('requestfailed', {
      predicate: (request) =>
        request.isNavigationRequest() && request.url().startsWith(`${redirectOrigin}/`),
      timeout: 15_000,
    });
    // The click's navigation ends in a load error: that is what the person sees too.
    await Promise.all([
      failed,
      page.click(choice === 'allow' ? '#allow' : '#deny').catch(() => {}),
    ]);
    const request = await failed;
    expect(request.failure()?.errorText).toMatch(/ERR_CONNECTION_REFUSED|ERR_ADDRESS_UNREACHABLE/);
    // Chromium shows its error page for the address that failed; the address bar still holds
    // that address, which a person copies. The failed navigation's URL is that address.
    await expect.poll(() => page.url(), { timeout: 5_000 }).toBe('chrome-error://chromewebdata/');
    return request.url();
  }

  it(
    'logs in through the browser; the token file has the seed fields, mode 0600, and token, status and refresh work',
    async () => {
      const t = await setup();
      const child = t.login('--timeout', '60s');
      const loginUrl = await listening(child, t.origin);
      // Listening on every address it binds, so the checks that it stopped mean something.
      for (const host of boundHosts()) {
        expect(await isListening(host, t.port), host).toBe(host === '127.0.0.1' || hasIpv6Loopback);
      }
      const page = await newPage();
      await loginThroughBrowser(page, loginUrl);
      expect(await page.locator('#result').getAttribute('data-result')).toBe('success');
      expect(await page.textContent('h1')).toBe('Logged in');
      expect(await child.exit).toBe(0);
      expect(child.stderr()).toMatch(/logged in to/);
      expect(child.stdout()).toBe('');
      await expectClosed(t.port);

      const text = await readFile(t.tokenFile, 'utf8');
      const record = JSON.parse(text) as Record<string, unknown>;
      expect(Object.keys(record).slice(0, 6)).toEqual([...SEED_FIELDS]);
      expect(typeof record['access_token']).toBe('string');
      expect(typeof record['refresh_token']).toBe('string');
      expect(record['expires_at']).toBeGreaterThan(Date.now() + 25 * 60_000);
      expect(record['refresh_token_expires_at']).toBeGreaterThan(Date.now() + 6 * 86_400_000);
      expect(record['token_type']).toBe('Bearer');
      expect(record['scope']).toBe(
        flavor === 'schwab' ? 'api' : 'PlaceTrades AccountAccess MoveMoney',
      );
      if (process.platform !== 'win32') {
        expect((await stat(t.tokenFile)).mode & 0o777).toBe(0o600);
      }
      const access = String(record['access_token']);
      const refresh = String(record['refresh_token']);
      // Neither the page nor the command's output shows a token; the final page has no secret.
      const html = await page.content();
      expect(html).not.toContain(new URL(loginUrl).searchParams.get('secret'));
      for (const secret of [access, refresh]) {
        expect(html).not.toContain(secret);
        expect(child.stderr()).not.toContain(secret);
      }

      const token = await t.cli(['token']);
      expect(token.code).toBe(0);
      expect(token.stdout).toBe(`${access}\n`);

      const status = await t.cli(['status', '--json']);
      expect(status.code).toBe(0);
      const report = JSON.parse(status.stdout) as Record<string, unknown> & {
        api: { accepted: boolean | null };
      };
      expect(report['loggedIn']).toBe(true);
      expect(report.api.accepted).toBe(true);
      expect(status.stdout).not.toContain(access);
      expect(status.stdout).not.toContain(refresh);

      const refreshed = await t.cli(['refresh', '--force']);
      expect(refreshed.code).toBe(0);
      const after = JSON.parse(await readFile(t.tokenFile, 'utf8')) as Record<string, unknown>;
      expect(after['access_token']).not.toBe(access);
      const again = await t.cli(['token']);
      expect(again.stdout).toBe(`${String(after['access_token'])}\n`);
    },
    E2E_TIMEOUT,
  );

  it(
    '--keep-running: the status page shows its buttons only with the secret; Log in (POST), Refresh and Stop work, with no CSP violation and no Referer',
    async () => {
      const t = await setup();
      const child = t.login('--keep-running', '--timeout', '60s');
      const loginUrl = await listening(child, t.origin);
      const secret = new URL(loginUrl).searchParams.get('secret') ?? '';
      const statusUrl = (
        await child.waitForStderr(/the status page, with its Refresh and Stop buttons: (\S+)/)
      )[1];
      expect(statusUrl).toBe(`${t.origin}/?secret=${secret}`);
      const page = await newPage();
      const violations: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
      });
      // What the provider is sent must not carry the secret (no Referer from our pages).
      const toProvider: Promise<string | undefined>[] = [];
      page.on('request', (request) => {
        if (request.url().startsWith(sandbox.url)) {
          toProvider.push(request.allHeaders().then((headers) => headers['referer']));
        }
      });

      // Without the secret: the status, no buttons, and where to get them.
      await page.goto(`${t.origin}/`);
      expect(await page.textContent('main')).toContain('Not logged in');
      expect(await page.textContent('#no-secret')).toContain(
        'open the address td-token printed in the terminal',
      );
      expect(await page.locator('form').count()).toBe(0);
      expect(await page.content()).not.toContain(secret);

      // With it: the Log in button, a POST form, answered with a redirect to the provider.
      await page.goto(statusUrl!);
      // The stylesheet applied (allowed by its hash): the button is styled, not the default.
      const background = await page
        .locator('button#login')
        .evaluate(
          (element) => element.ownerDocument.defaultView?.getComputedStyle(element).backgroundColor,
        );
      expect(background).toBe('rgb(47, 111, 222)');
      await page.click('button#login');
      await page.waitForURL((url) => url.origin === new URL(sandbox.url).origin);
      await signInToSandbox(page);
      await page.click('#allow');
      await page.locator('#result').waitFor();
      expect(await page.locator('#result').getAttribute('data-result')).toBe('success');
      // The login this run started leads back to the status page with its buttons.
      await page.click('a#status');
      await page.locator('button#login').waitFor();
      expect(new URL(page.url()).searchParams.get('secret')).toBe(secret);
      expect(await page.textContent('main')).toContain('Logged in.');
      const before = JSON.parse(await readFile(t.tokenFile, 'utf8')) as Record<string, unknown>;

      await page.click('button:has-text("Refresh now")');
      await page.locator('.notice').waitFor();
      expect(await page.textContent('.notice')).toMatch(/^Refreshed/);
      const after = JSON.parse(await readFile(t.tokenFile, 'utf8')) as Record<string, unknown>;
      expect(after['access_token']).not.toBe(before['access_token']);

      await page.click('button:has-text("Stop this server")');
      await page.locator('#result[data-result="stopped"]').waitFor();
      expect(await child.exit).toBe(0);
      await expectClosed(t.port);
      expect(violations).toEqual([]);
      const referers = await Promise.all(toProvider);
      expect(referers.length).toBeGreaterThan(0);
      expect(referers.filter((referer) => referer?.includes(secret))).toEqual([]);
    },
    E2E_TIMEOUT,
  );

  it(
    'Deny: the page says what happened and what to do, and the command exits 1',
    async () => {
      const t = await setup();
      const child = t.login('--timeout', '60s');
      const loginUrl = await listening(child, t.origin);
      const page = await newPage();
      await loginThroughBrowser(page, loginUrl, 'deny');
      expect(await page.locator('#result').getAttribute('data-code')).toBe('access_denied');
      expect(await page.textContent('h1')).toBe('Login denied');
      expect(await page.textContent('main')).toContain('What to do:');
      expect(await child.exit).toBe(1);
      expect(child.stderr()).toMatch(/td-token: the login was denied at the provider/);
      await expectClosed(t.port);
      await expect(stat(t.tokenFile)).rejects.toThrow();
    },
    E2E_TIMEOUT,
  );

  it(
    'a page elsewhere framing /login more times than states are kept starts no login, and the real login still works',
    async () => {
      const t = await setup();
      const child = t.login('--timeout', '60s');
      const loginUrl = await listening(child, t.origin);
      const page = await newPage();
      // The person starts a login: the state it carries must survive what follows.
      await page.goto(loginUrl);
      await signInToSandbox(page);
      // Meanwhile, in the same browser, a page on another site frames /login 40 times.
      const framed = 40;
      const elsewhere = await page.context().newPage();
      const answers: number[] = [];
      elsewhere.on('response', (response) => {
        if (response.url().startsWith(`${t.origin}/login?n=`)) answers.push(response.status());
      });
      await elsewhere.goto(await serveFramingPage(`${t.origin}/login`, framed));
      await expect.poll(() => answers.length, { timeout: 20_000 }).toBe(framed);
      expect(new Set(answers)).toEqual(new Set([403]));
      await expect
        .poll(() => child.stderr(), { timeout: 5_000 })
        .toContain(
          'refused to start a login for a request with Sec-Fetch-Dest: iframe (another site, a frame or a script); still waiting for the login',
        );

      sandbox.resetCounters();
      await page.click('#allow');
      await page.locator('#result').waitFor();
      expect(await page.locator('#result').getAttribute('data-result')).toBe('success');
      expect(await child.exit).toBe(0);
      expect(sandbox.counters().token.authorization_code).toBe(1);
      expect(child.stderr()).toContain(
        `refused ${framed} request(s) from another site or a frame to start a login`,
      );
      await expectClosed(t.port);
      const record = JSON.parse(await readFile(t.tokenFile, 'utf8')) as Record<string, unknown>;
      expect(typeof record['access_token']).toBe('string');
    },
    E2E_TIMEOUT,
  );

  it(
    "another local process's 33 plain GET /login (no secret) start no login, and the person's login stores the person's token",
    async () => {
      const t = await setup();
      const child = t.login('--timeout', '60s');
      const loginUrl = await listening(child, t.origin);
      const page = await newPage();
      // The person opens the printed address and signs in with their own account.
      await page.goto(loginUrl);
      await signInToSandbox(page);
      // Meanwhile another process on this computer asks for more logins than states are kept,
      // with plain requests (no Fetch Metadata, no secret).
      const statuses = await plainGets(`${t.origin}/login`, 33);
      expect(statuses).toEqual(Array.from({ length: 33 }, () => 403));
      sandbox.resetCounters();
      await page.click('#allow');
      await page.locator('#result').waitFor();
      expect(await page.locator('#result').getAttribute('data-result')).toBe('success');
      expect(await child.exit).toBe(0);
      expect(sandbox.counters().token.authorization_code).toBe(1);
      expect(child.stderr()).toContain(
        "refused 33 request(s) without this run's secret to start a login",
      );
      await expectClosed(t.port);
      const record = JSON.parse(await readFile(t.tokenFile, 'utf8')) as Record<string, unknown>;
      expect(await accountOf(String(record['access_token']))).toBe(
        accountNumber('e2e-user', flavor === 'schwab' ? 8 : 9),
      );
    },
    E2E_TIMEOUT,
  );

  it(
    'a tampered state gets an error page, the server keeps waiting, and the real login then works',
    async () => {
      const t = await setup();
      const child = t.login('--timeout', '60s');
      const loginUrl = await listening(child, t.origin);
      const page = await newPage();
      // Start a login, then change the state on the way to the provider.
      await page.goto(loginUrl);
      const authorize = new URL(page.url());
      expect(`${authorize.origin}${authorize.pathname}`).toBe(sandbox.authorizeUrl);
      authorize.searchParams.set('state', 'forged-by-someone-else');
      await page.goto(authorize.href);
      await signInToSandbox(page);
      sandbox.resetCounters();
      await page.click('#allow');
      await page.locator('#result').waitFor();
      expect(await page.locator('#result').getAttribute('data-code')).toBe('state_mismatch');
      expect(await page.textContent('h1')).toBe('Not from this login');
      expect(sandbox.counters().token.total).toBe(0);
      expect(child.stderr()).toContain('still waiting for the login');

      // Still running: the real login goes through.
      await loginThroughBrowser(page, loginUrl);
      expect(await page.locator('#result').getAttribute('data-result')).toBe('success');
      expect(await child.exit).toBe(0);
      expect(sandbox.counters().token.authorization_code).toBe(1);
      const record = JSON.parse(await readFile(t.tokenFile, 'utf8')) as Record<string, unknown>;
      expect(typeof record['access_token']).toBe('string');
    },
    E2E_TIMEOUT,
  );

  it(
    'a code that was already used: the page says the login failed, and the command exits 1',
    async () => {
      const t = await setup();
      const child = t.login('--timeout', '60s');
      const loginUrl = await listening(child, t.origin);
      const page = await newPage();
      // Hold the browser at the callback, redeem its code elsewhere first, then let it through.
      await page.goto(loginUrl);
      const state = new URL(page.url()).searchParams.get('state') ?? undefined;
      await signInToSandbox(page);
      let callback: string | undefined;
      // The provider answers Allow with a redirect to the callback: keep that answer back.
      await page.route(
        (url) => url.origin === new URL(sandbox.url).origin,
        async (route) => {
          const answer = await route.fetch({ maxRedirects: 0 });
          const location = answer.headers()['location'];
          if (location !== undefined && new URL(location, sandbox.url).origin === t.origin) {
            callback = new URL(location, sandbox.url).href;
            await route.fulfill({ status: 200, contentType: 'text/plain', body: 'held back' });
          } else {
            await route.fulfill({ response: answer });
          }
        },
      );
      await page.click('#allow');
      await expect.poll(() => callback, { timeout: 10_000 }).toBeDefined();
      await exchangeAuthorizationCode(t.provider, callback!, {
        expectedState: state,
        retry: false,
      });
      await page.unrouteAll();
      await page.goto(callback!);
      const rejectedCode = `the ${flavor === 'schwab' ? 'Schwab' : 'TD Ameritrade'} token endpoint rejected the authorization code (invalid_grant)`;
      expect(await page.locator('#result').getAttribute('data-result')).toBe('error');
      expect(await page.locator('#result').getAttribute('data-code')).toBe('oauth_error');
      expect(await page.textContent('h1')).toBe('Login failed');
      const main = (await page.innerText('main')).replace(/\s+/g, ' ').trim();
      expect(main).toMatch(/^Login failed /);
      expect(main).toContain(
        `The provider did not give a token for this login. T${rejectedCode.slice(1)}: it was already used, it expired, or the redirect URI differs from the login's.`,
      );
      expect(main).toContain("What to do: start the login again with 'td-token login'");
      expect(await child.exit).toBe(1);
      // The last line names the rejected code, why, and the exact command to run again.
      const lines = child.stderr().trimEnd().split('\n');
      expect(lines.at(-1)).toBe(
        `td-token: ${rejectedCode}: it was already used, it expired, or the redirect URI differs from the login's. start the login again with 'td-token login ${t.loginFlags}'`,
      );
      expect(child.stderr()).toContain(`login failed: ${rejectedCode}: it was already used`);
      await expectClosed(t.port);
      await expect(stat(t.tokenFile)).rejects.toThrow();
    },
    E2E_TIMEOUT,
  );

  it(
    'gives up after --timeout with a clear message, exit 1, and nothing left listening',
    async () => {
      const t = await setup();
      const startedAt = Date.now();
      const child = t.login('--timeout', '2s');
      await listening(child, t.origin);
      expect(await child.exit).toBe(1);
      expect(Date.now() - startedAt).toBeLessThan(15_000);
      expect(child.stderr()).toMatch(
        /td-token: no login finished within 2 seconds\. run 'td-token login[^']*' again/,
      );
      // Said once, as the last line: not also by the login server before it.
      expect(child.stderr().match(/no login finished within/g)).toHaveLength(1);
      await expectClosed(t.port);
      // A browser arriving late finds nothing there.
      const page = await newPage();
      await expect(page.goto(`${t.origin}/`)).rejects.toThrow();
    },
    E2E_TIMEOUT,
  );

  it(
    '--manual: the URL Chromium ends up on, fed through stdin, logs in; stdin ending without it exits 1 at once',
    async () => {
      const t = await setup();
      const child = t.login('--manual', '--timeout', '60s');
      const match = await child.waitForStderr(/^\s+(http\S+)$/m);
      const authorizeUrl = match[1]!;
      expect(authorizeUrl.startsWith(`${sandbox.authorizeUrl}?`)).toBe(true);
      expect(child.stderr()).toContain('Log in and press Allow');
      // --manual runs no login server: the redirect URI's page fails to load in the browser.
      await expectClosed(t.port);
      const callback = await approveInChromium(authorizeUrl, t.origin);
      const sent = new URL(callback);
      expect(`${sent.origin}${sent.pathname}`).toBe(`${t.origin}/`);
      expect(sent.searchParams.get('state')).toBe(new URL(authorizeUrl).searchParams.get('state'));
      expect(sent.searchParams.get('code')).toBeTruthy();
      child.process.stdin.end(`${callback}\n`);
      expect(await child.exit).toBe(0);
      expect(child.stdout()).toBe('');
      expect(child.stderr()).toContain(
        `logged in to ${flavor} as profile default; the token is stored in file ${t.tokenFile}\n  access token valid until `,
      );
      await expectClosed(t.port);
      const text = await readFile(t.tokenFile, 'utf8');
      const record = JSON.parse(text) as Record<string, unknown>;
      expect(Object.keys(record).slice(0, 6)).toEqual([...SEED_FIELDS]);
      expect(record['provider']).toBe(flavor);
      expect(record['expires_at']).toBeGreaterThan(Date.now() + 25 * 60_000);
      if (process.platform !== 'win32') {
        expect((await stat(t.tokenFile)).mode & 0o777).toBe(0o600);
      }
      // Neither the code nor a token is echoed.
      expect(child.stderr()).not.toContain(String(record['access_token']));
      expect(child.stderr()).not.toContain(sent.searchParams.get('code'));
      const token = await t.cli(['token']);
      expect(token.stdout).toBe(`${String(record['access_token'])}\n`);

      const startedAt = Date.now();
      const empty = await runCli(['login', '--manual', '--timeout', '60s', ...t.flags], {
        env: t.env,
        cwd: dir,
        input: '',
      });
      expect(empty.code).toBe(1);
      expect(Date.now() - startedAt).toBeLessThan(15_000);
      expect(empty.stderr).toMatch(/td-token: standard input ended without the redirected URL/);

      const deny = t.login('--manual', '--timeout', '60s');
      const url = (await deny.waitForStderr(/^\s+(http\S+)$/m))[1]!;
      deny.process.stdin.end(`${await approveInChromium(url, t.origin, 'deny')}\n`);
      expect(await deny.exit).toBe(1);
      expect(deny.stderr()).toMatch(/td-token: the login was denied at the provider/);
    },
    E2E_TIMEOUT,
  );
});

describe('td-token login with the sandbox as the provider', () => {
  it.runIf(process.platform === 'linux')(
    'names the sandbox everywhere, says in one line that the browser could not be opened, gives the opener no passphrase, and --manual says where its page opens',
    async () => {
      const home = join(dir, 'sandbox-mode');
      const bin = join(home, 'bin');
      const seen = join(home, 'opener-env.txt');
      await mkdir(bin, { recursive: true });
      // What xdg-open does on a machine without a display or a text browser: exit 3.
      await writeFile(join(bin, 'xdg-open'), `#!/bin/sh\nenv > '${seen}'\nexit 3\n`, {
        mode: 0o755,
      });
      const env = isolatedEnv(home, {
        PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
        TD_TOKEN_PASSPHRASE: 'e2e passphrase of the sandbox login',
      });
      const port = await freePort();
      const flags = [
        '--provider',
        'sandbox-schwab',
        '--redirect-uri',
        `https://127.0.0.1:${port}`,
        '--timeout',
        '60s',
      ];
      const child = startCli(['login', ...flags], { env, cwd: dir });
      children.push(child);
      const loginUrl = (await child.waitForStderr(/to log in, open (\S+) in a browser/))[1]!;
      const failure = (await child.waitForStderr(/^could not open a browser .*$/m))[0];
      expect(failure).toBe(
        "could not open a browser (xdg-open exited with code 3; no display: DISPLAY is not set). open the address above in a browser on this computer, or run 'td-token login --manual' to log in by pasting the redirected address instead",
      );
      // Beside the printed address: after it, with at most the certificate note between.
      const lines = child.stderr().split('\n');
      const at = lines.findIndex((line) => line.startsWith('to log in, open '));
      expect(lines.slice(at + 1, at + 3)).toContain(failure);
      const openerEnv = await readFile(seen, 'utf8');
      expect(openerEnv).not.toContain('TD_TOKEN_PASSPHRASE');
      expect(openerEnv).not.toContain('e2e passphrase of the sandbox login');

      const page = await newPage();
      await page.goto(`https://127.0.0.1:${port}/`);
      expect((await page.innerText('dl')).replace(/\s+/g, ' ')).toContain(
        'Provider the sandbox (schwab flavor)',
      );
      await loginThroughBrowser(page, loginUrl);
      expect(await page.locator('#result').getAttribute('data-result')).toBe('success');
      const main = (await page.innerText('main')).replace(/\s+/g, ' ');
      expect(main).toContain(
        'td-token received and stored a token from the sandbox (schwab flavor).',
      );
      expect(main).toMatch(
        /Access token expires \d{4}-\d{2}-\d{2} \d{2}:\d{2} \(UTC[+-]\d{2}:\d{2}\) \(in (29|30) min\)/,
      );
      expect(main).not.toMatch(/\d{2}:\d{2}:\d{2}\.\d{3}Z/);
      expect(await child.exit).toBe(0);
      expect(child.stderr()).toContain(
        'logged in to the sandbox (schwab flavor): the access token expires ',
      );
      expect(child.stderr()).not.toMatch(/logged in to schwab\b/);
      expect(child.stderr().match(/could not open a browser/g)).toHaveLength(1);

      const manual = await runCli(['login', '--manual', ...flags], { env, cwd: dir, input: '' });
      expect(manual.code).toBe(1);
      expect(manual.stderr).toContain(
        'To log in to the sandbox (schwab flavor) without a local login server:',
      );
      expect(manual.stderr).toMatch(
        /1\. Open this URL in a browser on this computer: the login page is served on 127\.0\.0\.1:\d+, which only this computer can reach\./,
      );
      expect(manual.stderr).not.toContain('any machine');
    },
    E2E_TIMEOUT,
  );
});
