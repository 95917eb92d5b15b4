/**
 * Shared pieces of the re-login page tests: a Schwab provider on the sandbox with a token
 * manager over a real token file, and a page started on 127.0.0.1 that records what it logged.
 */
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { TokenManager } from '../../src/manager.js';
import { createProvider } from '../../src/providers/index.js';
import type { Provider } from '../../src/providers/types.js';
import {
  type ReloginPage,
  type ReloginPageOptions,
  startReloginPage,
} from '../../src/relogin/index.js';
import { SANDBOX_DEFAULT_APPS, type Sandbox } from '../../src/sandbox/index.js';
import { FileStore } from '../../src/stores/index.js';

/** A Schwab provider on `sandbox`, with the sandbox's own app and callback. */
export function sandboxProvider(sandbox: Sandbox): Provider {
  const app = SANDBOX_DEFAULT_APPS.schwab;
  return createProvider('schwab', {
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri: app.redirectUris[0] as string,
    authorizeUrl: sandbox.authorizeUrl,
    tokenUrl: sandbox.tokenUrl,
    apiUrl: sandbox.apiUrl,
  });
}

/** A page under test, the manager storing its logins, and its log lines. */
export interface PageUnderTest {
  page: ReloginPage;
  manager: TokenManager;
  provider: Provider;
  logs: string[];
  close(): Promise<void>;
}

/** Start a page on 127.0.0.1 (a free port) for the sandbox, storing into `dir/token.json`. */
export async function startPage(
  sandbox: Sandbox,
  dir: string,
  options: Partial<ReloginPageOptions> = {},
): Promise<PageUnderTest> {
  const provider = sandboxProvider(sandbox);
  const manager = new TokenManager(provider, new FileStore(join(dir, 'token.json')));
  const logs: string[] = [];
  const page = await startReloginPage({
    provider,
    listen: '127.0.0.1:0',
    sandbox: true,
    certDir: join(dir, 'certs'),
    onToken: (record) => manager.saveLogin(record),
    log: (line) => logs.push(line),
    ...options,
  });
  return {
    page,
    manager,
    provider,
    logs,
    /** Stop the page; fails when a log line held anything shaped like a link or its secret. */
    async close() {
      await page.close();
      await manager.close();
      const leak = logs.find((line) => /secret=|[A-Za-z0-9_-]{43}/.test(line));
      if (leak !== undefined) throw new Error('a re-login page log line holds a link secret');
    },
  };
}

/** The secret of a link. */
export function secretOf(link: string): string {
  const secret = new URL(link).searchParams.get('secret');
  if (secret === null) throw new Error(`${link} has no secret`);
  return secret;
}

/** One answer of the page. */
export interface Answer {
  status: number;
  headers: import('node:http').IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTPS request to the page (its certificate is not checked: it is td-token's own, for
 * localhost). `localAddress` picks the address it comes from (127.0.0.2 is another address).
 */
export function call(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    form?: Record<string, string>;
    localAddress?: string;
  } = {},
): Promise<Answer> {
  const target = new URL(url);
  const body =
    options.form === undefined ? undefined : new URLSearchParams(options.form).toString();
  const headers: Record<string, string> = { ...options.headers };
  if (body !== undefined) {
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        hostname: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: options.method ?? (body === undefined ? 'GET' : 'POST'),
        headers,
        rejectUnauthorized: false,
        agent: false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The authorization URL a steps page links to ("Log in at ..."). */
export function authorizeHrefOf(html: string): string {
  const match = /id="authorize" href="([^"]+)"/.exec(html);
  if (match?.[1] === undefined) throw new Error('the page has no "Log in at" link');
  return match[1].replaceAll('&amp;', '&');
}

/** The fresh link a try-again page offers. */
export function freshLinkOf(html: string): string {
  const match = /id="fresh-link" href="([^"]+)"/.exec(html);
  if (match?.[1] === undefined) throw new Error('the page has no fresh link');
  return match[1].replaceAll('&amp;', '&');
}
