import { describe, expect, it } from 'vitest';
import {
  ForbiddenError,
  LoginRequiredError,
  ProviderError,
  TdTokenError,
  TokenExpiredError,
} from '../../src/errors.js';
import { createProvider } from '../../src/providers/index.js';
import { tdClientId } from '../../src/providers/tdameritrade.js';
import type { TokenRecord } from '../../src/token.js';
import { answer, SECRET_ACCESS, SECRET_REFRESH } from './canned.js';

const DAY = 86_400_000;

function td(overrides: Record<string, string> = {}) {
  return createProvider('tdameritrade', {
    clientId: 'CONSUMERKEY123',
    redirectUri: 'https://localhost:8000',
    ...overrides,
  });
}

describe('TD Ameritrade client id', () => {
  it('adds @AMER.OAUTHAP to a bare key, keeps a suffixed one, fixes the suffix case', () => {
    expect(tdClientId('KEY')).toBe('KEY@AMER.OAUTHAP');
    expect(tdClientId('KEY@AMER.OAUTHAP')).toBe('KEY@AMER.OAUTHAP');
    expect(tdClientId('KEY@amer.oauthap')).toBe('KEY@AMER.OAUTHAP');
    expect(tdClientId('  KEY ')).toBe('KEY@AMER.OAUTHAP');
    expect(td().clientId).toBe('CONSUMERKEY123@AMER.OAUTHAP');
    expect(td({ clientId: 'CONSUMERKEY123@AMER.OAUTHAP' }).clientId).toBe(
      'CONSUMERKEY123@AMER.OAUTHAP',
    );
  });

  it('requires a key', () => {
    expect(() => td({ clientId: ' ' })).toThrow(
      'no TD Ameritrade consumer key (client id) is set. pass --client-id or set TD_TOKEN_CLIENT_ID',
    );
  });
});

describe('TD Ameritrade authorization URL', () => {
  it('carries response_type, the exact redirect URI, the suffixed id and the state; no scope, no PKCE', () => {
    const provider = td();
    expect(provider.usesPkce).toBe(false);
    expect(provider.scope).toBeUndefined();
    const url = provider.authorizationUrl({ state: 'st4te' });
    expect(url.origin + url.pathname).toBe('https://auth.tdameritrade.com/auth');
    expect(url.search).toBe(
      '?response_type=code&redirect_uri=https%3A%2F%2Flocalhost%3A8000&client_id=CONSUMERKEY123%40AMER.OAUTHAP&state=st4te',
    );
    expect(url.searchParams.has('scope')).toBe(false);
    expect(url.searchParams.has('code_challenge')).toBe(false);
  });

  it('keeps the redirect URI exactly as registered (no trailing slash added)', () => {
    const provider = td({ redirectUri: 'https://localhost:8000' });
    expect(provider.redirectUri).toBe('https://localhost:8000');
    const withSlash = td({ redirectUri: 'https://127.0.0.1:8000/callback/' });
    expect(withSlash.authorizationUrl({ state: 's' }).searchParams.get('redirect_uri')).toBe(
      'https://127.0.0.1:8000/callback/',
    );
  });

  it('uses overridden endpoints, plain http on loopback included', () => {
    const provider = td({
      authorizeUrl: 'http://127.0.0.1:4000/auth',
      tokenUrl: 'http://127.0.0.1:4000/v1/oauth2/token',
      apiUrl: 'http://127.0.0.1:4000',
    });
    expect(
      provider.authorizationUrl({ state: 's' }).href.startsWith('http://127.0.0.1:4000/auth?'),
    ).toBe(true);
    expect(provider.tokenUrl).toBe('http://127.0.0.1:4000/v1/oauth2/token');
    expect(provider.accountsUrl().href).toBe('http://127.0.0.1:4000/v1/accounts');
  });

  it('refuses an insecure endpoint override', () => {
    expect(() => td({ tokenUrl: 'http://td-proxy.example/v1/oauth2/token' })).toThrow(
      'the token URL http://td-proxy.example/v1/oauth2/token uses plain http, which is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost). use https://td-proxy.example/v1/oauth2/token instead',
    );
  });

  it('names a missing state', () => {
    expect(() => td().authorizationUrl({ state: '' })).toThrow(
      new TypeError('"state" must be a non-empty string'),
    );
  });
});

