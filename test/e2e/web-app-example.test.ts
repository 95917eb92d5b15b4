/**
 * The "web application" example (examples/web-app/server.mjs) as a user runs it: its own server
 * in a child process, logging a person in at its own callback route with the library, in
 * headless Chromium against the sandbox. Schwab with a /callback path; TD with the seed-era
 * https://localhost:<port> whose callback is `/`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureCertificate } from '../../src/login/cert.js';
import { SANDBOX_DEFAULT_APPS, type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { logChildOutput } from '../helpers/output-log.js';
import { freePort } from '../login/support.js';
import { assertBuilt, isolatedEnv, ROOT, SEED_FIELDS, signInToSandbox } from './support.js';

type Flavor = 'schwab' | 'tdameritrade';

const EXAMPLE = join(ROOT, 'examples', 'web-app', 'server.mjs');

let browser: TestBrowser;
let dir: string;
let cert: { certPath: string; keyPath: string };
const contexts: BrowserContext[] = [];
const apps: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'td-token-e2e-webapp-'));
  cert = await ensureCertificate(join(dir, 'certs'));
  browser = await launchBrowser();
});

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
  for (const app of apps.splice(0)) {
    if (app.exitCode === null && app.signalCode === null) {
      const closed = new Promise((resolve) => app.once('close', resolve));
      app.kill('SIGKILL');
      await closed;
    }
  }
});

afterAll(async () => {
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each<Flavor>(['schwab', 'tdameritrade'])('web application example (%s)', (flavor) => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ flavor });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it('sends the person to the provider and completes the code flow at its own callback', async () => {
    const port = await freePort();
    const redirectUri =
      flavor === 'schwab' ? `https://127.0.0.1:${port}/callback` : `https://localhost:${port}`;
    const origin = new URL(redirectUri).origin;
    const app = SANDBOX_DEFAULT_APPS[flavor];
    sandbox.registerApp({ ...app, redirectUris: [redirectUri] });
    const tokenFile = join(dir, `${flavor}-token.json`);

    const child = spawn(process.execPath, [EXAMPLE], {
      cwd: dir,
      env: isolatedEnv(dir, {
        TD_TOKEN_PROVIDER: flavor,
        TD_TOKEN_CLIENT_ID: app.clientId,
        ...(app.clientSecret === undefined ? {} : { TD_TOKEN_CLIENT_SECRET: app.clientSecret }),
        TD_TOKEN_REDIRECT_URI: redirectUri,
        TD_TOKEN_AUTHORIZE_URL: sandbox.authorizeUrl,
        TD_TOKEN_TOKEN_URL: sandbox.tokenUrl,
        TD_TOKEN_API_URL: sandbox.apiUrl,
        TD_TOKEN_FILE: tokenFile,
        WEB_APP_CERT: cert.certPath,
        WEB_APP_KEY: cert.keyPath,
      }),
    });
    apps.push(child);
    logChildOutput(child, 'web-app example');
    let stderr = '';
    const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the example did not start: ${stderr}`)),
        15_000,
      );
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
        if (stderr.includes('web app listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('close', () => {
        clearTimeout(timer);
        reject(new Error(`the example exited: ${stderr}`));
      });
    });

    const context = await browser.browser.newContext({ ignoreHTTPSErrors: true });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    expect(await page.textContent('#state')).toBe('Not logged in.');

    // Log in: the app's /login, the provider's pages, the app's callback, back home.
    await page.click('#login');
    await signInToSandbox(page);
    await page.click('#allow');
    await page.waitForURL(`${origin}/`);
    expect(await page.textContent('#state')).toBe(`Logged in to ${flavor}.`);

    const text = await readFile(tokenFile, 'utf8');
    const record = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(record).slice(0, 6)).toEqual([...SEED_FIELDS]);
    if (process.platform !== 'win32') expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    expect(await page.content()).not.toContain(String(record['access_token']));

    // The app calls the API with the stored token.
    sandbox.resetCounters();
    const accounts = await page.goto(`${origin}/accounts`);
    expect(accounts?.status()).toBe(200);
    expect(JSON.parse((await page.textContent('body')) ?? '')).toBeTruthy();
    expect(sandbox.counters().api).toBeGreaterThan(0);

    // A callback the app did not start (no login cookie) is refused without an exchange.
    const stranger = await browser.browser.newContext({ ignoreHTTPSErrors: true });
    contexts.push(stranger);
    const other = await stranger.newPage();
    const callbackPath = new URL(redirectUri).pathname;
    sandbox.resetCounters();
    const forged = await other.goto(`${origin}${callbackPath}?code=forged&state=guess`);
    expect(forged?.status()).toBe(400);
    expect(await other.textContent('#title')).toBe('Login failed');
    expect(sandbox.counters().token.total).toBe(0);

    // Deny comes back as a page that says so.
    await page.goto(`${origin}/`);
    await page.click('#login');
    await signInToSandbox(page);
    await page.click('#deny');
    await page.locator('#error').waitFor();
    expect(await page.textContent('#error')).toMatch(/denied/);

    child.kill('SIGTERM');
    expect(await closed).toBe(0);
  }, 90_000);
});
