import { describe, expect, it } from 'vitest';
import { LoginRequiredError, ProviderError, TdTokenError } from '../../src/errors.js';
import {
  exchangeAuthorizationCode,
  exchangeCallback,
  parseCallbackUrl,
  processAuthorizationCodeResponse,
  processRefreshTokenResponse,
  refreshAccessToken,
  sendAuthorizationCodeGrant,
  sendRefreshTokenGrant,
} from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import type { TokenRecord } from '../../src/token.js';
import {
  json,
  queueFetch,
  type Reply,
  SECRET_ACCESS,
  SECRET_REFRESH,
} from '../providers/canned.js';

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

function codeError(code: string): Error {
  return Object.assign(new Error(`socket ${code}`), { code });
}

/** What fetch throws when `code` ends the connection. */
function fetchFailed(code: string): TypeError {
  return new TypeError('fetch failed', { cause: codeError(code) });
}

/** A fetch reply that never comes: rejects only when the request's signal aborts. */
const hang = async (_r: unknown, signal: AbortSignal | undefined) =>
  new Promise<Response>((_resolve, reject) => {
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

/** A 200 (or `status`) whose body breaks off mid-way, as a dropped connection leaves it. */
function cutOff(status = 200): Response {
  const broken = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"access_token":'));
      controller.error(
        Object.assign(new Error('terminated'), { cause: codeError('UND_ERR_SOCKET') }),
      );
    },
  });
  return new Response(broken, { status });
}

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

describe('exchangeCallback', () => {
  it("sends the parsed callback's code as it is: the URL is not read again", async () => {
    const fetch = queueFetch(json(200, TD_LOGIN), json(200, TD_LOGIN));
    const callback = parseCallbackUrl('https://localhost:8000/?code=C0.x%2540&state=s1', 's1');
    expect(callback.code).toBe('C0.x%40');
    const record = await exchangeCallback(td, callback, { fetch, now: () => 7 });
    // A code holding %XX after its one decoding is sent so, not decoded again.
    await exchangeCallback(td, { code: 'ab%2Bc', state: undefined }, { fetch });
    expect(fetch.requests.map((r) => new URLSearchParams(r.body).get('code'))).toEqual([
      'C0.x%40',
      'ab%2Bc',
    ]);
    expect(record.issued_at).toBe(7);
  });

  it('sends the PKCE verifier, and does not resend a code whose answer was lost', async () => {
    const generic = createProvider('generic', {
      clientId: 'c',
      redirectUri: 'http://127.0.0.1:1/cb',
      authorizeUrl: 'https://idp.example/a',
      tokenUrl: 'https://idp.example/t',
    });
    const fetch = queueFetch(json(200, { access_token: 'a', refresh_token: 'r' }));
    await exchangeCallback(
      generic,
      { code: 'code', state: 's' },
      { fetch, codeVerifier: 'v'.repeat(43) },
    );
    expect(new URLSearchParams(fetch.requests[0]?.body).get('code_verifier')).toBe('v'.repeat(43));
    const lost = queueFetch(fetchFailed('ECONNRESET'), json(200, TD_LOGIN));
    const error = await caught(
      exchangeCallback(
        td,
        { code: 'code', state: undefined },
        {
          fetch: lost,
          retry: { sleep: async () => {} },
        },
      ),
    );
    expect(error.code).toBe('provider_unavailable');
    expect(lost.requests).toHaveLength(1);
  });

  it('names bad arguments', async () => {
    await expect(exchangeCallback(td, undefined as never)).rejects.toThrow(
      new TypeError('"callback" must be a CallbackResult'),
    );
    await expect(exchangeCallback(td, { code: '', state: undefined })).rejects.toThrow(
      new TypeError('"callback.code" must be a non-empty string'),
    );
    await expect(exchangeCallback({} as never, { code: 'x', state: undefined })).rejects.toThrow(
      new TypeError('"provider" must be a Provider'),
    );
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
    ['ECONNRESET', 'dropped the connection before answering', codeError('ECONNRESET')],
    ['ECONNREFUSED', 'could not be reached', codeError('ECONNREFUSED')],
    ['ENOTFOUND', 'could not be reached', codeError('ENOTFOUND')],
    ['ECONNRESET', 'dropped the connection before answering', new Error('socket hang up')],
    ['UND_ERR_SOCKET', 'dropped the connection before answering', codeError('UND_ERR_SOCKET')],
  ])(
    'a network failure (%s) is provider_unavailable with its cause',
    async (code, problem, cause) => {
      const failure = new TypeError('fetch failed', { cause });
      const fetch = queueFetch(failure);
      const error = await caught(refreshAccessToken(td, previous, { fetch, retry: false }));
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.code).toBe('provider_unavailable');
      expect(error.cause).toBe(failure);
      expect(error.message).toBe(
        `the token endpoint api.tdameritrade.com ${problem} (${code}). check the network connection and the URL, then try again (td-token retries on its own)`,
      );
    },
  );

  it('a plain refresh is retried after a dropped connection or a timeout', async () => {
    const fetch = queueFetch(
      fetchFailed('UND_ERR_SOCKET'),
      hang,
      json(200, { access_token: 'fresh', token_type: 'Bearer' }),
    );
    const record = await refreshAccessToken(td, previous, {
      fetch,
      timeoutMs: 20,
      retry: { sleep: async () => {} },
    });
    expect(record.access_token).toBe('fresh');
    expect(fetch.requests).toHaveLength(3);
  });

  it('a Retry-After longer than maxDelayMs is not retried early: rate_limited naming the wait', async () => {
    const waits: number[] = [];
    const fetch = queueFetch(
      json(429, { error: 'rate' }, { 'retry-after': '90' }),
      json(200, { access_token: 'fresh', token_type: 'Bearer' }),
    );
    const error = await caught(
      refreshAccessToken(td, previous, {
        fetch,
        retry: { sleep: async (ms) => void waits.push(ms) },
      }),
    );
    expect(error.code).toBe('rate_limited');
    expect(error.retryAfterMs).toBe(90_000);
    expect(error.message).toContain('wait 90 s and try again');
    expect(fetch.requests).toHaveLength(1);
    expect(waits).toEqual([]);
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
    await expect(refreshAccessToken({} as never, previous)).rejects.toThrow(
      new TypeError('"provider" must be a Provider'),
    );
    await expect(refreshAccessToken(td, { ...previous, refresh_token: '' })).rejects.toThrow(
      new TypeError('"previous.refresh_token" must be a non-empty string'),
    );
  });
});

