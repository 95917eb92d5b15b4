import { describe, expect, it } from 'vitest';
import { LoginRequiredError, ProviderError, TdTokenError } from '../../src/errors.js';
import {
  exchangeAuthorizationCode,
  processAuthorizationCodeResponse,
  processRefreshTokenResponse,
  refreshAccessToken,
  sendAuthorizationCodeGrant,
  sendRefreshTokenGrant,
} from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import type { TokenRecord } from '../../src/token.js';
import { json, queueFetch, SECRET_ACCESS, SECRET_REFRESH } from '../providers/canned.js';

const DAY = 86_400_000;
const td = createProvider('tdameritrade', { clientId: 'KEY', redirectUri: '' });
const schwab = createProvider('schwab', {
  clientId: 'APPKEY',
  clientSecret: 'SECRET',
  redirectUri: '',
});

const TD_LOGIN = {
  access_token: SECRET_ACCESS,
  refresh_token: SECRET_REFRESH,
  scope: 'PlaceTrades AccountAccess MoveMoney',
  expires_in: 1800,
  refresh_token_expires_in: 7_776_000,
  token_type: 'Bearer',
};

const previous: TokenRecord = {
  access_token: 'old-access',
  expires_at: 1_000,
  refresh_token: SECRET_REFRESH,
  refresh_token_expires_at: 80 * DAY,
  scope: 'PlaceTrades',
  token_type: 'Bearer',
  provider: 'tdameritrade',
  refresh_token_issued_at: 0,
};

async function caught(promise: Promise<unknown>): Promise<TdTokenError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TdTokenError);
    const e = error as TdTokenError;
    expect(e.message).not.toContain(SECRET_REFRESH);
    expect(e.message).not.toContain(SECRET_ACCESS);
    return e;
  }
  throw new Error('expected a rejection');
}

