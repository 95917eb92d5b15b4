/**
 * Every grant, both flavors, over real HTTP against the sandbox started here: login, code
 * exchange, refresh (TD with and without renewal), an API call with the token, each injected
 * fault on a refresh and on the code grant, and the failures a person must fix by logging in
 * again. After every failure the previous record's refresh token is shown to still work by a
 * later successful refresh. The grants the provider must not process twice (the single-use code,
 * TD's renewing refresh) are shown never to be sent again after a timeout or a dropped
 * connection, counted by the sandbox.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginRequiredError, TdTokenError, TokenExpiredError } from '../../src/errors.js';
import {
  createAuthorizationRequest,
  exchangeAuthorizationCode,
  type GrantOptions,
  refreshAccessToken,
} from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import type { Provider } from '../../src/providers/types.js';
import {
  SANDBOX_DEFAULT_APPS,
  type Sandbox,
  type SandboxFault,
  startSandbox,
} from '../../src/sandbox/index.js';
import { type TokenRecord, validateTokenRecord } from '../../src/token.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';

const DAY = 86_400_000;
type Flavor = 'tdameritrade' | 'schwab';

interface Setup {
  sandbox: Sandbox;
  provider: Provider;
  /** Grant options on the sandbox's clock, retries waiting on a recorder instead of a timer. */
  options(extra?: Partial<GrantOptions>): GrantOptions & { waits: number[] };
  login(): Promise<TokenRecord>;
}

async function setUp(flavor: Flavor): Promise<Setup> {
  const sandbox = await startSandbox({ flavor, settings: { rateLimitPerMinute: 0 } });
  const app = SANDBOX_DEFAULT_APPS[flavor];
  const provider = createProvider(flavor, {
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri: app.redirectUris[0] ?? '',
    authorizeUrl: sandbox.authorizeUrl,
    tokenUrl: sandbox.tokenUrl,
    apiUrl: sandbox.apiUrl,
  });
  const options = (extra: Partial<GrantOptions> = {}) => {
    const waits: number[] = [];
    return {
      now: () => sandbox.clock.now(),
      timeoutMs: 5_000,
      retry: { sleep: async (ms: number) => void waits.push(ms) },
      ...extra,
      waits,
    };
  };
  const login = async () => {
    const request = createAuthorizationRequest(provider);
    const callback = await approveInSandbox(request.url);
    return exchangeAuthorizationCode(provider, callback, {
      ...options(),
      expectedState: request.state,
      ...(request.codeVerifier === undefined ? {} : { codeVerifier: request.codeVerifier }),
    });
  };
  return { sandbox, provider, options, login };
}

async function callAccounts(provider: Provider, accessToken: string): Promise<Response> {
  return fetch(provider.accountsUrl(), {
    headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
  });
}

/** Wait (bounded) for a condition no event reports, such as a sandbox counter. */
async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A fetch that records every request body it sends. */
function recordingFetch(): typeof fetch & { bodies: string[] } {
  const bodies: string[] = [];
  const recorder = (input: string | URL | Request, init?: RequestInit) => {
    bodies.push(typeof init?.body === 'string' ? init.body : '');
    return fetch(input, init);
  };
  return Object.assign(recorder as typeof fetch, { bodies });
}

const CODE_LOST =
  /^the token endpoint 127\.0\.0\.1:\d+ (did not answer within 200 ms|dropped the connection before answering \([A-Z_]+\)) after the authorization code was sent: the provider may have used the code, and a code works only once, so td-token did not send it again\. start the login again with 'td-token login'$/;

const RENEWAL_LOST =
  /^the token endpoint 127\.0\.0\.1:\d+ (did not answer within 200 ms|dropped the connection before answering \([A-Z_]+\)), so the answer to the refresh-token renewal was lost: TD may have issued a new refresh token and retired the old one, and td-token did not send the request again\. run 'td-token refresh' again; if it says to log in, run 'td-token login'$/;

async function failure(promise: Promise<unknown>): Promise<TdTokenError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TdTokenError);
    return error as TdTokenError;
  }
  throw new Error('expected the grant to fail');
}

