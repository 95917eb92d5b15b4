import { afterEach, describe, expect, it } from 'vitest';
import {
  ForbiddenError,
  LoginRequiredError,
  ProviderError,
  TokenExpiredError,
} from '../../src/errors.js';
import {
  type RefreshEvent,
  type RefreshTokenExpiringEvent,
  TokenManager,
} from '../../src/manager.js';
import { createStore } from '../../src/stores/index.js';
import type { TokenRecord } from '../../src/token.js';
import { advanceTo, DAY, HOUR, MINUTE, type Setup, sandboxLogin, setup } from './setup.js';

let current: Setup | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function start(...args: Parameters<typeof setup>): Promise<Setup> {
  current = await setup(...args);
  return current;
}

function events<T>(
  manager: TokenManager,
  name: 'refresh' | 'refresh-token-expiring' | 'login-required',
): T[] {
  const seen: T[] = [];
  manager.on(name, (payload: unknown) => seen.push(payload as T));
  return seen;
}

describe('TokenManager.getAccessToken', () => {
  it('hands out the stored token from memory while it is fresh', async () => {
    const { manager, sandbox, login } = await start('schwab');
    for (let i = 0; i < 1000; i++) {
      expect(await manager.getAccessToken()).toBe(login.access_token);
    }
    expect(sandbox.counters().token.total).toBe(0);
  });

  it('refreshes once the token is within the margin, not before', async () => {
    const { manager, sandbox, login, store } = await start('tdameritrade', {
      marginMs: 5 * MINUTE,
    });
    const refreshes = events<RefreshEvent>(manager, 'refresh');

    advanceTo(sandbox, login.expires_at - 5 * MINUTE - 10_000);
    expect(await manager.getAccessToken()).toBe(login.access_token);
    expect(sandbox.counters().token.refresh_token).toBe(0);

    advanceTo(sandbox, login.expires_at - 5 * MINUTE + 1000);
    const token = await manager.getAccessToken();
    expect(token).not.toBe(login.access_token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    const stored = (await store.load())!;
    expect(stored.access_token).toBe(token);
    expect(stored.expires_at).toBeGreaterThan(sandbox.clock.now() + 29 * MINUTE);
    expect(refreshes).toEqual([{ expiresAt: stored.expires_at, refreshTokenRenewed: false }]);
    // and the new one comes from memory again
    expect(await manager.getAccessToken()).toBe(token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
  });

  it('shares one refresh among 100 concurrent callers, in one flight', async () => {
    const { manager, sandbox, login, store } = await start('schwab');
    // Count what reaches the store: one flight takes the lock once and reads the store once,
    // under the lock (the cached record tells it the store has not moved).
    let locks = 0;
    let loads = 0;
    const lock = store.lock.bind(store);
    const load = store.load.bind(store);
    store.lock = (options) => {
      locks++;
      return lock(options);
    };
    store.load = () => {
      loads++;
      return load();
    };
    advanceTo(sandbox, login.expires_at + 1000);
    const tokens = await Promise.all(Array.from({ length: 100 }, () => manager.getAccessToken()));
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(login.access_token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    expect(locks).toBe(1);
    expect(loads).toBe(1);
  });

  it('shares one refresh among managers on one memory store, through its lock', async () => {
    const { manager, sandbox, login, provider, store } = await start('tdameritrade');
    const others = Array.from(
      { length: 7 },
      () => new TokenManager(provider, store, { now: sandbox.clock.now, retry: false }),
    );
    for (const m of others) expect(await m.getAccessToken()).toBe(login.access_token);
    // A slow token endpoint keeps the first refresh in flight while the others queue on the lock.
    sandbox.faults.inject({ kind: 'delay', ms: 200 });
    advanceTo(sandbox, login.expires_at + 1000);
    const all = [manager, ...others];
    const tokens = await Promise.all(
      all.flatMap((m) => Array.from({ length: 12 }, () => m.getAccessToken())),
    );
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(login.access_token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
  });

  it('notices a token saved by another writer to the same store', async () => {
    const { manager, sandbox, provider, store, login } = await start('schwab');
    expect(await manager.getAccessToken()).toBe(login.access_token);
    const other = new TokenManager(provider, store, { now: sandbox.clock.now, retry: false });
    const renewed = await other.refresh({ force: true });
    expect(renewed.access_token).not.toBe(login.access_token);
    expect(await manager.getAccessToken()).toBe(renewed.access_token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
  });

  it('waits for the lock no longer than lockWaitMs, then fails with lock_timeout', async () => {
    const { manager, sandbox, login, store } = await start('schwab', { lockWaitMs: 300 });
    const held = await store.lock({ ttlMs: 60_000 });
    advanceTo(sandbox, login.expires_at + 1000);
    const started = Date.now();
    const err = await manager.getAccessToken().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'lock_timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(sandbox.counters().token.total).toBe(0);
    await held.release();
    expect(await manager.getAccessToken()).not.toBe(login.access_token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
  });

  it('uses the token another holder of the lock saves, without refreshing itself', async () => {
    const { manager, sandbox, login, store, provider } = await start('tdameritrade');
    const held = await store.lock({ ttlMs: 60_000 });
    advanceTo(sandbox, login.expires_at + 1000);
    const waiting = manager.getAccessToken();
    // Another process (here: the test) refreshes while holding the lock.
    const other = new TokenManager(provider, await createStore({ kind: 'memory' }), {
      now: sandbox.clock.now,
      retry: false,
    });
    await other.saveLogin(login);
    const refreshed = await other.refresh({ force: true });
    await held.save(refreshed);
    expect(await waiting).toBe(refreshed.access_token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    await held.release();
  });

  it('refreshes a fresh token when forced', async () => {
    const { manager, sandbox, login } = await start('tdameritrade');
    const record = await manager.refresh({ force: true });
    expect(record.access_token).not.toBe(login.access_token);
    expect(await manager.refresh()).toEqual(record);
    expect(sandbox.counters().token.refresh_token).toBe(1);
  });

  it('throws login_required with no stored token, and says how to log in', async () => {
    const { manager } = await start('schwab');
    const required = events<LoginRequiredError>(manager, 'login-required');
    await manager.logout();
    expect(await manager.peek()).toBeUndefined();
    const err = await manager.getAccessToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginRequiredError);
    expect((err as Error).message).toMatch(/no token is stored in memory\. run 'td-token login'/);
    expect(required).toEqual([err]);
  });
});

describe('refresh token policy', () => {
  it('renews a TD refresh token only within the renewal window', async () => {
    const bodies: string[] = [];
    const spyFetch: typeof fetch = async (input, init) => {
      if (typeof init?.body === 'string') bodies.push(init.body);
      else if (init?.body instanceof URLSearchParams) bodies.push(init.body.toString());
      return fetch(input, init);
    };
    const { manager, sandbox, login, store } = await start('tdameritrade', {
      renewWithinDays: 7,
      fetch: spyFetch,
    });
    const refreshes = events<RefreshEvent>(manager, 'refresh');
    let previous: TokenRecord = login;
    // Refresh every 31 minutes for a while, far from the end: never renewed.
    for (let i = 0; i < 5; i++) {
      advanceTo(sandbox, previous.expires_at + 60_000);
      await manager.getAccessToken();
      const stored = (await store.load())!;
      expect(stored.refresh_token).toBe(login.refresh_token);
      expect(stored.refresh_token_expires_at).toBe(login.refresh_token_expires_at);
      previous = stored;
    }
    // 8 days left: still not renewed.
    advanceTo(sandbox, login.refresh_token_expires_at - 8 * DAY);
    await manager.getAccessToken();
    expect((await store.load())!.refresh_token).toBe(login.refresh_token);
    // 6 days left: renewed, once.
    advanceTo(sandbox, login.refresh_token_expires_at - 6 * DAY);
    await manager.getAccessToken();
    const renewed = (await store.load())!;
    expect(renewed.refresh_token).not.toBe(login.refresh_token);
    expect(renewed.refresh_token_expires_at).toBeGreaterThan(sandbox.clock.now() + 89 * DAY);
    advanceTo(sandbox, renewed.expires_at + 60_000);
    await manager.getAccessToken();
    expect((await store.load())!.refresh_token).toBe(renewed.refresh_token);

    expect(refreshes.map((e) => e.refreshTokenRenewed)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      true,
      false,
    ]);
    const offline = bodies.filter((b) => new URLSearchParams(b).get('access_type') === 'offline');
    expect(offline).toHaveLength(1);
    expect(sandbox.counters().token.refresh_token).toBe(8);
  });

  it('never asks Schwab to renew, and warns once at 48 and once at 24 hours left', async () => {
    const { manager, sandbox, login, store } = await start('schwab');
    const warnings = events<RefreshTokenExpiringEvent>(manager, 'refresh-token-expiring');
    const end = login.refresh_token_expires_at;
    const visit = async (at: number) => {
      advanceTo(sandbox, at);
      await manager.getAccessToken();
    };
    await visit(end - 72 * HOUR);
    await visit(end - 49 * HOUR);
    expect(warnings).toEqual([]);
    await visit(end - 47 * HOUR);
    await visit(end - 46 * HOUR);
    await visit(end - 30 * HOUR);
    await visit(end - 23 * HOUR);
    await visit(end - 20 * HOUR);
    await visit(end - 2 * HOUR);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]!.expiresAt).toBe(end);
    expect(warnings[0]!.hoursLeft).toBeLessThanOrEqual(47);
    expect(warnings[0]!.hoursLeft).toBeGreaterThanOrEqual(46.8);
    expect(warnings[1]!.hoursLeft).toBeLessThanOrEqual(23);
    expect(warnings[1]!.hoursLeft).toBeGreaterThanOrEqual(22.8);
    const stored = (await store.load())!;
    expect(stored.refresh_token).toBe(login.refresh_token);
    expect(stored.refresh_token_expires_at).toBe(end);
  });

  it('keeps the stored record, refresh token included, when a refresh fails', async () => {
    const { manager, sandbox, login, store } = await start('tdameritrade');
    advanceTo(sandbox, login.refresh_token_expires_at - 3 * DAY); // a renewing refresh
    const before = (await store.load())!;
    for (const fault of [
      { kind: 'status', status: 503 },
      { kind: 'html' },
      { kind: 'malformed-json' },
      { kind: 'drop' },
    ] as const) {
      sandbox.faults.inject(fault);
      const err = await manager.getAccessToken().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderError);
      expect(await store.load()).toEqual(before);
    }
    const token = await manager.getAccessToken();
    expect(token).not.toBe(before.access_token);
    const after = (await store.load())!;
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect(sandbox.counters().token.ok).toBe(1);
  });

  it('emits login-required when the refresh token was revoked, and keeps the record', async () => {
    const { manager, sandbox, login, store } = await start('schwab');
    const required = events<LoginRequiredError>(manager, 'login-required');
    sandbox.revokeRefreshToken(login.refresh_token);
    advanceTo(sandbox, login.expires_at + 1000);
    const err = await manager.getAccessToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginRequiredError);
    expect(required).toEqual([err]);
    // Every field as it was, and the refusal remembered for other processes.
    expect(await store.load()).toEqual({ ...login, refresh_token_refused_at: expect.any(Number) });
  });

  it('does not call the provider with an expired refresh token', async () => {
    const { manager, sandbox, login } = await start('tdameritrade');
    advanceTo(sandbox, login.refresh_token_expires_at + 1000);
    const err = await manager.getAccessToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginRequiredError);
    expect((err as Error).message).toMatch(/expired on .*run 'td-token login'/);
    expect(sandbox.counters().token.total).toBe(0);
  });
});

