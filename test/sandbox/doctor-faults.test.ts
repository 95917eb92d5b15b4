/**
 * The failures `td-token doctor` looks for, as the sandbox reproduces them: an app still
 * "Approved - Pending", a registered callback that differs only in case or a trailing slash
 * (refused by exact match with each provider's own error page), and a skewed clock in `Date`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import {
  authorizeUrl,
  SCHWAB_KEY,
  SCHWAB_REDIRECT,
  SCHWAB_SECRET,
  TD_KEY,
  TD_REDIRECT,
} from './support.js';

const NOT_READY = 'We are unable to complete your request.';
const TD_UNAUTHORIZED = 'A third-party application may be attempting to make unauthorized access';

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

function get(url: URL | string): Promise<Response> {
  return fetch(url, { redirect: 'manual' });
}

describe('an app still pending approval', () => {
  it('gets Schwab\'s "unable to complete your request" page at authorize, not the login page', async () => {
    sandbox = await startSandbox({
      flavor: 'schwab',
      apps: [
        {
          clientId: SCHWAB_KEY,
          clientSecret: SCHWAB_SECRET,
          redirectUris: [SCHWAB_REDIRECT],
          status: 'pending',
        },
      ],
    });
    const response = await get(authorizeUrl(sandbox));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain(NOT_READY);
    expect(html).not.toContain('name="password"');
    expect(sandbox.counters().authorize).toBe(1);
  });

  it('becomes usable once registered again as ready', async () => {
    sandbox = await startSandbox({
      flavor: 'schwab',
      apps: [
        {
          clientId: SCHWAB_KEY,
          clientSecret: SCHWAB_SECRET,
          redirectUris: [SCHWAB_REDIRECT],
          status: 'pending',
        },
      ],
    });
    sandbox.registerApp({
      clientId: SCHWAB_KEY,
      clientSecret: SCHWAB_SECRET,
      redirectUris: [SCHWAB_REDIRECT],
      status: 'ready',
    });
    const html = await (await get(authorizeUrl(sandbox))).text();
    expect(html).toContain('name="password"');
  });

  it('is refused for TD, which has no such state, and for an unknown status', async () => {
    await expect(
      startSandbox({
        flavor: 'tdameritrade',
        apps: [{ clientId: TD_KEY, redirectUris: [TD_REDIRECT], status: 'pending' }],
      }),
    ).rejects.toThrow(/"app.status" "pending" exists only for a schwab app/);
    await expect(
      startSandbox({
        flavor: 'schwab',
        apps: [
          {
            clientId: SCHWAB_KEY,
            clientSecret: SCHWAB_SECRET,
            redirectUris: [SCHWAB_REDIRECT],
            status: 'approved' as 'ready',
          },
        ],
      }),
    ).rejects.toThrow(TypeError);
  });
});

describe('a registered callback that differs only in case or a trailing slash', () => {
  it('Schwab: the registered one works; a trailing slash or other case gets "Access Denied" (403)', async () => {
    const registered = 'https://127.0.0.1:8182/Callback';
    sandbox = await startSandbox({
      flavor: 'schwab',
      apps: [{ clientId: SCHWAB_KEY, clientSecret: SCHWAB_SECRET, redirectUris: [registered] }],
    });
    const ok = await get(authorizeUrl(sandbox, { redirect_uri: registered }));
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('name="password"');
    for (const near of [
      `${registered}/`,
      'https://127.0.0.1:8182/callback',
      'HTTPS://127.0.0.1:8182/Callback',
    ]) {
      const response = await get(authorizeUrl(sandbox, { redirect_uri: near }));
      expect(response.status, near).toBe(403);
      expect(response.headers.get('location'), near).toBeNull();
      const html = await response.text();
      expect(html, near).toContain('<TITLE>Access Denied</TITLE>');
    }
  });

  it('TD: a trailing slash or a host in other case gets the "unauthorized access" page (400)', async () => {
    sandbox = await startSandbox({
      flavor: 'tdameritrade',
      apps: [{ clientId: TD_KEY, redirectUris: [TD_REDIRECT] }],
    });
    for (const near of [`${TD_REDIRECT}/`, 'https://LocalHost:8000', 'http://localhost:8000']) {
      const response = await get(authorizeUrl(sandbox, { redirect_uri: near }));
      expect(response.status, near).toBe(400);
      expect(response.headers.get('location'), near).toBeNull();
      expect(await response.text(), near).toContain(TD_UNAUTHORIZED);
    }
  });
});

describe('the Date header', () => {
  it('is the sandbox clock by default', async () => {
    sandbox = await startSandbox({ flavor: 'schwab' });
    const before = Date.now();
    const response = await get(sandbox.url);
    const date = Date.parse(response.headers.get('date') ?? '');
    // HTTP dates have whole seconds.
    expect(date).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    expect(date).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('carries settings.clockSkewMs, ahead or behind, on every kind of answer', async () => {
    for (const skew of [90_000, -3_600_000]) {
      sandbox = await startSandbox({ flavor: 'schwab', settings: { clockSkewMs: skew } });
      for (const url of [sandbox.url, authorizeUrl(sandbox), `${sandbox.url}/nowhere`]) {
        const before = Date.now();
        const response = await get(url);
        await response.arrayBuffer();
        const date = Date.parse(response.headers.get('date') ?? '');
        const seen = date - before;
        expect(seen, `${skew} ${String(url)}`).toBeGreaterThan(skew - 2000);
        expect(seen, `${skew} ${String(url)}`).toBeLessThan(skew + 2000);
      }
      const token = await fetch(sandbox.tokenUrl, { method: 'POST' });
      await token.arrayBuffer();
      expect(
        Math.abs(Date.parse(token.headers.get('date') ?? '') - Date.now() - skew),
      ).toBeLessThan(3000);
      await sandbox.close();
      sandbox = undefined;
    }
  });

  it('refuses a skew that is not a finite number', async () => {
    await expect(
      startSandbox({ flavor: 'schwab', settings: { clockSkewMs: Number.NaN } }),
    ).rejects.toThrow(/"settings.clockSkewMs" must be a finite number/);
  });
});