describe('grants that must not be sent twice', () => {
  const renewed = { ...TD_LOGIN, access_token: 'fresh' };
  const retry = { sleep: async () => {} };
  const RENEWAL_FIX =
    "so the answer to the refresh-token renewal was lost: TD may have issued a new refresh token and retired the old one, and td-token did not send the request again. run 'td-token refresh' again; if it says to log in, run 'td-token login'";
  const CODE_FIX =
    "after the authorization code was sent: the provider may have used the code, and a code works only once, so td-token did not send it again. start the login again with 'td-token login'";

  const lost: [string, () => Reply, string][] = [
    [
      'a timeout',
      () => hang,
      'the token endpoint api.tdameritrade.com did not answer within 20 ms',
    ],
    [
      'a connection dropped after sending (UND_ERR_SOCKET)',
      () => fetchFailed('UND_ERR_SOCKET'),
      'the token endpoint api.tdameritrade.com dropped the connection before answering (UND_ERR_SOCKET)',
    ],
    [
      'a reset connection (ECONNRESET)',
      () => fetchFailed('ECONNRESET'),
      'the token endpoint api.tdameritrade.com dropped the connection before answering (ECONNRESET)',
    ],
    [
      'a 200 whose body broke off',
      () => cutOff(200),
      'the token endpoint api.tdameritrade.com dropped the connection while sending its answer (UND_ERR_SOCKET)',
    ],
  ];

  it.each(lost)(
    'a TD renewal meeting %s: provider_unavailable at once, sent once',
    async (_name, reply, happened) => {
      const fetch = queueFetch(reply(), json(200, renewed));
      const before = structuredClone(previous);
      const error = await caught(
        refreshAccessToken(td, previous, { fetch, timeoutMs: 20, retry, renewRefreshToken: true }),
      );
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.code).toBe('provider_unavailable');
      expect(error.message).toBe(`${happened}, ${RENEWAL_FIX}`);
      expect(error.cause).toBeInstanceOf(ProviderError);
      expect(fetch.requests).toHaveLength(1);
      expect(previous).toEqual(before);
    },
  );

  it.each(lost)(
    'a code grant meeting %s: provider_unavailable at once, sent once',
    async (_name, reply, happened) => {
      const fetch = queueFetch(reply(), json(200, TD_LOGIN));
      const error = await caught(
        exchangeAuthorizationCode(td, 'code', { fetch, timeoutMs: 20, retry }),
      );
      expect(error.code).toBe('provider_unavailable');
      expect(error.message).toBe(`${happened} ${CODE_FIX}`);
      expect(fetch.requests).toHaveLength(1);
    },
  );

  it('without retries the message is the same', async () => {
    const fetch = queueFetch(fetchFailed('UND_ERR_SOCKET'));
    const error = await caught(
      refreshAccessToken(td, previous, { fetch, retry: false, renewRefreshToken: true }),
    );
    expect(error.message).toMatch(
      /^the token endpoint api\.tdameritrade\.com dropped the connection before answering \(UND_ERR_SOCKET\), so the answer to the refresh-token renewal was lost/,
    );
  });

  const notProcessed: [string, () => Reply][] = [
    ['a 503', () => new Response('busy', { status: 503 })],
    ['a 500 JSON answer', () => json(500, { error: 'Internal Server Error' })],
    ['an HTML page', () => new Response('<html>Access Denied</html>', { status: 200 })],
    ['a 429 with Retry-After', () => json(429, { error: 'rate' }, { 'retry-after': '1' })],
    ['a refused connection', () => fetchFailed('ECONNREFUSED')],
    ['an unknown host', () => fetchFailed('ENOTFOUND')],
    ['a TLS failure', () => fetchFailed('DEPTH_ZERO_SELF_SIGNED_CERT')],
    ['a 503 whose body broke off', () => cutOff(503)],
  ];

  it.each(notProcessed)('a TD renewal meeting %s is retried and succeeds', async (_name, reply) => {
    const fetch = queueFetch(reply(), json(200, renewed));
    const record = await refreshAccessToken(td, previous, {
      fetch,
      retry,
      renewRefreshToken: true,
    });
    expect(record.access_token).toBe('fresh');
    expect(fetch.requests).toHaveLength(2);
  });

  it.each(notProcessed)('a code grant meeting %s is retried and succeeds', async (_name, reply) => {
    const fetch = queueFetch(reply(), json(200, TD_LOGIN));
    const record = await exchangeAuthorizationCode(td, 'code', { fetch, retry });
    expect(record.access_token).toBe(SECRET_ACCESS);
    expect(fetch.requests).toHaveLength(2);
  });

  it('a lost answer after a retried 503 still stops: two requests, no third', async () => {
    const fetch = queueFetch(
      new Response('busy', { status: 503 }),
      fetchFailed('UND_ERR_SOCKET'),
      json(200, TD_LOGIN),
    );
    const error = await caught(exchangeAuthorizationCode(td, 'code', { fetch, retry }));
    expect(error.message).toContain(CODE_FIX);
    expect(fetch.requests).toHaveLength(2);
  });

  it('Schwab cannot renew: its refresh stays retried after a dropped connection', async () => {
    const fetch = queueFetch(
      fetchFailed('UND_ERR_SOCKET'),
      json(200, { access_token: 'fresh', refresh_token: SECRET_REFRESH, token_type: 'Bearer' }),
    );
    const record = await refreshAccessToken(schwab, previous, {
      fetch,
      retry,
      renewRefreshToken: true,
    });
    expect(record.access_token).toBe('fresh');
    expect(fetch.requests).toHaveLength(2);
  });
});
