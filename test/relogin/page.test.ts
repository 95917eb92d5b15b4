/**
 * The re-login page over real HTTPS against the real sandbox, without a browser: a link opens
 * the two steps, a pasted callback stores the login through the token manager, an expired code
 * gets a clear message and a fresh link, and every other request (wrong, used or expired
 * secrets, other paths, hosts, methods, frames, foreign posts) gets the same bare 404, within a
 * rate limit per address and overall.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { newLinkSecret, parseReloginListen, startReloginPage } from '../../src/relogin/index.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';
import {
  authorizeHrefOf,
  call,
  freshLinkOf,
  type PageUnderTest,
  sandboxProvider,
  secretOf,
  startPage,
} from './support.js';

let dir: string;
let sandbox: Sandbox;
const pages: PageUnderTest[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'td-token-relogin-'));
  sandbox = await startSandbox({ flavor: 'schwab' });
});

afterEach(async () => {
  for (const page of pages.splice(0)) await page.close();
});

afterAll(async () => {
  await sandbox?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

let runs = 0;
async function open(options: Parameters<typeof startPage>[2] = {}): Promise<PageUnderTest> {
  runs += 1;
  const page = await startPage(sandbox, join(dir, `run-${runs}`), options);
  pages.push(page);
  return page;
}

/** POST the paste from the page itself (its Origin), as the page's form does. */
function paste(page: PageUnderTest, secret: string, callback: string) {
  return call(`${page.page.url}/finish`, {
    headers: { origin: page.page.url, 'sec-fetch-site': 'same-origin' },
    form: { secret, callback },
  });
}

describe('a one-time link', () => {
  it('is a fresh 32-byte base64url secret for a new pending login each time', async () => {
    const { page } = await open();
    const a = await page.newLink();
    const b = await page.newLink();
    expect(new URL(a).origin).toBe(page.url);
    expect(secretOf(a)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secretOf(a), 'base64url')).toHaveLength(32);
    expect(secretOf(a)).not.toBe(secretOf(b));
    const [pageA, pageB] = await Promise.all([call(a), call(b)]);
    expect(new URL(authorizeHrefOf(pageA.body)).searchParams.get('state')).not.toBe(
      new URL(authorizeHrefOf(pageB.body)).searchParams.get('state'),
    );
  });

  it('opens the two steps with the security headers, no caching, and no token', async () => {
    const under = await open();
    const link = await under.page.newLink();
    const answer = await call(link);
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(answer.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(answer.headers['x-frame-options']).toBe('DENY');
    expect(answer.headers['referrer-policy']).toBe('no-referrer');
    expect(answer.body).toContain('Log in at the sandbox');
    expect(answer.body).toContain('Paste the address your browser ended on');
    const authorize = new URL(authorizeHrefOf(answer.body));
    expect(`${authorize.origin}${authorize.pathname}`).toBe(sandbox.authorizeUrl);
    expect(answer.body).not.toMatch(/access_token|refresh_token/);
  });

  it('names the provider: Schwab for a real one', async () => {
    const under = await open({ sandbox: false });
    const answer = await call(await under.page.newLink());
    expect(answer.body).toContain('Log in at Schwab');
    expect(answer.body).not.toContain('sandbox');
  });
});

