/**
 * The stampede suite, run once per shared store: many real processes ask for a token the moment
 * it expires while the token endpoint is slow, so that they overlap; and a lock holder dies in
 * the middle of a refresh, its lock taken over by its dead pid (file, SQLite) or by its expiry
 * (every store), including a TD holder killed inside the refresh token's renewal window.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { createStore, type StoreSpec, type TokenStore } from '../../src/stores/index.js';
import type { TokenRecord } from '../../src/token.js';
import { advanceTo, DAY, sandboxLogin, sandboxProvider } from '../manager/setup.js';
import { type Answer, askAll, type Child, startFleet, stopFleet, tokenHash } from './harness.js';

export interface SuiteOptions {
  flavor: 'tdameritrade' | 'schwab';
  /** How many processes stampede (32 unless told). */
  processes?: number;
  /** How many expiries in a row. */
  rounds?: number;
  /** Make the shared store's spec; `cleanup` removes what it made. */
  open(): Promise<{ spec: StoreSpec; cleanup(): Promise<void> }>;
  /**
   * Stores that trust a dead pid (file, SQLite): make the current lock holder look like one from
   * another host identity (a container with its own pid namespace sharing the store), whose
   * lock only its expiry frees. Stores without it (Redis) are always waited out.
   */
  disguiseLockHolder?(spec: StoreSpec): Promise<void>;
}

/** How long the token endpoint takes to answer during a stampede, ms. */
const ENDPOINT_DELAY_MS = 200;
/** A holder's lock ttl when its takeover must come from its dead pid, long before its expiry. */
const LONG_TTL_MS = 15_000;
/** ... and when it must come from its expiry. */
const SHORT_TTL_MS = 1500;

function errorsOf(answers: readonly Answer[]): Answer[] {
  return answers.filter((a) => a.error !== undefined);
}

function earliest(answers: readonly Answer[]): number {
  return Math.min(...answers.map((a) => a.finishedAt ?? Number.NaN));
}

function latest(answers: readonly Answer[]): number {
  return Math.max(...answers.map((a) => a.finishedAt ?? Number.NaN));
}

