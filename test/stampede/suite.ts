/**
 * The stampede suite, run once per shared store: many real processes ask for a token the moment
 * it expires, and a lock holder dies in the middle of a refresh.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { createStore, type StoreSpec, type TokenStore } from '../../src/stores/index.js';
import type { TokenRecord } from '../../src/token.js';
import { advanceTo, sandboxLogin, sandboxProvider } from '../manager/setup.js';
import { askAll, type Child, startFleet, stopFleet, tokenHash } from './harness.js';

export interface SuiteOptions {
  flavor: 'tdameritrade' | 'schwab';
  /** How many processes stampede (32 unless told). */
  processes?: number;
  /** How many expiries in a row. */
  rounds?: number;
  /** Make the shared store's spec; `cleanup` removes what it made. */
  open(): Promise<{ spec: StoreSpec; cleanup(): Promise<void> }>;
}

export function stampedeSuite(name: string, options: SuiteOptions): void {
  const processes = options.processes ?? 32;
  const rounds = options.rounds ?? 3;

  describe(`stampede on the ${name} store (${options.flavor})`, () => {
    let sandbox: Sandbox | undefined;
    let store: TokenStore | undefined;
    let spec: StoreSpec;
    let cleanup: (() => Promise<void>) | undefined;
    let login: TokenRecord;
    const fleets: Child[][] = [];
    let fleet: Child[] = [];

    beforeAll(async () => {
      sandbox = await startSandbox({ flavor: options.flavor, settings: { rateLimitPerMinute: 0 } });
      const opened = await options.open();
      spec = opened.spec;
      cleanup = opened.cleanup;
      store = await createStore(spec);
      login = await sandboxLogin(sandbox, sandboxProvider(sandbox, options.flavor));
      await store.save(login);
      fleet = await startFleet(processes, { sandbox, flavor: options.flavor, store: spec });
      fleets.push(fleet);
    }, 180_000);

    afterAll(async () => {
      for (const f of fleets) await stopFleet(f);
      await store?.close();
      await sandbox?.close();
      await cleanup?.();
    });

    it(`${processes} processes asking the moment the token expires share one refresh, ${rounds} expiries in a row`, async () => {
      const s = sandbox!;
      // Every process first reads the fresh login (and caches it): no refresh.
      s.resetCounters();
      const primed = await askAll(fleet, s);
      expect(primed.filter((a) => a.error !== undefined)).toEqual([]);
      expect(new Set(primed.map((a) => a.token))).toEqual(new Set([tokenHash(login.access_token)]));
      expect(s.counters().token.total).toBe(0);

      let previous = login;
      for (let round = 1; round <= rounds; round++) {
        advanceTo(s, previous.expires_at);
        s.resetCounters();
        const answers = await askAll(fleet, s);
        expect(answers.filter((a) => a.error !== undefined)).toEqual([]);
        const tokens = new Set(answers.map((a) => a.token));
        expect(tokens.size).toBe(1);
        const stored = (await store!.load())!;
        expect(tokens).toEqual(new Set([tokenHash(stored.access_token)]));
        expect(stored.access_token).not.toBe(previous.access_token);
        expect(stored.refresh_token).toBe(login.refresh_token);
        expect(s.counters().token.refresh_token).toBe(1);
        expect(s.counters().token.total).toBe(1);
        previous = stored;
      }
    }, 180_000);

    it('a lock holder killed mid-refresh is taken over once its lock expires, and no refresh token is lost', async () => {
      const s = sandbox!;
      const [holder] = await startFleet(1, {
        sandbox: s,
        flavor: options.flavor,
        store: spec,
        manager: { lockTtlMs: 1500 },
      });
      fleets.push([holder!]);
      const takers = fleet.slice(0, 4);
      const before = (await store!.load())!;
      advanceTo(s, before.expires_at);
      s.resetCounters();
      // The holder's refresh request hangs in the token endpoint; kill it while it waits.
      s.faults.inject({ kind: 'delay', ms: 3000 });
      const abandoned = holder!.ask(-1, s.clock.now() - Date.now()).catch(() => undefined);
      for (let i = 0; i < 400 && s.faults.pending() > 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(s.faults.pending()).toBe(0);
      holder!.process.kill('SIGKILL');
      await holder!.exited;
      await abandoned;
      // The store still holds the record from before, lock and all.
      expect(await store!.load()).toEqual(before);

      const answers = await askAll(takers, s);
      expect(answers.filter((a) => a.error !== undefined)).toEqual([]);
      const tokens = new Set(answers.map((a) => a.token));
      expect(tokens.size).toBe(1);
      const stored = (await store!.load())!;
      expect(tokens).toEqual(new Set([tokenHash(stored.access_token)]));
      expect(stored.access_token).not.toBe(before.access_token);
      // One request from the dead holder, one from whoever took over.
      expect(s.counters().token.refresh_token).toBe(2);
      expect(stored.refresh_token).toBe(before.refresh_token);

      // The refresh token still works at the next expiry.
      advanceTo(s, stored.expires_at);
      const next = await askAll(takers, s);
      expect(next.filter((a) => a.error !== undefined)).toEqual([]);
      const after = (await store!.load())!;
      expect(new Set(next.map((a) => a.token))).toEqual(new Set([tokenHash(after.access_token)]));
      expect(after.access_token).not.toBe(stored.access_token);
    }, 120_000);
  });
}