describe('a paste', () => {
  it('stores the login through the token manager, and the link is then used', async () => {
    const under = await open();
    const link = await under.page.newLink();
    const steps = await call(link);
    const callback = await approveInSandbox(authorizeHrefOf(steps.body));
    expect(await under.manager.peek()).toBeUndefined();
    const done = await paste(under, secretOf(link), ` ${callback}\n`);
    expect(done.status).toBe(200);
    expect(done.body).toContain('data-result="success"');
    expect(done.headers['cache-control']).toBe('no-store');
    const stored = await under.manager.peek();
    expect(stored?.refresh_token).toBeTruthy();
    // No token on the page, no secret or token in the log.
    expect(done.body).not.toContain(stored?.access_token);
    expect(done.body).not.toContain(stored?.refresh_token);
    const logged = under.logs.join('\n');
    for (const secret of [secretOf(link), stored?.access_token, stored?.refresh_token]) {
      expect(logged).not.toContain(secret);
    }
    expect(under.logs.some((l) => /logged in to the sandbox from 127\.0\.0\.1/.test(l))).toBe(true);
    // Used: the link opens nothing, and a second paste is refused.
    expect((await call(link)).status).toBe(404);
    expect((await paste(under, secretOf(link), callback)).status).toBe(404);
    expect(under.page.counts().loggedIn).toBe(1);
  });

  it('of a code that expired gets a clear message and a fresh link, and stores nothing', async () => {
    const under = await open();
    const link = await under.page.newLink();
    const callback = await approveInSandbox(authorizeHrefOf((await call(link)).body));
    sandbox.clock.advance(sandbox.settings.codeLifetimeMs + 1000);
    const late = await paste(under, secretOf(link), callback);
    expect(late.status).toBe(410);
    expect(late.body).toContain('data-code="code_expired"');
    expect(late.body).toContain('The code has expired');
    expect(late.body).toContain('expired before it was pasted');
    expect(await under.manager.peek()).toBeUndefined();
    const fresh = freshLinkOf(late.body);
    expect(secretOf(fresh)).not.toBe(secretOf(link));
    expect((await call(link)).status).toBe(404);
    // The fresh link is a new pending login that completes.
    const again = await call(fresh);
    expect(again.status).toBe(200);
    const second = await approveInSandbox(authorizeHrefOf(again.body));
    expect((await paste(under, secretOf(fresh), second)).status).toBe(200);
    expect((await under.manager.peek())?.refresh_token).toBeTruthy();
  });

  it('that is not a callback, or is another login’s, is said and keeps the link', async () => {
    const under = await open();
    const link = await under.page.newLink();
    const other = await under.page.newLink();
    const bad = await paste(under, secretOf(link), 'hello');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('That is not the address your browser ended on');
    const otherCallback = await approveInSandbox(authorizeHrefOf((await call(other)).body));
    const foreign = await paste(under, secretOf(link), otherCallback);
    expect(foreign.status).toBe(400);
    expect(foreign.body).toContain('not from this link');
    expect((await call(link)).status).toBe(200);
    expect(await under.manager.peek()).toBeUndefined();
  });
});

