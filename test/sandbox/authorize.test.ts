import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';
import {
  authorizeUrl,
  SCHWAB_KEY,
  SCHWAB_REDIRECT,
  schwabCodeGrant,
  TD_KEY,
  TD_REDIRECT,
  tdCodeGrant,
} from './support.js';

const TD_UNAUTHORIZED =
  'A third-party application may be attempting to make unauthorized access to your account.';

async function get(url: URL | string): Promise<Response> {
  return fetch(url, { redirect: 'manual' });
}

async function postForm(url: string, form: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
}

function hiddenRequestId(html: string): string {
  const id = /name="request" value="([^"]+)"/.exec(html)?.[1];
  if (id === undefined) throw new Error('no request id on the page');
  return id;
}

describe('TD Ameritrade authorize', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({
      flavor: 'tdameritrade',
      apps: [
        { clientId: TD_KEY, redirectUris: [TD_REDIRECT] },
        { clientId: 'PATHKEY', redirectUris: ['http://127.0.0.1:9000/callback'] },
      ],
    });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('shows the login page with the pinned field names and button', async () => {
    const response = await get(authorizeUrl(sandbox));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await response.text();
    expect(html).toMatch(/<input[^>]*id="username"[^>]*name="username"/);
    expect(html).toMatch(/<input[^>]*type="password"[^>]*name="password"/);
    expect(html).toMatch(/<button[^>]*id="login"[^>]*>Log in<\/button>/);
    expect(html).toMatch(/<form method="post" action="\/auth\/login"/);
    expect(html).not.toMatch(/<script|https?:\/\/(?!localhost)/);
  });

  it.each([
    ['bare key without the suffix', { client_id: TD_KEY }],
    ['lowercase suffix', { client_id: `${TD_KEY}@amer.oauthap` }],
    ['key in another case', { client_id: `${TD_KEY.toLowerCase()}@AMER.OAUTHAP` }],
    ['unknown key', { client_id: 'NOSUCHKEY@AMER.OAUTHAP' }],
    ['missing client id', { client_id: undefined }],
    ['trailing slash added', { redirect_uri: `${TD_REDIRECT}/` }],
    ['http instead of https', { redirect_uri: 'http://localhost:8000' }],
    ['127.0.0.1 instead of localhost', { redirect_uri: 'https://127.0.0.1:8000' }],
    ['other port', { redirect_uri: 'https://localhost:8001' }],
    ['host in capitals', { redirect_uri: 'https://LOCALHOST:8000' }],
    ['missing redirect uri', { redirect_uri: undefined }],
  ])(
    'answers a mismatch (%s) with the unauthorized page, never a redirect',
    async (_name, overrides) => {
      const response = await get(authorizeUrl(sandbox, overrides));
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await response.text()).toContain(TD_UNAUTHORIZED);
    },
  );

  it('matches path, trailing slash and case exactly for a registered path', async () => {
    const app = { client_id: 'PATHKEY@AMER.OAUTHAP' };
    const ok = await get(
      authorizeUrl(sandbox, { ...app, redirect_uri: 'http://127.0.0.1:9000/callback' }),
    );
    expect(ok.status).toBe(200);
    for (const wrong of [
      'http://127.0.0.1:9000/callback/',
      'http://127.0.0.1:9000/Callback',
      'http://127.0.0.1:9000/',
      'http://127.0.0.1:9000/callback?x=1',
    ]) {
      const response = await get(authorizeUrl(sandbox, { ...app, redirect_uri: wrong }));
      expect(response.status, wrong).toBe(400);
      expect(await response.text()).toContain(TD_UNAUTHORIZED);
    }
  });

  it('redirects with a long, percent-encoded code containing @ / + = and echoes state', async () => {
    const location = await approveInSandbox(authorizeUrl(sandbox, { state: 's t/a+te=' }));
    expect(location.startsWith(`${TD_REDIRECT}/?code=`)).toBe(true);
    const raw = /[?&]code=([^&]*)/.exec(location)?.[1] ?? '';
    expect(raw).toMatch(/%40/);
    expect(raw).toMatch(/%2F/);
    expect(raw).toMatch(/%2B/);
    expect(raw).toMatch(/%3D/);
    expect(raw).not.toMatch(/[@/+=]/);
    const code = decodeURIComponent(raw);
    expect(code.length).toBeGreaterThanOrEqual(100);
    for (const char of ['@', '/', '+', '=']) expect(code).toContain(char);
    expect(new URL(location).searchParams.get('state')).toBe('s t/a+te=');
    expect(new URL(location).searchParams.has('session')).toBe(false);
  });

  it('gives a different code each login', async () => {
    const first = new URL(await approveInSandbox(authorizeUrl(sandbox))).searchParams.get('code');
    const second = new URL(await approveInSandbox(authorizeUrl(sandbox))).searchParams.get('code');
    expect(first).not.toBe(second);
  });

  it('omits state when none was sent', async () => {
    const location = await approveInSandbox(authorizeUrl(sandbox));
    expect(new URL(location).searchParams.has('state')).toBe(false);
  });

  it('redirects Deny with error=access_denied and the state', async () => {
    const location = await approveInSandbox(authorizeUrl(sandbox, { state: 'xyz' }), {
      deny: true,
    });
    const url = new URL(location);
    expect(`${url.origin}${url.pathname}`).toBe(`${TD_REDIRECT}/`);
    expect(url.searchParams.get('error')).toBe('access_denied');
    expect(url.searchParams.get('state')).toBe('xyz');
    expect(url.searchParams.has('code')).toBe(false);
  });

  it('sends request errors to a valid callback: missing or wrong response_type', async () => {
    const missing = await get(authorizeUrl(sandbox, { response_type: undefined, state: 'a' }));
    expect(missing.status).toBe(302);
    const missingUrl = new URL(missing.headers.get('location') ?? '');
    expect(missingUrl.searchParams.get('error')).toBe('invalid_request');
    expect(missingUrl.searchParams.get('state')).toBe('a');
    const token = await get(authorizeUrl(sandbox, { response_type: 'token' }));
    expect(token.status).toBe(302);
    expect(new URL(token.headers.get('location') ?? '').searchParams.get('error')).toBe(
      'unsupported_response_type',
    );
  });

  it('re-shows the login page when user id or password is empty', async () => {
    const page = await (await get(authorizeUrl(sandbox))).text();
    const request = hiddenRequestId(page);
    const response = await postForm(`${sandbox.url}/auth/login`, {
      request,
      username: 'u',
      password: '',
    });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('Enter your user ID and password.');
    expect(html).toContain('id="login"');
    expect(hiddenRequestId(html)).toBe(request);
  });

  it('shows the consent page with Allow and Deny after login', async () => {
    const request = hiddenRequestId(await (await get(authorizeUrl(sandbox))).text());
    const response = await postForm(`${sandbox.url}/auth/login`, {
      request,
      username: 'alice',
      password: 'pw',
    });
    const html = await response.text();
    expect(html).toMatch(/<button[^>]*id="allow"[^>]*>Allow<\/button>/);
    expect(html).toMatch(/<button[^>]*id="deny"[^>]*>Deny<\/button>/);
    expect(html).toContain('alice');
    expect(html).toContain('action="/auth/consent"');
  });

  it('uses each login request once and refuses unknown ones', async () => {
    const request = hiddenRequestId(await (await get(authorizeUrl(sandbox))).text());
    await postForm(`${sandbox.url}/auth/login`, { request, username: 'u', password: 'p' });
    const allow = await postForm(`${sandbox.url}/auth/consent`, { request, decision: 'allow' });
    expect(allow.status).toBe(302);
    const again = await postForm(`${sandbox.url}/auth/consent`, { request, decision: 'allow' });
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('This login has expired');
    const unknown = await postForm(`${sandbox.url}/auth/login`, {
      request: 'nope',
      username: 'u',
      password: 'p',
    });
    expect(unknown.status).toBe(400);
    const skipLogin = hiddenRequestId(await (await get(authorizeUrl(sandbox))).text());
    const early = await postForm(`${sandbox.url}/auth/consent`, {
      request: skipLogin,
      decision: 'allow',
    });
    expect(early.status).toBe(400);
  });

  it('expires a login request left open longer than loginRequestLifetimeMs', async () => {
    const request = hiddenRequestId(await (await get(authorizeUrl(sandbox))).text());
    sandbox.clock.advance(sandbox.settings.loginRequestLifetimeMs);
    const response = await postForm(`${sandbox.url}/auth/login`, {
      request,
      username: 'u',
      password: 'p',
    });
    expect(response.status).toBe(400);
  });

  it('issues codes for a second app with a path callback', async () => {
    const code = new URL(
      await approveInSandbox(
        authorizeUrl(sandbox, {
          client_id: 'PATHKEY@AMER.OAUTHAP',
          redirect_uri: 'http://127.0.0.1:9000/callback',
        }),
      ),
    ).searchParams.get('code');
    const response = await tdCodeGrant(sandbox, code ?? '', {
      client_id: 'PATHKEY',
      redirect_uri: 'http://127.0.0.1:9000/callback',
    });
    expect(response.status).toBe(200);
  });
});

