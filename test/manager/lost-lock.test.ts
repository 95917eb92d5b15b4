/**
 * A TD renewal that succeeds after this process lost its lock: the provider has issued a new
 * refresh token and retired the old one, so throwing the new one away would force a browser
 * login. It is saved when the store still holds the refresh token the renewal started from (the
 * store's compare-and-set), and the newer stored record is kept otherwise. Run on real file,
 * SQLite and Redis stores.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RefreshEvent, TokenManager } from '../../src/manager.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { startSandbox } from '../../src/sandbox/index.js';
import type { StoreKind, StoreLock, TokenStore } from '../../src/stores/types.js';
import type { TokenRecord } from '../../src/token.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type Backing, makeBacking } from '../stores/support.js';
import { advanceTo, DAY, sandboxLogin, sandboxProvider } from './setup.js';

let redis: RedisServer | undefined;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

interface World {
  sandbox: Sandbox;
  backing: Backing;
  store: TokenStore;
  thief: TokenStore;
  manager: TokenManager;
  login: TokenRecord;
  refreshes: RefreshEvent[];
  /** The lock the thief took over; released in the clean-up. */
  stolen: StoreLock | undefined;
}

let world: World | undefined;

afterEach(async () => {
  await world?.stolen?.release();
  await world?.manager.close();
  await world?.backing.dispose();
  await world?.sandbox.close();
  world = undefined;
});

/**
 * A TD login in a `kind` store, the clock inside the renewal window, and a store whose lock is
 * taken over by another holder (the thief) right before the manager saves through it.
 */
async function start(
  kind: StoreKind,
  whileLost?: (thiefLock: StoreLock, w: World) => Promise<void>,
): Promise<World> {
  const sandbox = await startSandbox({
    flavor: 'tdameritrade',
    settings: { rateLimitPerMinute: 0 },
  });
  const backing = await makeBacking(kind, redis?.url);
  const store = await backing.open();
  const thief = await backing.open();
  const provider = sandboxProvider(sandbox, 'tdameritrade');
  const manager = new TokenManager(provider, store, { now: sandbox.clock.now, retry: false });
  const login = await sandboxLogin(sandbox, provider);
  await manager.saveLogin(login);
  const w: World = {
    sandbox,
    backing,
    store,
    thief,
    manager,
    login,
    refreshes: [],
    stolen: undefined,
  };
  world = w;
  manager.on('refresh', (e) => w.refreshes.push(e));

  const lock = store.lock.bind(store);
  store.lock = async (options) => {
    const held = await lock(options);
    return {
      async save(record) {
        // The lock is lost (it expired while the request was out) and another holder takes it.
        await held.release();
        w.stolen = await thief.lock({ ttlMs: 60_000, waitMs: 10_000 });
        await whileLost?.(w.stolen, w);
        return held.save(record);
      },
      release: () => held.release(),
    };
  };
  // Fewer than 7 days of the refresh token left: the next refresh renews it.
  advanceTo(sandbox, login.refresh_token_expires_at - 3 * DAY);
  sandbox.resetCounters();
  return w;
}

describe.each(['file', 'sqlite', 'redis'] as const)(
  'a TD renewal after the lock was lost (%s store)',
  (kind) => {
    it('is saved while the store still holds the refresh token it started from', async () => {
      const w = await start(kind);
      const token = await w.manager.getAccessToken();
      const stored = (await w.thief.load())!;
      expect(stored.access_token).toBe(token);
      expect(stored.refresh_token).not.toBe(w.login.refresh_token);
      expect(stored.refresh_token_expires_at).toBeGreaterThan(w.sandbox.clock.now() + 89 * DAY);
      expect(w.refreshes).toEqual([{ expiresAt: stored.expires_at, refreshTokenRenewed: true }]);
      expect(w.sandbox.counters().token.refresh_token).toBe(1);

      // The saved refresh token is the one that works now (the sandbox retired the old one).
      await w.stolen?.release();
      w.stolen = undefined;
      const other = new TokenManager(sandboxProvider(w.sandbox, 'tdameritrade'), w.thief, {
        now: w.sandbox.clock.now,
        retry: false,
      });
      advanceTo(w.sandbox, stored.expires_at);
      const next = await other.refresh({ force: true });
      expect(next.access_token).not.toBe(token);
      expect(w.sandbox.counters().token.ok).toBe(2);
    });

    it('is not saved over a newer record the new holder saved meanwhile', async () => {
      const newer: TokenRecord[] = [];
      const w = await start(kind, async (thiefLock, w) => {
        const record = {
          ...w.login,
          access_token: 'access-token-of-the-new-holder',
          refresh_token: 'refresh-token-of-the-new-holder',
          expires_at: w.sandbox.clock.now() + 30 * 60_000,
        };
        await thiefLock.save(record);
        newer.push(record);
      });
      const token = await w.manager.getAccessToken();
      // The caller still gets the valid token it fetched ...
      expect(token).not.toBe(w.login.access_token);
      expect(token).not.toBe(newer[0]!.access_token);
      // ... but the store keeps the newer record, and no refresh is announced as saved.
      expect(await w.thief.load()).toEqual(newer[0]);
      expect(w.refreshes).toEqual([]);
    });

    it('is not saved by a refresh that renewed nothing (the stored refresh token still works)', async () => {
      const w = await start(kind);
      const before = (await w.thief.load())!;
      // Renewing only in the last 0 days: this refresh renews nothing.
      const manager = new TokenManager(sandboxProvider(w.sandbox, 'tdameritrade'), w.store, {
        now: w.sandbox.clock.now,
        retry: false,
        renewWithinDays: 0,
      });
      const token = await manager.getAccessToken();
      expect(token).not.toBe(before.access_token);
      expect(await w.thief.load()).toEqual(before);
    });
  },
);
