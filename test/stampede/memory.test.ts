import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenManager } from '../../src/manager.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { createStore, type TokenStore } from '../../src/stores/index.js';
import type { TokenRecord } from '../../src/token.js';
import { advanceTo, sandboxLogin, sandboxProvider } from '../manager/setup.js';

// The memory store lives in one process: its stampede is many managers and callers in one.
describe('stampede on the memory store', () => {
  let sandbox: Sandbox;
  let store: TokenStore;
  let login: TokenRecord;
  let managers: TokenManager[];

  beforeAll(async () => {
    sandbox = await startSandbox({ flavor: 'tdameritrade', settings: { rateLimitPerMinute: 0 } });
    const provider = sandboxProvider(sandbox, 'tdameritrade');
    store = await createStore({ kind: 'memory' });
    login = await sandboxLogin(sandbox, provider);
    await store.save(login);
    managers = Array.from(
      { length: 32 },
      () => new TokenManager(provider, store, { now: sandbox.clock.now, retry: false }),
    );
  });

  afterAll(async () => {
    await store?.close();
    await sandbox?.close();
  });

  it('32 managers with 8 callers each share one refresh, 3 expiries in a row', async () => {
    let previous = login;
    for (let round = 1; round <= 3; round++) {
      advanceTo(sandbox, previous.expires_at);
      sandbox.resetCounters();
      // A slow token endpoint keeps the refresh in flight while everyone else arrives.
      sandbox.faults.inject({ kind: 'delay', ms: 100 });
      const tokens = await Promise.all(
        managers.flatMap((m) => Array.from({ length: 8 }, () => m.getAccessToken())),
      );
      const stored = (await store.load())!;
      expect(new Set(tokens)).toEqual(new Set([stored.access_token]));
      expect(stored.access_token).not.toBe(previous.access_token);
      expect(sandbox.counters().token.refresh_token).toBe(1);
      previous = stored;
    }
  });
});