describe.each(['tdameritrade', 'schwab'] as const)('%s grants against the sandbox', (flavor) => {
  let s: Setup;

  beforeAll(async () => {
    s = await setUp(flavor);
  });

  afterAll(async () => {
    await s?.sandbox.close();
  });

  it('login: authorize, approve, exchange the callback URL, call the API', async () => {
    s.sandbox.resetCounters();
    const before = s.sandbox.clock.now();
    const record = await s.login();
    const after = s.sandbox.clock.now();
    expect(validateTokenRecord(record, 'test')).toBe(record);
    expect(record.provider).toBe(flavor);
    expect(record.expires_at).toBeGreaterThanOrEqual(before + 1_800_000);
    expect(record.expires_at).toBeLessThanOrEqual(after + 1_800_000);
    const life = flavor === 'tdameritrade' ? 90 * DAY : 7 * DAY;
    expect(record.refresh_token_expires_at - (record.issued_at ?? 0)).toBe(life);
    expect(record.scope).toBe(
      flavor === 'tdameritrade' ? 'PlaceTrades AccountAccess MoveMoney' : 'api',
    );
    expect(s.sandbox.counters().token.authorization_code).toBe(1);
    expect(s.sandbox.counters().token.ok).toBe(1);

    const response = await callAccounts(s.provider, record.access_token);
    expect(response.status).toBe(200);
    expect(await response.json()).toBeTruthy();
  });

  it('the code grant gets a refresh token from the strict default sandbox (TD: access_type=offline sent)', async () => {
    if (flavor === 'tdameritrade') {
      expect(s.sandbox.settings.requireAccessTypeOfflineForCodeGrant).toBe(true);
    }
    const request = createAuthorizationRequest(s.provider);
    const callback = await approveInSandbox(request.url);
    const recorder = recordingFetch();
    const record = await exchangeAuthorizationCode(s.provider, callback, {
      ...s.options({ fetch: recorder }),
      expectedState: request.state,
    });
    expect(recorder.bodies).toHaveLength(1);
    const sent = new URLSearchParams(recorder.bodies[0]);
    expect(sent.get('grant_type')).toBe('authorization_code');
    expect(sent.get('access_type')).toBe(flavor === 'tdameritrade' ? 'offline' : null);
    expect(record.refresh_token).toMatch(/.{20,}/);
    expect(record.refresh_token_issued_at).toBe(record.issued_at);
  });

  it('refresh: a new access token that works, the refresh token and its expiry kept', async () => {
    const login = await s.login();
    s.sandbox.clock.advance(2 * DAY);
    s.sandbox.resetCounters();
    const next = await refreshAccessToken(s.provider, login, s.options());
    expect(s.sandbox.counters().token.refresh_token).toBe(1);
    expect(next.access_token).not.toBe(login.access_token);
    expect(next.refresh_token).toBe(login.refresh_token);
    expect(next.refresh_token_expires_at).toBe(login.refresh_token_expires_at);
    expect(next.expires_at).toBe((next.issued_at ?? 0) + 1_800_000);
    expect(next.issued_at).toBeGreaterThanOrEqual((login.issued_at ?? 0) + 2 * DAY);
    expect((await callAccounts(s.provider, next.access_token)).status).toBe(200);
  });

  it('an API call with an expired access token answers 401: token_expired', async () => {
    const record = await s.login();
    s.sandbox.clock.advance(31 * 60_000);
    const response = await callAccounts(s.provider, record.access_token);
    expect(response.status).toBe(401);
    const error = s.provider.apiError({
      status: response.status,
      headers: response.headers,
      body: await response.text(),
      response,
    });
    expect(error).toBeInstanceOf(TokenExpiredError);
    // the refresh token still gets a working access token
    const next = await refreshAccessToken(s.provider, record, s.options());
    expect((await callAccounts(s.provider, next.access_token)).status).toBe(200);
  });

  const faults: { name: string; fault: SandboxFault; code: string; timeoutMs?: number }[] = [
    { name: '500', fault: { kind: 'status', status: 500 }, code: 'provider_unavailable' },
    { name: '502', fault: { kind: 'status', status: 502 }, code: 'provider_unavailable' },
    { name: '503', fault: { kind: 'status', status: 503 }, code: 'provider_unavailable' },
    { name: 'an HTML page', fault: { kind: 'html' }, code: 'provider_unavailable' },
    {
      name: 'an HTML 503 page',
      fault: { kind: 'html', status: 503 },
      code: 'provider_unavailable',
    },
    { name: 'malformed JSON', fault: { kind: 'malformed-json' }, code: 'provider_unavailable' },
    { name: 'a dropped connection', fault: { kind: 'drop' }, code: 'provider_unavailable' },
    {
      name: 'a delay beyond timeoutMs',
      fault: { kind: 'delay', ms: 1_500 },
      code: 'provider_unavailable',
      timeoutMs: 200,
    },
    {
      name: '429 with Retry-After',
      fault: { kind: 'rate-limit', retryAfterSec: 2 },
      code: 'rate_limited',
    },
  ];

  describe.each(faults)('a refresh meeting $name', ({ fault, code, timeoutMs }) => {
    it('without retries fails with the right code, and the refresh token still works', async () => {
      const login = await s.login();
      s.sandbox.resetCounters();
      s.sandbox.faults.inject(fault);
      const extra: Partial<GrantOptions> = { retry: false };
      if (timeoutMs !== undefined) extra.timeoutMs = timeoutMs;
      const error = await failure(refreshAccessToken(s.provider, login, s.options(extra)));
      expect(error.code).toBe(code);
      expect(error.transient).toBe(true);
      expect(error.message).not.toContain(login.refresh_token);
      if (fault.kind === 'rate-limit') expect(error.retryAfterMs).toBe(2_000);
      expect(s.sandbox.faults.pending()).toBe(0);

      const later = await refreshAccessToken(s.provider, login, s.options());
      expect(later.refresh_token).toBe(login.refresh_token);
      expect((await callAccounts(s.provider, later.access_token)).status).toBe(200);
      expect(s.sandbox.counters().token.refresh_token).toBe(2);
    });

    it('with retries is retried and succeeds after', async () => {
      const login = await s.login();
      s.sandbox.resetCounters();
      s.sandbox.faults.inject(fault, 2);
      const extra: Partial<GrantOptions> = {};
      if (timeoutMs !== undefined) extra.timeoutMs = timeoutMs;
      const options = s.options(extra);
      const next = await refreshAccessToken(s.provider, login, options);
      expect(s.sandbox.counters().token.refresh_token).toBe(3);
      expect(options.waits).toHaveLength(2);
      if (fault.kind === 'rate-limit') expect(options.waits).toEqual([2_000, 2_000]);
      expect(next.refresh_token).toBe(login.refresh_token);
      expect((await callAccounts(s.provider, next.access_token)).status).toBe(200);
    });
  });

  const answered = faults.filter((f) => f.fault.kind !== 'delay' && f.fault.kind !== 'drop');

  describe.each(answered)('the code grant meeting $name', ({ fault }) => {
    it('is retried once and succeeds: the provider did not use the code', async () => {
      const request = createAuthorizationRequest(s.provider);
      const callback = await approveInSandbox(request.url);
      s.sandbox.resetCounters();
      s.sandbox.faults.inject(fault);
      const options = s.options();
      const record = await exchangeAuthorizationCode(s.provider, callback, {
        ...options,
        expectedState: request.state,
      });
      expect(s.sandbox.counters().token.authorization_code).toBe(2);
      expect(s.sandbox.counters().token.ok).toBe(1);
      expect(options.waits).toHaveLength(1);
      if (fault.kind === 'rate-limit') expect(options.waits).toEqual([2_000]);
      expect(validateTokenRecord(record, 'test')).toBe(record);
      expect((await callAccounts(s.provider, record.access_token)).status).toBe(200);
    });
  });

  const lost = faults.filter((f) => f.fault.kind === 'delay' || f.fault.kind === 'drop');

  describe.each(lost)('the code grant meeting $name', ({ fault, timeoutMs }) => {
    it('is not sent again: provider_unavailable saying to log in again, nothing returned', async () => {
      const request = createAuthorizationRequest(s.provider);
      const callback = await approveInSandbox(request.url);
      s.sandbox.resetCounters();
      s.sandbox.faults.inject(fault, 3);
      const options = s.options(timeoutMs === undefined ? {} : { timeoutMs });
      let returned: TokenRecord | undefined;
      const error = await failure(
        exchangeAuthorizationCode(s.provider, callback, {
          ...options,
          expectedState: request.state,
        }).then((record) => {
          returned = record;
        }),
      );
      expect(returned).toBeUndefined();
      expect(error.code).toBe('provider_unavailable');
      expect(error.message).toMatch(CODE_LOST);
      expect(options.waits).toEqual([]);
      expect(s.sandbox.counters().token.authorization_code).toBe(1);
      expect(s.sandbox.counters().token.total).toBe(1);
      expect(s.sandbox.faults.pending()).toBe(2);
      s.sandbox.faults.clear();
      if (fault.kind === 'delay') {
        // The provider did get the code: it answers the lost request late, and the code is spent.
        await until(
          () => s.sandbox.counters().token.ok === 1,
          'the delayed request to be processed',
        );
        const again = await failure(
          exchangeAuthorizationCode(s.provider, callback, {
            ...s.options(),
            expectedState: request.state,
          }),
        );
        expect(again.oauthError).toBe('invalid_grant');
      }
      expect(s.sandbox.counters().token.authorization_code).toBe(fault.kind === 'delay' ? 2 : 1);
      // Logging in again works.
      const record = await s.login();
      expect((await callAccounts(s.provider, record.access_token)).status).toBe(200);
    });
  });

  it('a refresh meeting an HTML 403 page is an outage: retried, then provider_unavailable, and the token survives', async () => {
    const login = await s.login();
    s.sandbox.resetCounters();
    s.sandbox.faults.inject({ kind: 'html', status: 403 }, 3);
    const options = s.options({ retry: { retries: 2, sleep: async () => {} } });
    const error = await failure(refreshAccessToken(s.provider, login, options));
    expect(error.code).toBe('provider_unavailable');
    expect(error.message).toMatch(/HTTP 403 with an HTML page/);
    expect(s.sandbox.counters().token.refresh_token).toBe(3);
    s.sandbox.faults.clear();
    await refreshAccessToken(s.provider, login, s.options());
  });

  it('retries are bounded: a provider down for good fails after retries + 1 tries', async () => {
    const login = await s.login();
    s.sandbox.resetCounters();
    s.sandbox.faults.inject({ kind: 'status', status: 503 }, 10);
    const options = s.options({ retry: { retries: 2, sleep: async () => {} } });
    const error = await failure(refreshAccessToken(s.provider, login, options));
    expect(error.code).toBe('provider_unavailable');
    expect(s.sandbox.counters().token.refresh_token).toBe(3);
    s.sandbox.faults.clear();
    await refreshAccessToken(s.provider, login, s.options());
  });

  it('an expired refresh token: log in again (never retried)', async () => {
    const login = await s.login();
    s.sandbox.clock.advance(login.refresh_token_expires_at - s.sandbox.clock.now() + 1_000);
    s.sandbox.resetCounters();
    const error = await failure(refreshAccessToken(s.provider, login, s.options()));
    expect(error).toBeInstanceOf(LoginRequiredError);
    expect(error.message).toMatch(/run 'td-token login' to log in again$/);
    expect(s.sandbox.counters().token.refresh_token).toBe(1);
  });

  it('a revoked refresh token: log in again', async () => {
    const login = await s.login();
    s.sandbox.revokeRefreshToken(login.refresh_token);
    const error = await failure(refreshAccessToken(s.provider, login, s.options()));
    expect(error.code).toBe('login_required');
    expect(error.message).not.toContain(login.refresh_token);
  });

  it('a reused code: oauth_error, start the login again', async () => {
    const request = createAuthorizationRequest(s.provider);
    const callback = await approveInSandbox(request.url);
    await exchangeAuthorizationCode(s.provider, callback, {
      ...s.options(),
      expectedState: request.state,
    });
    const error = await failure(
      exchangeAuthorizationCode(s.provider, callback, {
        ...s.options(),
        expectedState: request.state,
      }),
    );
    expect(error.code).toBe('oauth_error');
    expect(error.oauthError).toBe('invalid_grant');
    expect(error.message).toMatch(/start the login again with 'td-token login'$/);
  });

  it('an expired code: oauth_error', async () => {
    const request = createAuthorizationRequest(s.provider);
    const callback = await approveInSandbox(request.url);
    s.sandbox.clock.advance(s.sandbox.settings.codeLifetimeMs + 1);
    const error = await failure(
      exchangeAuthorizationCode(s.provider, callback, {
        ...s.options(),
        expectedState: request.state,
      }),
    );
    expect(error.code).toBe('oauth_error');
  });

  it("a callback with another login's state is refused before any request", async () => {
    const request = createAuthorizationRequest(s.provider);
    const callback = await approveInSandbox(request.url);
    s.sandbox.resetCounters();
    const other = createAuthorizationRequest(s.provider);
    const error = await failure(
      exchangeAuthorizationCode(s.provider, callback, {
        ...s.options(),
        expectedState: other.state,
      }),
    );
    expect(error.code).toBe('state_mismatch');
    expect(s.sandbox.counters().token.total).toBe(0);
  });

  it('Deny on the consent page: access_denied', async () => {
    const request = createAuthorizationRequest(s.provider);
    const callback = await approveInSandbox(request.url, { deny: true });
    const error = await failure(
      exchangeAuthorizationCode(s.provider, callback, {
        ...s.options(),
        expectedState: request.state,
      }),
    );
    expect(error.code).toBe('access_denied');
  });

  it('the bare code, copied from the callback URL, works too', async () => {
    const request = createAuthorizationRequest(s.provider);
    const callback = new URL(await approveInSandbox(request.url));
    const raw = /[?&]code=([^&]*)/.exec(callback.search)?.[1] ?? '';
    expect(raw).toMatch(/%[0-9A-F]{2}/i);
    const record = await exchangeAuthorizationCode(s.provider, raw, s.options());
    expect((await callAccounts(s.provider, record.access_token)).status).toBe(200);
  });
});