describe('refusals', () => {
  it('wrong, used and expired secrets, and every other request, get the same bare 404', async () => {
    let offset = 0;
    const under = await open({
      now: () => Date.now() + offset,
      rateLimit: { perAddress: 10_000, overall: 10_000 },
    });
    const { url } = under.page;
    const link = await under.page.newLink();
    const secret = secretOf(link);

    const WRONG = 200;
    const started = performance.now();
    const wrong: number[] = [];
    for (let i = 0; i < WRONG; i++)
      wrong.push((await call(`${url}/?secret=${newLinkSecret()}`)).status);
    const msPerWrong = (performance.now() - started) / WRONG;
    expect(new Set(wrong)).toEqual(new Set([404]));
    // Near misses: the secret with one character changed, cut short, or longer.
    const near = [
      `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`,
      secret.slice(0, 42),
      `${secret}A`,
      secret.toUpperCase() === secret ? secret.toLowerCase() : secret.toUpperCase(),
    ];
    for (const n of near)
      expect((await call(`${url}/?secret=${encodeURIComponent(n)}`)).status).toBe(404);

    const bare = await call(`${url}/nowhere`);
    const others = await Promise.all([
      call(`${url}/`),
      call(`${url}/?secret=`),
      call(`${url}/finish`),
      call(link, { method: 'PUT' }),
      call(link, { method: 'DELETE' }),
      call(link, { headers: { host: 'evil.example' } }),
      call(link, { headers: { host: `localhost:${new URL(url).port}` } }),
      call(link, { headers: { 'sec-fetch-dest': 'iframe', 'sec-fetch-mode': 'navigate' } }),
      call(link, { headers: { 'sec-fetch-dest': 'empty', 'sec-fetch-mode': 'cors' } }),
      call(`${url}/finish`, { form: { secret: newLinkSecret(), callback: 'x' } }),
      // The right secret from another site's form (the CSRF check), or not as a form.
      call(`${url}/finish`, {
        headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
        form: { secret, callback: 'https://127.0.0.1:8182/?code=x&state=y' },
      }),
      call(`${url}/finish`, {
        headers: { 'content-type': 'text/plain' },
        form: { secret, callback: 'x' },
      }),
      call(`${url}/finish?secret=${secret}`, { method: 'GET' }),
    ]);
    for (const answer of [bare, ...others]) {
      expect(answer.status).toBe(404);
      expect(answer.body).toBe(bare.body);
      expect(answer.headers['cache-control']).toBe('no-store');
    }
    expect(bare.body).toBe('Not found\n');
    // None of that spent the link.
    expect((await call(link)).status).toBe(200);
    // Opened from another site (a mail or chat page): allowed, a top-level navigation.
    const fromMail = await call(link, {
      headers: {
        'sec-fetch-site': 'cross-site',
        'sec-fetch-mode': 'navigate',
        'sec-fetch-dest': 'document',
      },
    });
    expect(fromMail.status).toBe(200);

    // Expired: the link and its pending login live 10 minutes.
    offset += 10 * 60_000 + 1;
    expect((await call(link)).status).toBe(404);
    // The wrong ones, the near misses, an empty one, a posted wrong one, and the expired link.
    expect(under.page.counts().badSecrets).toBe(WRONG + near.length + 3);
    console.info(
      `re-login page: ${WRONG} wrong secrets refused with 404 (${msPerWrong.toFixed(1)} ms each, one HTTPS connection per request), ${under.page.counts().refused} refusals in all`,
    );
  });

  it('is rate-limited per address and overall, whatever the request carries', async () => {
    let offset = 0;
    const under = await open({
      now: () => Date.now() + offset,
      rateLimit: { perAddress: 5, overall: 8, windowMs: 60_000 },
    });
    const link = await under.page.newLink();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await call(`${under.page.url}/?secret=${newLinkSecret()}`)).status);
    expect(statuses).toEqual([404, 404, 404, 404, 404]);
    // The sixth from this address is refused, the right link too.
    const limited = await call(link);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Another address still gets through, until the overall limit (8) is reached.
    const other: number[] = [];
    for (let i = 0; i < 4; i++)
      other.push((await call(link, { localAddress: '127.0.0.2' })).status);
    expect(other).toEqual([200, 200, 200, 429]);
    expect((await call(link, { localAddress: '127.0.0.3' })).status).toBe(429);
    expect(under.page.counts().rateLimited).toBe(3);
    expect(under.logs.filter((l) => /rate limit reached/.test(l))).toHaveLength(2);
    // The next window lets the link through again.
    offset += 60_000;
    expect((await call(link)).status).toBe(200);
  });
});

describe('where it listens', () => {
  it('reads HOST:PORT and refuses wildcard addresses and a taken port', async () => {
    expect(parseReloginListen('192.168.1.20:8443')).toEqual({ host: '192.168.1.20', port: 8443 });
    expect(parseReloginListen('[::1]:8443')).toEqual({ host: '::1', port: 8443 });
    expect(() => parseReloginListen('8443')).toThrow(ConfigError);
    const provider = sandboxProvider(sandbox);
    const base = { provider, onToken: async () => {}, certDir: join(dir, 'certs') };
    for (const listen of ['0.0.0.0:8443', '[::]:8443']) {
      await expect(startReloginPage({ ...base, listen })).rejects.toThrow(/every address/);
    }
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      await expect(startReloginPage({ ...base, listen: `127.0.0.1:${port}` })).rejects.toThrow(
        /port is in use/,
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
    await expect(
      startReloginPage({ ...base, listen: '127.0.0.1:0', onToken: undefined }),
    ).rejects.toThrow(TypeError);
  });

  it('serves TLS only, and prints the certificate fingerprint beside its address', async () => {
    const under = await open();
    expect(under.page.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(under.page.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(under.logs[0]).toContain(under.page.fingerprint);
    const plain = await fetch(under.page.url.replace('https:', 'http:')).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(plain).not.toBe(200);
    await under.page.close();
    await expect(under.page.newLink()).rejects.toThrow(/closed/);
  });
});
