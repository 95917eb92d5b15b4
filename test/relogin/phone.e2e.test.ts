/**
 * The re-login page in Chromium with a phone-sized viewport, through the whole flow against the
 * real sandbox: open the link, press "Log in at the sandbox", log in and Allow in the tab that
 * opens, copy the address that tab ended on (the redirect URI does not load), paste it, see
 * success, and find the login stored. A code pasted after it expired gets the clear message and
 * a fresh link that works. The phone screenshot kept in docs/ is taken here: with
 * `TD_TOKEN_UPDATE_SCREENSHOT=1` it replaces docs/relogin-phone.png, otherwise it is written to
 * the test's temporary folder (so a test run leaves the repository as it was).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { ROOT, signInToSandbox } from '../e2e/support.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { type PageUnderTest, secretOf, startPage } from './support.js';

const E2E_TIMEOUT = 90_000;
/** A phone: 390 x 844 CSS pixels, touch, at 1x so the kept screenshot stays small. */
const PHONE = {
  viewport: { width: 390, height: 844 },
  isMobile: true,
  hasTouch: true,
  deviceScaleFactor: 1,
  ignoreHTTPSErrors: true,
} as const;

let browser: TestBrowser;
let sandbox: Sandbox;
let dir: string;
const contexts: BrowserContext[] = [];
const pages: PageUnderTest[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'td-token-relogin-phone-'));
  sandbox = await startSandbox({ flavor: 'schwab' });
  browser = await launchBrowser();
});

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
  for (const page of pages.splice(0)) await page.close();
});

afterAll(async () => {
  await browser?.close();
  await sandbox?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function phone(): Promise<BrowserContext> {
  const context = await browser.browser.newContext(PHONE);
  contexts.push(context);
  return context;
}

/**
 * Step 1 as a person does it: press "Log in at the sandbox", log in and Allow in the new tab,
 * and read the address that tab ended on (its page fails to load: read from the request).
 */
async function logInAtProvider(context: BrowserContext, page: Page, redirectUri: string) {
  const [tab] = await Promise.all([context.waitForEvent('page'), page.click('#authorize')]);
  await signInToSandbox(tab);
  const [ended] = await Promise.all([
    tab.waitForRequest((request) => request.url().startsWith(redirectUri)),
    tab.click('#allow'),
  ]);
  const address = ended.url();
  await tab.close();
  await page.bringToFront();
  return address;
}

/** An attribute of the result heading, once the answer to the paste has loaded. */
async function resultOf(page: Page, attribute: string): Promise<string | null> {
  const result = page.locator('#result');
  await result.waitFor();
  return result.getAttribute(attribute);
}

describe('the re-login page on a phone', () => {
  it(
    'logs in through the sandbox from the link, and the login is stored',
    async () => {
      const under = await startPage(sandbox, join(dir, 'ok'));
      pages.push(under);
      const context = await phone();
      const page = await context.newPage();
      const link = await under.page.newLink();
      await page.goto(link);
      expect(await page.locator('#authorize').textContent()).toBe('Log in at the sandbox');
      // The page fits the phone: nothing wider than the screen.
      const width = await page.evaluate('document.documentElement.scrollWidth');
      expect(width).toBeLessThanOrEqual(PHONE.viewport.width);
      const screenshot = await page.screenshot({ fullPage: true });
      const kept = process.env['TD_TOKEN_UPDATE_SCREENSHOT'] === '1';
      const shot = kept ? join(ROOT, 'docs', 'relogin-phone.png') : join(dir, 'relogin-phone.png');
      await writeFile(shot, screenshot);
      expect(screenshot.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(screenshot.length).toBeLessThan(200_000);

      const address = await logInAtProvider(context, page, under.provider.redirectUri);
      expect(address).toMatch(/[?&]code=/);
      await page.fill('#callback', address);
      await page.click('#finish');
      expect(await resultOf(page, 'data-result')).toBe('success');
      const stored = await under.manager.peek();
      expect(stored?.refresh_token).toBeTruthy();
      const text = await page.content();
      expect(text).not.toContain(stored?.access_token);
      expect(text).not.toContain(stored?.refresh_token);
      // The link is used: opening it again shows nothing.
      const again = await page.goto(link);
      expect(again?.status()).toBe(404);
    },
    E2E_TIMEOUT,
  );

  it(
    'says a code pasted after it expired has expired, and its fresh link logs in',
    async () => {
      const under = await startPage(sandbox, join(dir, 'late'));
      pages.push(under);
      const context = await phone();
      const page = await context.newPage();
      const link = await under.page.newLink();
      await page.goto(link);
      const address = await logInAtProvider(context, page, under.provider.redirectUri);
      sandbox.clock.advance(sandbox.settings.codeLifetimeMs + 1000);
      await page.fill('#callback', address);
      await page.click('#finish');
      expect(await resultOf(page, 'data-code')).toBe('code_expired');
      expect(await page.locator('#result').textContent()).toBe('The code has expired');
      expect(await page.locator('main').textContent()).toContain('expired before it was pasted');
      expect(await under.manager.peek()).toBeUndefined();

      await page.click('#fresh-link');
      expect(secretOf(page.url())).not.toBe(secretOf(link));
      const second = await logInAtProvider(context, page, under.provider.redirectUri);
      await page.fill('#callback', second);
      await page.click('#finish');
      expect(await resultOf(page, 'data-result')).toBe('success');
      expect((await under.manager.peek())?.refresh_token).toBeTruthy();
    },
    E2E_TIMEOUT,
  );
});