describe('Schwab authorize', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ flavor: 'schwab' });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('shows the login page at /v1/oauth/authorize, response_type optional', async () => {
    const response = await get(authorizeUrl(sandbox, { response_type: undefined }));
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('id="login"');
    expect(html).toContain('action="/v1/oauth/authorize/login"');
  });

  it('answers a bad client id with the JSON invalid_client body', async () => {
    for (const clientId of ['nope', SCHWAB_KEY.toLowerCase(), `${SCHWAB_KEY} `]) {
      const response = await get(authorizeUrl(sandbox, { client_id: clientId }));
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.json()).toEqual({
        error: 'invalid_client',
        error_description: 'Unauthorized',
      });
    }
  });

  it.each([
    ['localhost instead of 127.0.0.1', 'https://localhost:8182'],
    ['http instead of https', 'http://127.0.0.1:8182'],
    ['trailing slash added', 'https://127.0.0.1:8182/'],
    ['other port', 'https://127.0.0.1:8183'],
    ['extra path', 'https://127.0.0.1:8182/callback'],
    ['missing', undefined],
  ])('answers a callback mismatch (%s) with the Access Denied page', async (_name, redirectUri) => {
    const response = await get(authorizeUrl(sandbox, { redirect_uri: redirectUri }));
    expect(response.status).toBe(403);
    expect(response.headers.get('location')).toBeNull();
    const html = await response.text();
    expect(html).toContain('<TITLE>Access Denied</TITLE>');
    expect(html).toContain('Access Denied');
  });

  it('redirects with C0.<base64>@ percent-encoded, a session uuid, and the state', async () => {
    const location = await approveInSandbox(authorizeUrl(sandbox, { state: 'st8' }));
    expect(location.startsWith(`${SCHWAB_REDIRECT}/?code=C0.`)).toBe(true);
    const raw = /[?&]code=([^&]*)/.exec(location)?.[1] ?? '';
    expect(raw.endsWith('%40')).toBe(true);
    const url = new URL(location);
    const code = url.searchParams.get('code') ?? '';
    expect(code).toMatch(/^C0\.[A-Za-z0-9+/]+={0,2}\.[A-Za-z0-9_-]+@$/);
    expect(url.searchParams.get('session')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(url.searchParams.get('state')).toBe('st8');
    expect((await schwabCodeGrant(sandbox, code)).status).toBe(200);
  });

  it('redirects Deny with error=access_denied', async () => {
    const url = new URL(
      await approveInSandbox(authorizeUrl(sandbox, { state: 'q' }), { deny: true }),
    );
    expect(url.searchParams.get('error')).toBe('access_denied');
    expect(url.searchParams.get('state')).toBe('q');
    expect(url.searchParams.has('code')).toBe(false);
  });

  it('refuses to register a non-https or localhost callback', () => {
    expect(() =>
      sandbox.registerApp({
        clientId: 'x',
        clientSecret: 'y',
        redirectUris: ['http://127.0.0.1:1'],
      }),
    ).toThrow(TypeError);
    expect(() =>
      sandbox.registerApp({
        clientId: 'x',
        clientSecret: 'y',
        redirectUris: ['https://localhost:1'],
      }),
    ).toThrow(TypeError);
    expect(() =>
      sandbox.registerApp({ clientId: 'x', redirectUris: ['https://127.0.0.1:1'] }),
    ).toThrow('"app.clientSecret" must be a non-empty string for a schwab app');
  });

  it('accepts a registered app added later', async () => {
    sandbox.registerApp({
      clientId: 'LaterKey',
      clientSecret: 's',
      redirectUris: ['https://127.0.0.1:7000/cb'],
    });
    const location = await approveInSandbox(
      authorizeUrl(sandbox, { client_id: 'LaterKey', redirect_uri: 'https://127.0.0.1:7000/cb' }),
    );
    expect(location.startsWith('https://127.0.0.1:7000/cb?code=C0.')).toBe(true);
  });
});

