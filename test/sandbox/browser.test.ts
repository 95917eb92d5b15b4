import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, type SandboxFlavor, startSandbox } from '../../src/sandbox/index.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { authorizeUrl } from './support.js';

/** A callback server on 127.0.0.1 that answers a plain page and remembers what it got. */
async function startCallbackServer(
  https: boolean,
): Promise<{ server: Server; url: string; received: string[] }> {
  const received: string[] = [];
  const handler = (req: { url?: string }, res: { end(body: string): void }) => {
    if (req.url?.startsWith('/callback')) received.push(req.url);
    res.end('callback reached');
  };
  let server: Server;
  if (https) {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keyType: 'ec',
      algorithm: 'sha256',
    });
    server = createHttpsServer({ cert: pems.cert, key: pems.private }, handler);
  } else {
    server = createHttpServer(handler);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { server, url: `${https ? 'https' : 'http'}://127.0.0.1:${port}/callback`, received };
}

describe('login and consent pages in a real browser', () => {
  let browser: TestBrowser;
  const sandboxes: Sandbox[] = [];
  const servers: Server[] = [];
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    for (const sandbox of sandboxes) await sandbox.close();
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await browser?.close();
  });

  async function setUp(flavor: SandboxFlavor, https: boolean) {
    const callback = await startCallbackServer(flavor === 'schwab');
    servers.push(callback.server);
    const sandbox = await startSandbox({
      flavor,
      https,
      apps: [
        flavor === 'schwab'
          ? { clientId: 'BrowserKey', clientSecret: 'BrowserSecret', redirectUris: [callback.url] }
          : { clientId: 'BROWSERKEY', redirectUris: [callback.url] },
      ],
    });
    sandboxes.push(sandbox);
    const url = authorizeUrl(sandbox, {
      client_id: flavor === 'schwab' ? 'BrowserKey' : 'BROWSERKEY@AMER.OAUTHAP',
      redirect_uri: callback.url,
      state: 'browser-state',
    });
    return { callback, url };
  }

  it.each([
    ['tdameritrade', false],
    ['schwab', true],
  ] as const)(
    '%s (https: %s): log in, Allow, land on the callback with a code',
    async (flavor, https) => {
      const { callback, url } = await setUp(flavor, https);
      const page = await browser.context.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      try {
        await page.goto(url.href);
        await page.fill('input[name=username]', 'person');
        await page.fill('input[name=password]', 'hunter2');
        await page.click('#login');
        await page.waitForSelector('#allow');
        expect(await page.textContent('body')).toContain('person');
        await Promise.all([
          page.waitForURL((landed) => landed.searchParams.has('code')),
          page.click('#allow'),
        ]);
        const landed = new URL(page.url());
        expect(`${landed.origin}${landed.pathname}`).toBe(callback.url);
        expect(landed.searchParams.get('state')).toBe('browser-state');
        expect(landed.searchParams.get('code')).toMatch(flavor === 'schwab' ? /^C0\..+@$/ : /@/);
        expect(await page.textContent('body')).toBe('callback reached');
        expect(callback.received).toHaveLength(1);
        expect(callback.received[0]).toMatch(/^\/callback\?code=[^@/+=]+&/);
        expect(problems).toEqual([]);
      } finally {
        await page.close();
      }
    },
  );

  it('Deny lands on the callback with error=access_denied', async () => {
    const { url } = await setUp('tdameritrade', false);
    const page = await browser.context.newPage();
    try {
      await page.goto(url.href);
      await page.fill('#username', 'person');
      await page.fill('#password', 'pw');
      await page.click('#login');
      await Promise.all([
        page.waitForURL((landed) => landed.searchParams.has('error')),
        page.click('#deny'),
      ]);
      expect(new URL(page.url()).searchParams.get('error')).toBe('access_denied');
    } finally {
      await page.close();
    }
  });
});
