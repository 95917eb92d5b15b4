/**
 * Headless Chromium for end-to-end tests: Debian's `chromium` driven by playwright-core, with a
 * context that accepts the login server's self-signed certificate.
 */
import { type Browser, type BrowserContext, chromium } from 'playwright-core';

/** Where the system Chromium lives; override with `TD_TOKEN_CHROMIUM`. */
export const CHROMIUM_PATH = process.env['TD_TOKEN_CHROMIUM'] ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** A running browser and one context; `close()` stops both (call it in afterAll). */
export interface TestBrowser {
  browser: Browser;
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launch headless Chromium with a context that ignores certificate errors. */
export async function launchBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    return {
      browser,
      context,
      async close() {
        await context.close().catch(() => {});
        await browser.close();
      },
    };
  } catch (error) {
    await browser.close();
    throw error;
  }
}