describe('login credentials setting', () => {
  it('accepts only the configured user id and password', async () => {
    const sandbox = await startSandbox({
      flavor: 'schwab',
      settings: { credentials: { username: 'trader', password: 'secret' } },
    });
    try {
      await expect(approveInSandbox(authorizeUrl(sandbox))).rejects.toThrow(
        'The user ID or password you entered is incorrect.',
      );
      const location = await approveInSandbox(authorizeUrl(sandbox), {
        username: 'trader',
        password: 'secret',
      });
      expect(new URL(location).searchParams.get('code')).toMatch(/^C0\./);
    } finally {
      await sandbox.close();
    }
  });
});

describe('page escaping', () => {
  it('escapes a reflected client id on the consent page', async () => {
    const sandbox = await startSandbox({
      flavor: 'tdameritrade',
      apps: [{ clientId: '<b>KEY"', redirectUris: [TD_REDIRECT] }],
    });
    try {
      const page = await (
        await get(authorizeUrl(sandbox, { client_id: '<b>KEY"@AMER.OAUTHAP' }))
      ).text();
      const request = hiddenRequestId(page);
      const consent = await (
        await postForm(`${sandbox.url}/auth/login`, { request, username: '<i>u', password: 'p' })
      ).text();
      expect(consent).toContain('&lt;b&gt;KEY&quot;@AMER.OAUTHAP');
      expect(consent).toContain('&lt;i&gt;u');
      expect(consent).not.toContain('<b>KEY');
      expect(consent).not.toContain('<i>u');
    } finally {
      await sandbox.close();
    }
  });
});