describe('TokenManager.login and logout', () => {
  it('refreshes silently while the stored refresh token works', async () => {
    const { manager, sandbox, login } = await start('tdameritrade');
    let asked = 0;
    const record = await manager.login(async () => {
      asked++;
      throw new Error('no browser here');
    });
    expect(asked).toBe(0);
    expect(record.access_token).not.toBe(login.access_token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
  });

  it('asks for a browser login when the refresh token was revoked, and saves it', async () => {
    const { manager, sandbox, login, provider, store } = await start('schwab');
    sandbox.revokeRefreshToken(login.refresh_token);
    let asked = 0;
    const record = await manager.login(async () => {
      asked++;
      return sandboxLogin(sandbox, provider);
    });
    expect(asked).toBe(1);
    expect(await store.load()).toEqual(record);
    expect(await manager.getAccessToken()).toBe(record.access_token);
  });

  it('emits no login-required when its silent refresh is refused and the browser login follows', async () => {
    const { manager, sandbox, login, provider } = await start('schwab');
    const required = events<LoginRequiredError>(manager, 'login-required');
    sandbox.revokeRefreshToken(login.refresh_token);
    let asked = 0;
    const record = await manager.login(async () => {
      asked++;
      return sandboxLogin(sandbox, provider);
    });
    expect(asked).toBe(1);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    expect(required).toEqual([]);
    expect(await manager.getAccessToken()).toBe(record.access_token);
  });

  it('emits login-required once for a refusal that many callers share', async () => {
    const { manager, sandbox, login } = await start('tdameritrade');
    const required = events<LoginRequiredError>(manager, 'login-required');
    sandbox.revokeRefreshToken(login.refresh_token);
    advanceTo(sandbox, login.expires_at + 1000);
    const errors = await Promise.all(
      Array.from({ length: 20 }, () => manager.getAccessToken().catch((e: unknown) => e)),
    );
    expect(new Set(errors).size).toBe(1);
    expect(errors[0]).toBeInstanceOf(LoginRequiredError);
    expect(required).toEqual([errors[0]]);
    // A public refresh() that is refused announces it too.
    const again = await manager.refresh({ force: true }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(LoginRequiredError);
    expect(required).toEqual([errors[0], again]);
  });

  it('goes straight to the browser with forceBrowser', async () => {
    const { manager, sandbox, provider } = await start('schwab');
    const record = await manager.login(() => sandboxLogin(sandbox, provider), {
      forceBrowser: true,
    });
    expect(sandbox.counters().token.refresh_token).toBe(0);
    expect(sandbox.counters().token.authorization_code).toBe(1);
    expect(await manager.getAccessToken()).toBe(record.access_token);
  });

  it('rejects bad arguments with a TypeError naming them', async () => {
    const { manager, provider, store } = await start('schwab');
    // @ts-expect-error testing a bad argument
    await expect(manager.login('nope')).rejects.toThrow('"interactive" must be a function');
    expect(() => new TokenManager(provider, store, { marginMs: -1 })).toThrow(
      '"options.marginMs" must be a number of at least 0',
    );
    // @ts-expect-error testing a bad argument
    expect(() => new TokenManager(provider, undefined)).toThrow('"store" must be a token store');
    await expect(manager.getQuotes([])).rejects.toThrow('"symbols" must be a non-empty array');
  });
});

describe('authenticated fetch', () => {
  it('refreshes after a 401 and retries once', async () => {
    const { manager, sandbox, login, store } = await start('tdameritrade');
    // A token the API no longer accepts, though the record says it is fresh.
    await manager.saveLogin({ ...login, access_token: 'revoked-access-token-0000' });
    sandbox.resetCounters();
    const response = await manager.fetch('/v1/accounts');
    expect(response.status).toBe(200);
    expect(sandbox.counters().api).toBe(2);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    expect((await store.load())!.access_token).not.toBe('revoked-access-token-0000');
  });

  it('gives up with token_expired when the retry is refused too', async () => {
    let apiCalls = 0;
    const refusing: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : input);
      if (!url.pathname.includes('oauth')) {
        apiCalls++;
        return new Response(
          '{"error":"The access token being passed has expired or is invalid."}',
          {
            status: 401,
            headers: { 'content-type': 'application/json' },
          },
        );
      }
      return fetch(input, init);
    };
    const { manager, sandbox } = await start('tdameritrade', { fetch: refusing });
    const err = await manager.getAccounts().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenExpiredError);
    expect(apiCalls).toBe(2);
    expect(sandbox.counters().token.refresh_token).toBe(1);
  });

  /** A fetch that answers API calls itself (401 to the first, 200 after) and records their bodies. */
  function recordingApi(): { fetch: typeof fetch; bodies: string[] } {
    const bodies: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : input);
      if (url.pathname.includes('oauth')) return fetch(input, init);
      // Reading the body consumes it, as sending it does.
      bodies.push(await new Response(init?.body ?? null).text());
      return bodies.length === 1
        ? new Response('{"error":"The access token being passed has expired or is invalid."}', {
            status: 401,
            headers: { 'content-type': 'application/json' },
          })
        : new Response('{"ok":true}', {
            status: 200,
            headers: { 'content-type': 'application/json' },
          });
    };
    return { fetch: recording, bodies };
  }

  const resendable: Array<[string, () => RequestInit['body']]> = [
    ['a string', () => '{"order":1}'],
    ['bytes', () => new TextEncoder().encode('{"order":1}')],
    ['a Blob', () => new Blob(['{"order":1}'])],
    ['URLSearchParams', () => new URLSearchParams({ order: '1' })],
  ];
  for (const [what, body] of resendable) {
    it(`resends a body given as ${what} after a 401`, async () => {
      const api = recordingApi();
      const { manager, sandbox } = await start('schwab', { fetch: api.fetch });
      const response = await manager.fetch('/trader/v1/orders', { method: 'POST', body: body() });
      expect(response.status).toBe(200);
      expect(api.bodies).toHaveLength(2);
      expect(api.bodies[1]).toBe(api.bodies[0]);
      expect(api.bodies[0]).toMatch(/order/);
      expect(sandbox.counters().token.refresh_token).toBe(1);
    });
  }

  const streamed: Array<[string, () => RequestInit['body']]> = [
    [
      'a ReadableStream',
      () =>
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"order":1}'));
            controller.close();
          },
        }),
    ],
    [
      'an async iterable',
      () =>
        (async function* () {
          yield new TextEncoder().encode('{"order":1}');
        })() as unknown as RequestInit['body'],
    ],
  ];
  for (const [what, body] of streamed) {
    it(`does not resend ${what} after a 401: refreshes, then throws token_expired saying why`, async () => {
      const api = recordingApi();
      const { manager, sandbox, login, store } = await start('schwab', { fetch: api.fetch });
      const err = await manager
        .fetch('/trader/v1/orders', {
          method: 'POST',
          body: body(),
          duplex: 'half',
        } as RequestInit)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TokenExpiredError);
      expect((err as TokenExpiredError).status).toBe(401);
      expect((err as Error).message).toMatch(/not sent again because its body is a stream/);
      expect((err as Error).message).toMatch(/send the request again/);
      expect(api.bodies).toEqual(['{"order":1}']);
      // The token was refreshed, so the caller's next request goes out with a fresh one.
      expect(sandbox.counters().token.refresh_token).toBe(1);
      expect((await store.load())!.access_token).not.toBe(login.access_token);
    });
  }

  it('turns a 403 into ForbiddenError without refreshing', async () => {
    const forbidding: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : input);
      if (!url.pathname.includes('oauth')) return new Response('Forbidden', { status: 403 });
      return fetch(input, init);
    };
    const { manager, sandbox } = await start('schwab', { fetch: forbidding });
    const err = await manager.getQuotes(['AAPL']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForbiddenError);
    expect((err as ForbiddenError).status).toBe(403);
    expect(sandbox.counters().token.total).toBe(0);
  });

  it('never sends the token over plain HTTP to a host that is not loopback', async () => {
    const { manager } = await start('schwab');
    await expect(manager.fetch('http://example.com/v1/accounts')).rejects.toMatchObject({
      code: 'invalid_config',
    });
  });

  for (const flavor of ['tdameritrade', 'schwab'] as const) {
    it(`gets accounts and quotes from the ${flavor} sandbox`, async () => {
      const { manager, sandbox } = await start(flavor);
      const accounts = await manager.getAccounts();
      expect(Array.isArray(accounts)).toBe(true);
      expect((accounts as unknown[]).length).toBeGreaterThan(0);
      const quotes = (await manager.getQuotes(['AAPL', 'MSFT'])) as Record<string, unknown>;
      expect(Object.keys(quotes).sort()).toEqual(['AAPL', 'MSFT']);
      expect(sandbox.counters().api).toBe(2);
    });
  }
});