export function stampedeSuite(name: string, options: SuiteOptions): void {
  const processes = options.processes ?? 32;
  const rounds = options.rounds ?? 3;
  const byDeadPid = options.disguiseLockHolder !== undefined;

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

    it(`${processes} processes asking the moment the token expires share one refresh, waiting for it, ${rounds} expiries in a row`, async () => {
      const s = sandbox!;
      // Every process first reads the fresh login (and caches it): no refresh.
      s.resetCounters();
      const primed = await askAll(fleet, s);
      expect(errorsOf(primed)).toEqual([]);
      expect(new Set(primed.map((a) => a.token))).toEqual(new Set([tokenHash(login.access_token)]));
      expect(s.counters().token.total).toBe(0);

      let previous = login;
      for (let round = 1; round <= rounds; round++) {
        advanceTo(s, previous.expires_at);
        s.resetCounters();
        // A slow token endpoint keeps the refresh in flight while the others arrive.
        s.faults.inject({ kind: 'delay', ms: ENDPOINT_DELAY_MS });
        const answers = await askAll(fleet, s);
        expect(errorsOf(answers)).toEqual([]);
        const tokens = new Set(answers.map((a) => a.token));
        expect(tokens.size).toBe(1);
        const stored = (await store!.load())!;
        expect(tokens).toEqual(new Set([tokenHash(stored.access_token)]));
        expect(stored.access_token).not.toBe(previous.access_token);
        expect(stored.refresh_token).toBe(login.refresh_token);
        expect(s.counters().token.refresh_token).toBe(1);
        expect(s.counters().token.total).toBe(1);

        // Exactly one process refreshed; the others picked up its token from the store ...
        const refreshers = answers.filter((a) => a.refreshed);
        expect(refreshers).toHaveLength(1);
        const refresher = refreshers[0]!;
        expect(refresher.ms).toBeGreaterThanOrEqual(ENDPOINT_DELAY_MS - 20);
        // ... and many of them had asked while its refresh was still in flight: they waited for
        // it instead of refreshing themselves.
        const waited = answers.filter(
          (a) => !a.refreshed && a.startedAt! < refresher.finishedAt! - ENDPOINT_DELAY_MS / 2,
        );
        expect(waited.length).toBeGreaterThanOrEqual(Math.floor(processes / 4));
        previous = stored;
      }
    }, 180_000);

    const variants: Array<{ how: string; ttlMs: number; disguise: boolean }> = byDeadPid
      ? [
          { how: 'at once, its pid being dead,', ttlMs: LONG_TTL_MS, disguise: false },
          {
            how: 'only once its lock expires, its host identity being another,',
            ttlMs: SHORT_TTL_MS,
            disguise: true,
          },
        ]
      : [{ how: 'once its lock expires', ttlMs: SHORT_TTL_MS, disguise: false }];

    for (const variant of variants) {
      it(`a lock holder killed mid-refresh is taken over ${variant.how} and no refresh token is lost`, async () => {
        const s = sandbox!;
        const [holder] = await startFleet(1, {
          sandbox: s,
          flavor: options.flavor,
          store: spec,
          manager: { lockTtlMs: variant.ttlMs },
        });
        fleets.push([holder!]);
        const takers = fleet.slice(0, 4);
        const before = (await store!.load())!;
        advanceTo(s, before.expires_at);
        s.resetCounters();
        // The holder's refresh request hangs in the token endpoint; kill it while it waits.
        s.faults.inject({ kind: 'delay', ms: 3000 });
        const askedAt = Date.now();
        const abandoned = holder!.ask(-1, s.clock.now() - Date.now()).catch(() => undefined);
        for (let i = 0; i < 400 && s.faults.pending() > 0; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(s.faults.pending()).toBe(0);
        // It holds the lock now (its request reached the endpoint), taken no later than this.
        const lockedBy = Date.now();
        if (variant.disguise) await options.disguiseLockHolder!(spec);
        holder!.process.kill('SIGKILL');
        await holder!.exited;
        await abandoned;
        // The store still holds the record from before, lock and all.
        expect(await store!.load()).toEqual(before);

        const answers = await askAll(takers, s);
        expect(errorsOf(answers)).toEqual([]);
        const tokens = new Set(answers.map((a) => a.token));
        expect(tokens.size).toBe(1);
        const stored = (await store!.load())!;
        expect(tokens).toEqual(new Set([tokenHash(stored.access_token)]));
        expect(stored.access_token).not.toBe(before.access_token);
        expect(answers.filter((a) => a.refreshed)).toHaveLength(1);
        if (variant.ttlMs === LONG_TTL_MS) {
          // Taken over by the dead pid, long before the lock would have expired.
          expect(latest(answers)).toBeLessThan(lockedBy + variant.ttlMs);
        } else {
          // Not before the lock expired (it was taken after the ask was sent).
          expect(earliest(answers)).toBeGreaterThanOrEqual(askedAt + variant.ttlMs);
        }
        // One request from the dead holder, one from whoever took over.
        expect(s.counters().token.refresh_token).toBe(2);
        expect(stored.refresh_token).toBe(before.refresh_token);

        // The refresh token still works at the next expiry.
        advanceTo(s, stored.expires_at);
        const next = await askAll(takers, s);
        expect(errorsOf(next)).toEqual([]);
        const after = (await store!.load())!;
        expect(new Set(next.map((a) => a.token))).toEqual(new Set([tokenHash(after.access_token)]));
        expect(after.access_token).not.toBe(stored.access_token);
      }, 120_000);
    }
  });

  describe(`a TD holder killed in the renewal window, before its request left it, on the ${name} store`, () => {
    let sandbox: Sandbox | undefined;
    let store: TokenStore | undefined;
    let cleanup: (() => Promise<void>) | undefined;
    const fleets: Child[][] = [];

    afterAll(async () => {
      for (const f of fleets) await stopFleet(f);
      await store?.close();
      await sandbox?.close();
      await cleanup?.();
    });

    it(`is taken over ${byDeadPid ? 'at once (its pid is dead)' : 'once its lock expires'}; one renewal, and the renewed refresh token works`, async () => {
      sandbox = await startSandbox({
        flavor: 'tdameritrade',
        settings: { rateLimitPerMinute: 0 },
      });
      const s = sandbox;
      const opened = await options.open();
      cleanup = opened.cleanup;
      const spec = opened.spec;
      store = await createStore(spec);
      const login = await sandboxLogin(s, sandboxProvider(s, 'tdameritrade'));
      await store.save(login);
      const ttlMs = byDeadPid ? LONG_TTL_MS : SHORT_TTL_MS;
      const [holder] = await startFleet(1, {
        sandbox: s,
        flavor: 'tdameritrade',
        store: spec,
        manager: { lockTtlMs: ttlMs },
        stallTokenRequests: true,
      });
      fleets.push([holder!]);
      const takers = await startFleet(4, { sandbox: s, flavor: 'tdameritrade', store: spec });
      fleets.push(takers);

      // Three days of the refresh token left: the next refresh renews it (access_type=offline).
      advanceTo(s, login.refresh_token_expires_at - 3 * DAY);
      s.resetCounters();
      const abandoned = holder!.ask(-1, s.clock.now() - Date.now()).catch(() => undefined);
      await holder!.stalled;
      const lockedBy = Date.now();
      holder!.process.kill('SIGKILL');
      await holder!.exited;
      await abandoned;
      expect(s.counters().token.total).toBe(0);
      expect(await store.load()).toEqual(login);

      const answers = await askAll(takers, s);
      expect(errorsOf(answers)).toEqual([]);
      const renewed = (await store.load())!;
      expect(new Set(answers.map((a) => a.token))).toEqual(
        new Set([tokenHash(renewed.access_token)]),
      );
      if (byDeadPid) expect(latest(answers)).toBeLessThan(lockedBy + ttlMs);
      // Exactly one renewal: one request, by one process, and a new 90-day refresh token.
      expect(s.counters().token.refresh_token).toBe(1);
      expect(answers.filter((a) => a.refreshed)).toHaveLength(1);
      expect(answers.filter((a) => a.renewed)).toHaveLength(1);
      expect(renewed.refresh_token).not.toBe(login.refresh_token);
      expect(renewed.refresh_token_expires_at).toBeGreaterThan(s.clock.now() + 89 * DAY);

      // The stored refresh token works (the sandbox retired the old one on renewal).
      advanceTo(s, renewed.expires_at);
      const next = await askAll(takers, s);
      expect(errorsOf(next)).toEqual([]);
      const after = (await store.load())!;
      expect(new Set(next.map((a) => a.token))).toEqual(new Set([tokenHash(after.access_token)]));
      expect(after.access_token).not.toBe(renewed.access_token);
      expect(after.refresh_token).toBe(renewed.refresh_token);
      expect(s.counters().token.refresh_token).toBe(2);
      expect(s.counters().token.ok).toBe(2);
    }, 180_000);
  });
}
