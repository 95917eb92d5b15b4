import { describe, expect, it } from 'vitest';
import { ConfigError, LoginRequiredError, TokenExpiredError } from '../../src/errors.js';
import { createProvider } from '../../src/providers/index.js';
import { nestedSchwabError } from '../../src/providers/schwab.js';
import { answer, SECRET_ACCESS, SECRET_REFRESH } from './canned.js';

const DAY = 86_400_000;
const KEY = 'AppKey0123456789AppKey0123456789';
const SECRET = 'AppSecret0123456';

function schwab(overrides: Record<string, string | undefined> = {}) {
  return createProvider('schwab', {
    clientId: KEY,
    clientSecret: SECRET,
    redirectUri: 'https://127.0.0.1:8182',
    ...overrides,
  });
}

/** The body protocol.md gives for an invalid or invalidated refresh token. */
const NESTED_BODY = String.raw`{"error":"unsupported_token_type","error_description":"400 Bad Request: \"{\"error_description\":\"Exception while authenticating refresh token [abc], fault: null\",\"error\":\"refresh_token_authentication_error\"}\""}`;

describe('Schwab configuration', () => {
  it('needs the app secret, naming the flag and the variable', () => {
    const fn = () => schwab({ clientSecret: undefined });
    expect(fn).toThrow(ConfigError);
    expect(fn).toThrow(
      'no Schwab app secret (client secret) is set. pass --client-secret or set TD_TOKEN_CLIENT_SECRET',
    );
    expect(() => schwab({ clientSecret: '' })).toThrow(
      /pass --client-secret or set TD_TOKEN_CLIENT_SECRET$/,
    );
    expect(() => schwab({ clientId: '' })).toThrow(
      'no Schwab app key (client id) is set. pass --client-id or set TD_TOKEN_CLIENT_ID',
    );
  });

  it('requires an https callback on 127.0.0.1 for the real Schwab host', () => {
    expect(() => schwab({ redirectUri: 'https://localhost:8182' })).toThrow(
      'Schwab accepts only an https callback URL on 127.0.0.1 (not localhost), and https://localhost:8182 is not one. register and use https://127.0.0.1:8182 (--redirect-uri)',
    );
    expect(() => schwab({ redirectUri: 'http://127.0.0.1:8182/cb' })).toThrow(
      'Schwab accepts only an https callback URL on 127.0.0.1 (not localhost), and http://127.0.0.1:8182/cb is not one. register and use https://127.0.0.1:8182/cb (--redirect-uri)',
    );
  });

  it('allows any loopback callback when pointed at a sandbox', () => {
    const provider = schwab({
      redirectUri: 'http://localhost:9000/callback',
      authorizeUrl: 'http://127.0.0.1:4000/v1/oauth/authorize',
      tokenUrl: 'http://127.0.0.1:4000/v1/oauth/token',
      apiUrl: 'http://127.0.0.1:4000',
    });
    expect(provider.redirectUri).toBe('http://localhost:9000/callback');
  });

  it('fixed quirks: scope api, no PKCE, no renewal, 7-day refresh life', () => {
    const provider = schwab();
    expect(provider.scope).toBe('api');
    expect(provider.usesPkce).toBe(false);
    expect(provider.canRenewRefreshToken).toBe(false);
    expect(provider.refreshTokenLifetimeMs).toBe(7 * DAY);
  });
});

describe('Schwab authorization URL and token requests', () => {
  it('authorization URL: client id, exact callback, state', () => {
    const url = schwab().authorizationUrl({ state: 'xyz' });
    expect(url.href).toBe(
      `https://api.schwabapi.com/v1/oauth/authorize?response_type=code&client_id=${KEY}&redirect_uri=https%3A%2F%2F127.0.0.1%3A8182&state=xyz`,
    );
  });

  it('Basic auth of app_key:app_secret, form body', () => {
    const request = schwab().codeGrantRequest('C0.abc+/=@');
    expect(request.url).toBe('https://api.schwabapi.com/v1/oauth/token');
    expect(request.headers['authorization']).toBe(
      `Basic ${Buffer.from(`${KEY}:${SECRET}`).toString('base64')}`,
    );
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request.body.toString()).toBe(
      'grant_type=authorization_code&code=C0.abc%2B%2F%3D%40&redirect_uri=https%3A%2F%2F127.0.0.1%3A8182',
    );
  });

  it('refresh: grant_type and refresh_token only, renewal ignored', () => {
    const request = schwab().refreshGrantRequest('rt/+=', { renewRefreshToken: true });
    expect(request.body.toString()).toBe('grant_type=refresh_token&refresh_token=rt%2F%2B%3D');
    expect(request.body.has('access_type')).toBe(false);
  });
});

describe('Schwab token record', () => {
  const body = {
    expires_in: 1800,
    token_type: 'Bearer',
    scope: 'api',
    refresh_token: SECRET_REFRESH,
    access_token: SECRET_ACCESS,
    id_token: 'eyJhbGciOiJIUzI1NiJ9.e30.sig',
  };

  it('login: 7 days from receipt, id_token ignored', () => {
    const record = schwab().toRecord(body, 2_000_000);
    expect(record).toMatchObject({
      expires_at: 2_000_000 + 1_800_000,
      refresh_token_expires_at: 2_000_000 + 7 * DAY,
      scope: 'api',
      provider: 'schwab',
    });
    expect(JSON.stringify(record)).not.toContain('eyJhbGciOiJIUzI1NiJ9');
  });

  it('refresh: the 7-day expiry from the login is kept, never extended', () => {
    const login = schwab().toRecord(body, 2_000_000);
    const refreshed = schwab().toRecord(
      { ...body, access_token: 'second-access' },
      2_000_000 + 3 * DAY,
      login,
    );
    expect(refreshed.access_token).toBe('second-access');
    expect(refreshed.expires_at).toBe(2_000_000 + 3 * DAY + 1_800_000);
    expect(refreshed.refresh_token_expires_at).toBe(login.refresh_token_expires_at);
    expect(refreshed.refresh_token_issued_at).toBe(2_000_000);
    // even if a refresh ever returned a different refresh token
    const other = schwab().toRecord({ ...body, refresh_token: 'other' }, 2_000_000 + DAY, login);
    expect(other.refresh_token_expires_at).toBe(login.refresh_token_expires_at);
  });
});