describe('send steps', () => {
  it('code grant: POST, form body as the provider builds it, no redirects followed', async () => {
    const fetch = queueFetch(json(200, TD_LOGIN));
    const response = await sendAuthorizationCodeGrant(td, 'a+b@c', { fetch });
    expect(response.status).toBe(200);
    const [request] = fetch.requests;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('https://api.tdameritrade.com/v1/oauth2/token');
    expect(request?.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(request?.body).toBe(
      'grant_type=authorization_code&access_type=offline&code=a%2Bb%40c&redirect_uri=https%3A%2F%2Flocalhost%3A8000&client_id=KEY%40AMER.OAUTHAP',
    );
  });

  it('refresh grant: access_type=offline only when asked and the provider can renew', async () => {
    const fetch = queueFetch(json(200, TD_LOGIN));
    await sendRefreshTokenGrant(td, 'rt', { fetch });
    await sendRefreshTokenGrant(td, 'rt', { fetch, renewRefreshToken: true });
    await sendRefreshTokenGrant(schwab, 'rt', { fetch, renewRefreshToken: true });
    expect(fetch.requests.map((r) => new URLSearchParams(r.body).get('access_type'))).toEqual([
      null,
      'offline',
      null,
    ]);
    expect(fetch.requests[2]?.headers.get('authorization')).toBe(
      `Basic ${Buffer.from('APPKEY:SECRET').toString('base64')}`,
    );
  });

  it('names bad arguments', async () => {
    await expect(sendAuthorizationCodeGrant(td, '')).rejects.toThrow(
      new TypeError('"code" must be a non-empty string'),
    );
    await expect(sendRefreshTokenGrant(td, undefined as never)).rejects.toThrow(
      new TypeError('"refreshToken" must be a non-empty string'),
    );
    await expect(sendRefreshTokenGrant(td, 'x', { timeoutMs: 0 })).rejects.toThrow(
      new TypeError('"timeoutMs" must be a positive number'),
    );
  });
});

describe('check steps', () => {
  it('a TD login answer becomes a record with lifetimes from receipt', async () => {
    const record = await processAuthorizationCodeResponse(td, json(200, TD_LOGIN), {
      receivedAt: 10_000,
    });
    expect(record.expires_at).toBe(10_000 + 1_800_000);
    expect(record.refresh_token_expires_at).toBe(10_000 + 90 * DAY);
  });

  it('a refresh answer without refresh_token keeps the stored one', async () => {
    const record = await processRefreshTokenResponse(
      td,
      json(200, { access_token: 'new', expires_in: 1800, token_type: 'Bearer' }),
      { receivedAt: 20_000, previous },
    );
    expect(record.refresh_token).toBe(SECRET_REFRESH);
    expect(record.refresh_token_expires_at).toBe(80 * DAY);
    expect(record.scope).toBe('PlaceTrades');
  });

  it('a 200 that is not a token: invalid_response', async () => {
    const error = await caught(
      processAuthorizationCodeResponse(td, json(200, { token_type: 'Bearer' }), { receivedAt: 1 }),
    );
    expect(error.code).toBe('invalid_response');
    expect(error.message).toBe(
      "the token endpoint's answer has no access_token. check that the token URL points at an OAuth 2.0 token endpoint (td-token status shows it)",
    );
  });

  it.each([
    ['malformed JSON', '{"access_token": "x", ', 'a body that is not JSON'],
    ['an HTML page', '<html><body>Access Denied</body></html>', 'an HTML page'],
    ['an empty body', '', 'an empty body'],
  ])('a 200 with %s: provider_unavailable (transient)', async (_name, body, words) => {
    const error = await caught(
      processRefreshTokenResponse(td, new Response(body, { status: 200 }), {
        receivedAt: 1,
        previous,
      }),
    );
    expect(error.code).toBe('provider_unavailable');
    expect(error.transient).toBe(true);
    expect(error.message).toBe(
      `the token endpoint api.tdameritrade.com answered HTTP 200 with ${words} where a token was expected. try again in a few minutes (td-token retries on its own); if it persists, check the token URL`,
    );
  });

  it('a redirect is not followed: invalid_response naming where it points', async () => {
    const error = await caught(
      processRefreshTokenResponse(
        td,
        new Response(null, {
          status: 302,
          headers: { location: 'https://elsewhere.example/token?x=1' },
        }),
        { receivedAt: 1, previous },
      ),
    );
    expect(error.code).toBe('invalid_response');
    expect(error.message).toContain('to https://elsewhere.example/token)');
  });

  it('an error answer goes through the provider (non-enumerable response attached)', async () => {
    const error = await caught(
      processRefreshTokenResponse(td, json(400, { error: 'invalid_grant' }), {
        receivedAt: 1,
        previous,
      }),
    );
    expect(error).toBeInstanceOf(LoginRequiredError);
    expect(error.response?.status).toBe(400);
    expect(JSON.stringify(error)).not.toContain('"response"');
  });
});

describe('exchangeAuthorizationCode', () => {
  it('takes the whole callback URL: state checked, code decoded once', async () => {
    const fetch = queueFetch(json(200, TD_LOGIN));
    const record = await exchangeAuthorizationCode(
      td,
      '  https://localhost:8000/?code=ab%2Bc%2Fd%3D%40e&state=s1 ',
      { fetch, expectedState: 's1', now: () => 5 },
    );
    expect(new URLSearchParams(fetch.requests[0]?.body).get('code')).toBe('ab+c/d=@e');
    expect(record.issued_at).toBe(5);
  });

  it('refuses a callback with the wrong state before sending anything', async () => {
    const fetch = queueFetch(json(200, TD_LOGIN));
    const error = await caught(
      exchangeAuthorizationCode(td, 'https://localhost:8000/?code=x&state=evil', {
        fetch,
        expectedState: 's1',
      }),
    );
    expect(error.code).toBe('state_mismatch');
    expect(fetch.requests).toHaveLength(0);
  });

  it('takes a bare code: decoded once only if it holds %XX', async () => {
    const fetch = queueFetch(json(200, TD_LOGIN));
    await exchangeAuthorizationCode(td, 'ab+c/d=@e', { fetch });
    await exchangeAuthorizationCode(td, 'ab%2Bc%2Fd%3D%40e', { fetch });
    await exchangeAuthorizationCode(td, 'C0.x%2540', { fetch });
    expect(fetch.requests.map((r) => new URLSearchParams(r.body).get('code'))).toEqual([
      'ab+c/d=@e',
      'ab+c/d=@e',
      'C0.x%40',
    ]);
  });

  it('sends the PKCE verifier', async () => {
    const generic = createProvider('generic', {
      clientId: 'c',
      redirectUri: 'http://127.0.0.1:1/cb',
      authorizeUrl: 'https://idp.example/a',
      tokenUrl: 'https://idp.example/t',
    });
    const fetch = queueFetch(json(200, { access_token: 'a', refresh_token: 'r' }));
    await exchangeAuthorizationCode(generic, 'code', { fetch, codeVerifier: 'v'.repeat(43) });
    expect(new URLSearchParams(fetch.requests[0]?.body).get('code_verifier')).toBe('v'.repeat(43));
  });

  it('a reused code is not retried', async () => {
    const fetch = queueFetch(json(400, { error: 'invalid_grant' }));
    const error = await caught(
      exchangeAuthorizationCode(td, 'used', { fetch, retry: { sleep: async () => {} } }),
    );
    expect(error.code).toBe('oauth_error');
    expect(fetch.requests).toHaveLength(1);
  });
});

describe('refreshAccessToken', () => {
  it('retries a 503 and succeeds after', async () => {
    const waits: number[] = [];
    const fetch = queueFetch(
      new Response('busy', { status: 503 }),
      json(200, { access_token: 'fresh', expires_in: 1800, token_type: 'Bearer' }),
    );
    const record = await refreshAccessToken(td, previous, {
      fetch,
      now: () => 100,
      retry: { sleep: async (ms) => void waits.push(ms), random: () => 1 },
    });
    expect(record.access_token).toBe('fresh');
    expect(record.refresh_token).toBe(SECRET_REFRESH);
    expect(fetch.requests).toHaveLength(2);
    expect(waits).toEqual([500]);
  });

  it('waits what Retry-After asks on a 429', async () => {
    const waits: number[] = [];
    const fetch = queueFetch(
      json(429, { error: 'rate' }, { 'retry-after': '3' }),
      json(200, { access_token: 'fresh', token_type: 'Bearer' }),
    );
    await refreshAccessToken(td, previous, {
      fetch,
      retry: { sleep: async (ms) => void waits.push(ms) },
    });
    expect(waits).toEqual([3000]);
  });

  it('gives up after the retries with the last transient error', async () => {
    const fetch = queueFetch(new Response('busy', { status: 500 }));
    const error = await caught(
      refreshAccessToken(schwab, previous, { fetch, retry: { retries: 2, sleep: async () => {} } }),
    );
    expect(error.code).toBe('provider_unavailable');
    expect(error.status).toBe(500);
    expect(fetch.requests).toHaveLength(3);
  });

  it('a dead refresh token is never retried', async () => {
    const fetch = queueFetch(
      json(400, { error: 'invalid_client', error_description: 'refresh token invalid' }),
    );
    const error = await caught(
      refreshAccessToken(schwab, previous, { fetch, retry: { sleep: async () => {} } }),
    );
    expect(error.code).toBe('login_required');
    expect(fetch.requests).toHaveLength(1);
  });

  it('retry: false sends once', async () => {
    const fetch = queueFetch(new Response('busy', { status: 503 }));
    await caught(refreshAccessToken(td, previous, { fetch, retry: false }));
    expect(fetch.requests).toHaveLength(1);
  });

  it.each([
    ['ECONNRESET', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['ECONNRESET', new Error('socket hang up')],
    ['UND_ERR_SOCKET', Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })],
  ])('a network failure (%s) is provider_unavailable with its cause', async (code, cause) => {
    const failure = new TypeError('fetch failed', { cause });
    const fetch = queueFetch(failure);
    const error = await caught(refreshAccessToken(td, previous, { fetch, retry: false }));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.code).toBe('provider_unavailable');
    expect(error.cause).toBe(failure);
    expect(error.message).toBe(
      `the token endpoint api.tdameritrade.com could not be reached (${code}). check the network connection and the URL, then try again (td-token retries on its own)`,
    );
  });

  it("a timeout is provider_unavailable; the caller's own abort is rethrown as is", async () => {
    const hang = async (_r: unknown, signal: AbortSignal | undefined) =>
      new Promise<Response>((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    const timeout = await caught(
      refreshAccessToken(td, previous, { fetch: queueFetch(hang), timeoutMs: 20, retry: false }),
    );
    expect(timeout.code).toBe('provider_unavailable');
    expect(timeout.message).toMatch(
      /^the token endpoint api\.tdameritrade\.com did not answer within 20 ms\./,
    );

    const controller = new AbortController();
    const reason = new Error('shutting down');
    const run = refreshAccessToken(td, previous, {
      fetch: queueFetch(hang),
      signal: controller.signal,
    });
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
  });

  it('a body cut off mid-way is provider_unavailable', async () => {
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"access_token":'));
        controller.error(
          Object.assign(new Error('terminated'), { cause: { code: 'UND_ERR_SOCKET' } }),
        );
      },
    });
    const error = await caught(
      refreshAccessToken(td, previous, {
        fetch: queueFetch(new Response(broken, { status: 200 })),
        retry: false,
      }),
    );
    expect(error.code).toBe('provider_unavailable');
    expect(error.message).toContain(
      'dropped the connection while sending its answer (UND_ERR_SOCKET)',
    );
  });

  it('names bad arguments', async () => {
    await expect(refreshAccessToken(td, { ...previous, refresh_token: '' })).rejects.toThrow(
      new TypeError('"previous.refresh_token" must be a non-empty string'),
    );
  });
});
