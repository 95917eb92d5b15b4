/**
 * A manager waiting for another process's refresh on a Redis store is woken by the store's
 * announcements (`onChange`), not only by its timers: a release sends it to the lock at once,
 * where its back-off alone would wait up to half a second.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TokenManager } from '../../src/manager.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import type { TokenRecord } from '../../src/token.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { advanceTo, sandboxLogin, sandboxProvider } from './setup.js';

let redis: RedisServer;
let sandbox: Sandbox;
let login: TokenRecord;
const opened: RedisStore[] = [];
let profile = 0;

beforeAll(async () => {
  redis = await startRedis();
  sandbox = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await sandbox?.close();
  await redis?.stop();
});

async function pair(): Promise<{ store: RedisStore; other: RedisStore }> {
  const name = `wake-${++profile}`;
  const store = await RedisStore.open(redis.url, name);
  const other = await RedisStore.open(redis.url, name);
  opened.push(store, other);
  // A fresh login each time: the sandbox clock only moves forward.
  login = await sandboxLogin(sandbox, sandboxProvider(sandbox, 'schwab'));
  await other.save(login);
  sandbox.resetCounters();
  return { store, other };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a manager waiting on a redis store', () => {
  it('takes the lock as soon as the holder releases it without saving', async () => {
    const { store, other } = await pair();
    let requestedAt = 0;
    const timing: typeof fetch = (input, init) => {
      requestedAt ||= Date.now();
      return fetch(input, init);
    };
    const manager = new TokenManager(sandboxProvider(sandbox, 'schwab'), store, {
      now: sandbox.clock.now,
      retry: false,
      fetch: timing,
    });
    expect(await manager.getAccessToken()).toBe(login.access_token);
    advanceTo(sandbox, login.expires_at + 1000);
    sandbox.resetCounters();

    // Another process holds the lock (its refresh will fail), long enough for the waiter's
    // lock attempts to back off to one every 500 ms.
    const held = await other.lock({ ttlMs: 60_000 });
    const waiting = manager.getAccessToken();
    await sleep(1300);
    expect(requestedAt).toBe(0);
    const releasedAt = Date.now();
    await held.release();
    const token = await waiting;
    expect(token).not.toBe(login.access_token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    // Woken by the release message: its back-off alone would have waited ~450 ms more.
    expect(requestedAt - releasedAt).toBeLessThan(200);
  });

  it("listens only while it waits, and uses the holder's saved token", async () => {
    const { store, other } = await pair();
    let listened = 0;
    let removed = 0;
    const onChange = store.onChange.bind(store);
    store.onChange = (listener) => {
      listened++;
      const remove = onChange(listener);
      return () => {
        removed++;
        remove();
      };
    };
    const manager = new TokenManager(sandboxProvider(sandbox, 'schwab'), store, {
      now: sandbox.clock.now,
      retry: false,
    });
    expect(await manager.getAccessToken()).toBe(login.access_token);
    advanceTo(sandbox, login.expires_at + 1000);
    const held = await other.lock({ ttlMs: 60_000 });
    const waiting = manager.getAccessToken();
    await sleep(300);
    const refreshed = {
      ...login,
      access_token: 'saved-by-the-holder',
      expires_at: login.expires_at + 1_800_000,
    };
    await held.save(refreshed);
    expect(await waiting).toBe('saved-by-the-holder');
    await held.release();
    expect([listened, removed]).toEqual([1, 1]);
    expect(sandbox.counters().token.refresh_token).toBe(0);
  });
});