describe('Schwab token errors', () => {
  it('reads the JSON nested inside error_description', () => {
    const parsed = JSON.parse(NESTED_BODY) as { error_description: string };
    expect(nestedSchwabError(parsed.error_description)).toBe('refresh_token_authentication_error');
    expect(nestedSchwabError(String.raw`400: "{\"error\":\"x\"}"`)).toBe('x');
    expect(nestedSchwabError('no json here')).toBeUndefined();
    expect(nestedSchwabError('{not json}')).toBeUndefined();
  });

  it('400 unsupported_token_type with the nested error on a refresh: log in again', () => {
    const error = schwab().tokenError(answer(400, NESTED_BODY), 'refresh_token');
    expect(error).toBeInstanceOf(LoginRequiredError);
    expect(error.oauthError).toBe('unsupported_token_type');
    expect(error.message).toBe(
      "the Schwab token endpoint rejected the refresh token (unsupported_token_type: refresh_token_authentication_error): it expired (Schwab refresh tokens last 7 days from the browser login), or a newer login replaced it. run 'td-token login' to log in again",
    );
  });

  it('invalid_client "refresh token invalid" on a refresh: log in again', () => {
    const error = schwab().tokenError(
      answer(400, { error: 'invalid_client', error_description: 'refresh token invalid' }),
      'refresh_token',
    );
    expect(error.code).toBe('login_required');
    expect(error.oauthError).toBe('invalid_client');
  });

  it('401 invalid_client "Unauthorized": bad app key, secret or callback', () => {
    for (const grant of ['authorization_code', 'refresh_token'] as const) {
      const error = schwab().tokenError(
        answer(401, { error: 'invalid_client', error_description: 'Unauthorized' }),
        grant,
      );
      expect(error.code).toBe('invalid_client');
      expect(error.message).toMatch(
        /check the app key and secret \(--client-id, --client-secret\) and that the callback URL is exactly the one registered with the app \(--redirect-uri\)$/,
      );
    }
  });

  it('expired or reused code: oauth_error, start again', () => {
    const error = schwab().tokenError(
      answer(400, { error: 'invalid_grant' }),
      'authorization_code',
    );
    expect(error.code).toBe('oauth_error');
    expect(error.message).toMatch(/start the login again with 'td-token login'$/);
  });

  it('an HTML "Access Denied" page: provider unavailable', () => {
    const error = schwab().tokenError(
      answer(400, '<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD></HTML>'),
      'refresh_token',
    );
    expect(error.code).toBe('provider_unavailable');
  });

  it('an HTML 403 "Access Denied" page from the token endpoint: an outage (provider_unavailable, retried), not forbidden', () => {
    const error = schwab().tokenError(
      answer(
        403,
        '<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY>Reference #18.1</BODY></HTML>',
        {
          'content-type': 'text/html',
        },
      ),
      'refresh_token',
    );
    expect(error.code).toBe('provider_unavailable');
    expect(error.transient).toBe(true);
    expect(error.message).toMatch(
      /answered HTTP 403 with an HTML page\. try again in a few minutes/,
    );
    // A JSON 403 from the token endpoint, and any 403 from the API, stay forbidden.
    expect(schwab().tokenError(answer(403, { error: 'access_denied' }), 'refresh_token').code).toBe(
      'forbidden',
    );
    expect(schwab().apiError(answer(403, { message: 'Forbidden' })).code).toBe('forbidden');
  });

  it('the nested description never reaches the message', () => {
    const body = JSON.stringify({
      error: 'unsupported_token_type',
      error_description: `400 Bad Request: "{\\"error_description\\":\\"Exception while authenticating refresh token ${SECRET_REFRESH}\\",\\"error\\":\\"refresh_token_authentication_error\\"}"`,
    });
    const error = schwab().tokenError(answer(400, body), 'refresh_token');
    expect(error.code).toBe('login_required');
    expect(error.message).not.toContain(SECRET_REFRESH);
    expect(JSON.stringify(error)).not.toContain(SECRET_REFRESH);
  });
});

describe('Schwab API', () => {
  it("401 with Schwab's errors[] body: token expired", () => {
    const error = schwab().apiError(
      answer(401, {
        errors: [
          { id: '6b0f5d2e', status: 401, title: 'Unauthorized', detail: 'Client not authorized' },
        ],
      }),
    );
    expect(error).toBeInstanceOf(TokenExpiredError);
  });

  it('accounts and quotes URLs', () => {
    expect(schwab().accountsUrl().href).toBe(
      'https://api.schwabapi.com/trader/v1/accounts/accountNumbers',
    );
    expect(
      schwab({ apiUrl: 'https://proxy.example/schwab' }).quotesUrl(['AAPL', 'MSFT']).href,
    ).toBe('https://proxy.example/schwab/marketdata/v1/quotes?symbols=AAPL,MSFT');
  });
});