describe('TD Ameritrade refresh-token renewal against the sandbox', () => {
  let s: Setup;

  beforeAll(async () => {
    s = await setUp('tdameritrade');
  });

  afterAll(async () => {
    await s?.sandbox.close();
  });

  it('access_type=offline renews: a new 90-day refresh token from receipt; the old one is invalidated', async () => {
    const login = await s.login();
    s.sandbox.clock.advance(60 * DAY);
    const renewed = await refreshAccessToken(s.provider, login, {
      ...s.options(),
      renewRefreshToken: true,
    });
    expect(renewed.refresh_token).not.toBe(login.refresh_token);
    expect(renewed.refresh_token_issued_at).toBe(renewed.issued_at);
    expect(renewed.refresh_token_expires_at).toBe((renewed.issued_at ?? 0) + 90 * DAY);
    expect(renewed.refresh_token_expires_at).toBeGreaterThan(login.refresh_token_expires_at);
    expect((await callAccounts(s.provider, renewed.access_token)).status).toBe(200);

    const stale = await failure(refreshAccessToken(s.provider, login, s.options()));
    expect(stale).toBeInstanceOf(LoginRequiredError);

    // the renewed token outlives the first login's 90 days
    s.sandbox.clock.advance(40 * DAY);
    const later = await refreshAccessToken(s.provider, renewed, s.options());
    expect(later.refresh_token).toBe(renewed.refresh_token);
  });

  it.each([
    { name: 'a delay beyond timeoutMs', fault: { kind: 'delay', ms: 600 } as SandboxFault },
    { name: 'a dropped connection', fault: { kind: 'drop' } as SandboxFault },
  ])(
    'a renewal meeting $name is not sent again: provider_unavailable, one request, the previous record untouched',
    async ({ fault }) => {
      const login = await s.login();
      const before = structuredClone(login);
      s.sandbox.resetCounters();
      s.sandbox.faults.inject(fault, 3);
      const options = s.options({ timeoutMs: 200 });
      const error = await failure(
        refreshAccessToken(s.provider, login, { ...options, renewRefreshToken: true }),
      );
      expect(error.code).toBe('provider_unavailable');
      expect(error.message).toMatch(RENEWAL_LOST);
      expect(error.message).not.toContain(login.refresh_token);
      expect(options.waits).toEqual([]);
      expect(s.sandbox.counters().token.refresh_token).toBe(1);
      expect(s.sandbox.counters().token.total).toBe(1);
      expect(s.sandbox.faults.pending()).toBe(2);
      expect(login).toEqual(before);
      s.sandbox.faults.clear();
      if (fault.kind === 'delay') {
        // The lost renewal reached TD: the old refresh token was retired, so a retry would have
        // failed, and 'td-token refresh' now says to log in.
        await until(
          () => s.sandbox.counters().token.ok === 1,
          'the delayed renewal to be processed',
        );
        const stale = await failure(refreshAccessToken(s.provider, login, s.options()));
        expect(stale).toBeInstanceOf(LoginRequiredError);
      } else {
        // The dropped request was never processed: the old refresh token still renews.
        const renewed = await refreshAccessToken(s.provider, login, {
          ...s.options(),
          renewRefreshToken: true,
        });
        expect(renewed.refresh_token).not.toBe(login.refresh_token);
      }
      expect(s.sandbox.counters().token.refresh_token).toBe(2);
    },
  );

  it('a renewal meeting a 503 or an HTML page is retried: the provider did not process it', async () => {
    const login = await s.login();
    s.sandbox.resetCounters();
    s.sandbox.faults.inject({ kind: 'status', status: 503 });
    s.sandbox.faults.inject({ kind: 'html' });
    const options = s.options();
    const renewed = await refreshAccessToken(s.provider, login, {
      ...options,
      renewRefreshToken: true,
    });
    expect(options.waits).toHaveLength(2);
    expect(s.sandbox.counters().token.refresh_token).toBe(3);
    expect(renewed.refresh_token).not.toBe(login.refresh_token);
  });

  it('a plain refresh (no renewal) meeting a dropped connection is still retried', async () => {
    const login = await s.login();
    s.sandbox.resetCounters();
    s.sandbox.faults.inject({ kind: 'drop' });
    const options = s.options();
    const next = await refreshAccessToken(s.provider, login, options);
    expect(options.waits).toHaveLength(1);
    expect(s.sandbox.counters().token.refresh_token).toBe(2);
    expect(next.refresh_token).toBe(login.refresh_token);
  });

  it('a renewing refresh that fails before the provider answers leaves the old refresh token working', async () => {
    const login = await s.login();
    for (const fault of [
      { kind: 'drop' },
      { kind: 'status', status: 503 },
      { kind: 'malformed-json' },
    ] as SandboxFault[]) {
      s.sandbox.faults.inject(fault);
      const error = await failure(
        refreshAccessToken(s.provider, login, {
          ...s.options({ retry: false }),
          renewRefreshToken: true,
        }),
      );
      expect(error.code).toBe('provider_unavailable');
    }
    const renewed = await refreshAccessToken(s.provider, login, {
      ...s.options(),
      renewRefreshToken: true,
    });
    expect(renewed.refresh_token).not.toBe(login.refresh_token);
  });
});

describe('Schwab 7-day refresh token against the sandbox', () => {
  let s: Setup;

  beforeAll(async () => {
    s = await setUp('schwab');
  });

  afterAll(async () => {
    await s?.sandbox.close();
  });

  it('refreshing across the week never extends the expiry; after 7 days a login is required', async () => {
    const login = await s.login();
    let record = login;
    for (let day = 1; day <= 6; day++) {
      s.sandbox.clock.advance(DAY);
      record = await refreshAccessToken(s.provider, record, s.options());
      expect(record.refresh_token).toBe(login.refresh_token);
      expect(record.refresh_token_expires_at).toBe(login.refresh_token_expires_at);
    }
    s.sandbox.clock.advance(DAY);
    const error = await failure(refreshAccessToken(s.provider, record, s.options()));
    expect(error).toBeInstanceOf(LoginRequiredError);
  });

  it('a new browser login invalidates the earlier refresh token', async () => {
    const first = await s.login();
    await s.login();
    const error = await failure(refreshAccessToken(s.provider, first, s.options()));
    expect(error.code).toBe('login_required');
  });
});