describe('TD Ameritrade token requests', () => {
  it('code grant: form body with access_type=offline, the code, the suffixed id, the redirect URI; no auth header', () => {
    const request = td().codeGrantRequest('a+b/c=d@e');
    expect(request.url).toBe('https://api.tdameritrade.com/v1/oauth2/token');
    expect(request.headers).toEqual({
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    });
    expect(request.body.toString()).toBe(
      'grant_type=authorization_code&access_type=offline&code=a%2Bb%2Fc%3Dd%40e&redirect_uri=https%3A%2F%2Flocalhost%3A8000&client_id=CONSUMERKEY123%40AMER.OAUTHAP',
    );
  });

  it('refresh grant: access_type=offline only when renewing', () => {
    const plain = td().refreshGrantRequest('rt', { renewRefreshToken: false });
    expect(plain.body.toString()).toBe(
      'grant_type=refresh_token&refresh_token=rt&client_id=CONSUMERKEY123%40AMER.OAUTHAP',
    );
    const renew = td().refreshGrantRequest('rt', { renewRefreshToken: true });
    expect(renew.body.get('access_type')).toBe('offline');
    expect(renew.headers['authorization']).toBeUndefined();
    expect(td().canRenewRefreshToken).toBe(true);
  });

  it('names bad arguments', () => {
    expect(() => td().codeGrantRequest('')).toThrow(
      new TypeError('"code" must be a non-empty string'),
    );
    expect(() => td().refreshGrantRequest('', { renewRefreshToken: false })).toThrow(
      new TypeError('"refreshToken" must be a non-empty string'),
    );
  });
});

describe('TD Ameritrade token record', () => {
  const loginBody = {
    access_token: SECRET_ACCESS,
    refresh_token: SECRET_REFRESH,
    scope: 'PlaceTrades AccountAccess MoveMoney',
    expires_in: 1800,
    refresh_token_expires_in: 7_776_000,
    token_type: 'Bearer',
  };

  it('counts both lifetimes from the time of receipt', () => {
    const record = td().toRecord(loginBody, 1_000_000);
    expect(record).toMatchObject({
      access_token: SECRET_ACCESS,
      expires_at: 1_000_000 + 1_800_000,
      refresh_token: SECRET_REFRESH,
      refresh_token_expires_at: 1_000_000 + 90 * DAY,
      scope: 'PlaceTrades AccountAccess MoveMoney',
      token_type: 'Bearer',
      provider: 'tdameritrade',
      issued_at: 1_000_000,
      refresh_token_issued_at: 1_000_000,
    });
  });

  it('a refresh without refresh_token keeps the stored one and its expiry', () => {
    const previous: TokenRecord = td().toRecord(loginBody, 1_000_000);
    const next = td().toRecord(
      { access_token: 'new-access', expires_in: 1800, token_type: 'Bearer', scope: 'PlaceTrades' },
      5_000_000,
      previous,
    );
    expect(next.access_token).toBe('new-access');
    expect(next.expires_at).toBe(5_000_000 + 1_800_000);
    expect(next.refresh_token).toBe(SECRET_REFRESH);
    expect(next.refresh_token_expires_at).toBe(previous.refresh_token_expires_at);
    expect(next.refresh_token_issued_at).toBe(1_000_000);
  });

  it('a renewing refresh gives a new 90-day refresh token from its receipt', () => {
    const previous = td().toRecord(loginBody, 1_000_000);
    const next = td().toRecord(
      { ...loginBody, access_token: 'a2', refresh_token: 'r2' },
      50 * DAY,
      previous,
    );
    expect(next.refresh_token).toBe('r2');
    expect(next.refresh_token_expires_at).toBe(50 * DAY + 90 * DAY);
    expect(next.refresh_token_issued_at).toBe(50 * DAY);
  });

  it('a 200 without access_token is invalid_response', () => {
    let error: unknown;
    try {
      td().toRecord({ error: 'nope' }, 1);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).code).toBe('invalid_response');
  });
});

function classify(
  status: number,
  body: string | object,
  grant: 'authorization_code' | 'refresh_token',
  headers?: Record<string, string>,
) {
  const error = td().tokenError(answer(status, body, headers), grant);
  expect(error).toBeInstanceOf(TdTokenError);
  expect(error.message).not.toContain(SECRET_REFRESH);
  expect(error.message).not.toContain(SECRET_ACCESS);
  expect(error.status).toBe(status);
  expect(Object.keys(error)).not.toContain('response');
  expect(error.response).toBeInstanceOf(Response);
  return error;
}

describe('TD Ameritrade token errors', () => {
  it('400 invalid_grant on a refresh: log in again', () => {
    const error = classify(400, { error: 'invalid_grant' }, 'refresh_token');
    expect(error).toBeInstanceOf(LoginRequiredError);
    expect(error.code).toBe('login_required');
    expect(error.oauthError).toBe('invalid_grant');
    expect(error.transient).toBe(false);
    expect(error.message).toBe(
      "the TD Ameritrade token endpoint rejected the refresh token (invalid_grant): it expired (TD refresh tokens last 90 days), was revoked, or was replaced by a newer login. run 'td-token login' to log in again",
    );
  });

  it('400 invalid_grant on the code grant: start the login again', () => {
    const error = classify(400, { error: 'invalid_grant' }, 'authorization_code');
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.code).toBe('oauth_error');
    expect(error.message).toMatch(/start the login again with 'td-token login'$/);
  });

  it('400 invalid_request: oauth_error', () => {
    const error = classify(400, { error: 'invalid_request' }, 'refresh_token');
    expect(error.code).toBe('oauth_error');
    expect(error.oauthError).toBe('invalid_request');
  });

  it('401: the consumer key or redirect URI is wrong', () => {
    const error = classify(401, { error: 'invalid_client' }, 'authorization_code');
    expect(error.code).toBe('invalid_client');
    expect(error.message).toMatch(
      /check the consumer key and that the redirect URI is exactly the one registered with the app \(--client-id, --redirect-uri\)$/,
    );
    const sentence = classify(401, { error: 'Client authentication failed.' }, 'refresh_token');
    expect(sentence.code).toBe('invalid_client');
    expect(sentence.oauthError).toBe('Client authentication failed.');
  });

  it('403: forbidden', () => {
    const error = classify(403, { error: 'Forbidden' }, 'refresh_token');
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error.code).toBe('forbidden');
  });

  it('429: rate limited, Retry-After in seconds', () => {
    const error = classify(429, { error: 'too many requests' }, 'refresh_token', {
      'retry-after': '7',
    });
    expect(error.code).toBe('rate_limited');
    expect(error.transient).toBe(true);
    expect(error.retryAfterMs).toBe(7000);
    expect(error.message).toMatch(
      /^the TD Ameritrade token endpoint is rate limiting this app \(HTTP 429\)\. wait 7 s and try again/,
    );
  });

  it("429: Retry-After as an HTTP date, counted from the answer's Date", () => {
    const error = classify(429, '', 'refresh_token', {
      date: 'Wed, 21 Oct 2015 07:28:00 GMT',
      'retry-after': 'Wed, 21 Oct 2015 07:28:30 GMT',
    });
    expect(error.retryAfterMs).toBe(30_000);
  });

  it('429 without Retry-After', () => {
    const error = classify(429, '', 'refresh_token');
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.code).toBe('rate_limited');
  });

  it.each([500, 502, 503])('%i: provider unavailable, transient', (status) => {
    const error = classify(status, { error: 'server error' }, 'refresh_token');
    expect(error.code).toBe('provider_unavailable');
    expect(error.transient).toBe(true);
  });

  it('an HTML page, an empty body, or a body that is not JSON: provider unavailable', () => {
    const html = classify(
      400,
      '<html><body>A third-party application may be attempting to make unauthorized access to your account.</body></html>',
      'authorization_code',
      { 'content-type': 'text/html' },
    );
    expect(html.code).toBe('provider_unavailable');
    expect(html.message).toContain('answered HTTP 400 with an HTML page');
    expect(classify(400, '', 'refresh_token').code).toBe('provider_unavailable');
    expect(classify(400, '{"error": ', 'refresh_token').code).toBe('provider_unavailable');
  });

  it('never puts an echoed token into the message', () => {
    const error = classify(400, { error: `bad token ${SECRET_REFRESH}` }, 'authorization_code');
    expect(error.code).toBe('oauth_error');
    expect(error.message).not.toContain(SECRET_REFRESH);
    // oauthError is enumerable (printed when the error is logged): shown as safeErrorText shows it.
    expect(error.oauthError).toBe('bad token […]');
  });
});

describe('TD Ameritrade API', () => {
  it("401 with TD's body and WWW-Authenticate: token expired", () => {
    const error = td().apiError(
      answer(
        401,
        { error: 'The access token being passed has expired or is invalid.' },
        {
          'www-authenticate':
            'Bearer realm="null",error="invalid_token",error_description="keymanagement.service.access_token_expired: Access Token expired"',
        },
      ),
    );
    expect(error).toBeInstanceOf(TokenExpiredError);
    expect(error.code).toBe('token_expired');
    expect(error.message).toMatch(/'td-token login' if that fails$/);
  });

  it('403, 429, 5xx', () => {
    expect(td().apiError(answer(403, '')).code).toBe('forbidden');
    expect(td().apiError(answer(429, '', { 'retry-after': '2' })).retryAfterMs).toBe(2000);
    expect(td().apiError(answer(503, '<html></html>')).code).toBe('provider_unavailable');
    expect(td().apiError(answer(404, '{}')).code).toBe('invalid_response');
  });

  it('quotes URL joins symbols with commas under symbol=', () => {
    expect(td().quotesUrl(['AAPL', 'BRK/B']).href).toBe(
      'https://api.tdameritrade.com/v1/marketdata/quotes?symbol=AAPL,BRK%2FB',
    );
    expect(() => td().quotesUrl([])).toThrow(
      new TypeError('"symbols" must be a non-empty array of strings'),
    );
  });
});
