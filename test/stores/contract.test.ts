/**
 * The TokenStore contract, run against every registered store driver (src/stores/registry.ts):
 * the same suite for memory, file, SQLite and Redis (a real redis-server started here), and for
 * any store registered later. Cross-process parts use real child processes on the built library
 * (dist/).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isTdTokenError } from '../../src/errors.js';
import { STORE_DRIVERS } from '../../src/stores/registry.js';
import type { StoreKind, TokenStore } from '../../src/stores/types.js';
import { stopAll } from '../helpers/processes.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { rejection } from '../helpers/rejection.js';
import {
  assertBuilt,
  type Backing,
  childAnswer,
  eventually,
  makeBacking,
  makeRecord,
  runChild,
  spawnChild,
} from './support.js';

let redis: RedisServer | undefined;

beforeAll(async () => {
  assertBuilt();
  redis = await startRedis();
});

afterAll(async () => {
  await stopAll();
  await redis?.stop();
});

/** Every registered kind: registering a store is what puts it through this suite. */
const KINDS: StoreKind[] = STORE_DRIVERS.map((driver) => driver.kind);

it('runs over every registered driver, the four built-in ones among them', () => {
  expect(KINDS).toEqual(expect.arrayContaining(['memory', 'file', 'sqlite', 'redis']));
  expect(new Set(KINDS).size).toBe(KINDS.length);
});

describe.each(KINDS)('%s store: the TokenStore contract', (kind) => {
  let backing: Backing;
  let store: TokenStore;

  beforeEach(async () => {
    backing = await makeBacking(kind, redis?.url);
    store = await backing.open();
  });

  afterEach(async () => {
    await stopAll();
    await backing.dispose();
  });

  it('has its kind, and a location without secrets', () => {
    expect(store.kind).toBe(kind);
    expect(typeof store.location).toBe('string');
    expect(store.location.length).toBeGreaterThan(0);
  });

  it('loads nothing before the first save', async () => {
    expect(await store.load()).toBeUndefined();
  });

  it('round-trips a record through save, load and clear', async () => {
    const first = makeRecord();
    await store.save(first);
    expect(await store.load()).toEqual(first);

    const second = makeRecord({ refresh_token_issued_at: Date.now() });
    await store.save(second);
    expect(await store.load()).toEqual(second);

    const other = await backing.open();
    expect(await other.load()).toEqual(second);

    await store.clear();
    expect(await store.load()).toBeUndefined();
    await store.clear();
    expect(await store.load()).toBeUndefined();
  });

  it('keeps its own copy: changing a loaded or saved object changes nothing stored', async () => {
    const record = makeRecord();
    await store.save(record);
    const savedToken = record.access_token;
    record.access_token = 'changed-after-save';
    const loaded = await store.load();
    expect(loaded?.access_token).toBe(savedToken);
    if (loaded) loaded.access_token = 'changed-after-load';
    expect((await store.load())?.access_token).toBe(savedToken);
  });

  it('refuses to save something that is not a token record', async () => {
    const bad = { ...makeRecord(), expires_at: 'soon' } as unknown as ReturnType<typeof makeRecord>;
    const error = await rejection(store.save(bad));
    expect(isTdTokenError(error, 'invalid_token_file')).toBe(true);
    expect(await store.load()).toBeUndefined();
  });

  it('moves its revision when another writer saves, and only then', async () => {
    const writer = await backing.open();
    await store.save(makeRecord());
    await store.load();
    const before = store.revision();
    expect(before).not.toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(store.revision()).toBe(before);

    const newer = makeRecord({ issued_at: 7 });
    await writer.save(newer);
    await eventually(() => store.revision() !== before);
    expect(await store.load()).toEqual(newer);
  });

  it('rejects bad lock options with a TypeError naming the option', async () => {
    await expect(store.lock({ waitMs: -1 })).rejects.toThrow(
      new TypeError('"options.waitMs" must be a non-negative number'),
    );
    await expect(store.lock({ ttlMs: 0 })).rejects.toThrow(
      new TypeError('"options.ttlMs" must be a positive number'),
    );
  });

  it('lets one holder at a time take the lock, and saves through it', async () => {
    const lock = await store.lock({ ttlMs: 10_000 });
    const error = await rejection(store.lock({ waitMs: 30 }));
    expect(isTdTokenError(error, 'lock_timeout')).toBe(true);
    expect((error as Error).message).toContain(store.location);

    const record = makeRecord();
    await lock.save(record);
    expect(await store.load()).toEqual(record);

    const waiting = store.lock({ waitMs: 5000 });
    await lock.release();
    const next = await waiting;
    await next.release();
    await lock.release(); // harmless twice
  });

  it('stops waiting when the signal aborts', async () => {
    const lock = await store.lock({ ttlMs: 10_000 });
    const controller = new AbortController();
    const waiting = store.lock({ waitMs: 10_000, signal: controller.signal });
    controller.abort(new Error('stop waiting'));
    await expect(waiting).rejects.toThrow('stop waiting');
    await lock.release();
  });

  it('fences: a holder whose lock expired and was taken over cannot overwrite the newer token', async () => {
    const other = await backing.open();
    const stale = await store.lock({ ttlMs: 150 });
    const started = Date.now();
    const fresh = await other.lock({ waitMs: 10_000, ttlMs: 10_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);

    const newer = makeRecord({ issued_at: 2 });
    await fresh.save(newer);

    const error = await rejection(stale.save(makeRecord({ issued_at: 1 })));
    expect(isTdTokenError(error, 'lock_timeout')).toBe(true);
    expect((error as Error).message).toMatch(/lost/);
    expect(await other.load()).toEqual(newer);

    // The old holder's release must not free the new holder's lock.
    await stale.release();
    const third = await rejection(store.lock({ waitMs: 30 }));
    expect(isTdTokenError(third, 'lock_timeout')).toBe(true);
    await fresh.release();
  });

  it('compareAndSave saves only while the stored refresh token is the expected one', async () => {
    expect(typeof store.compareAndSave).toBe('function');
    const first = makeRecord();
    expect(await store.compareAndSave!(first.refresh_token, makeRecord())).toBe(false);
    expect(await store.load()).toBeUndefined();

    await store.save(first);
    const renewed = makeRecord({ issued_at: 1 });
    expect(await store.compareAndSave!(first.refresh_token, renewed)).toBe(true);
    expect(await store.load()).toEqual(renewed);
    expect(await (await backing.open()).load()).toEqual(renewed);

    // The store now holds a newer refresh token: a save expecting the old one keeps it.
    expect(await store.compareAndSave!(first.refresh_token, makeRecord({ issued_at: 2 }))).toBe(
      false,
    );
    expect(await store.load()).toEqual(renewed);
  });

  it('compareAndSave needs no lock, and lets exactly one of many racing writers win', async () => {
    const first = makeRecord();
    await store.save(first);
    const held = await (await backing.open()).lock({ ttlMs: 10_000 });
    const writers = await Promise.all(Array.from({ length: 6 }, () => backing.open()));
    const candidates = writers.map((_, i) => makeRecord({ issued_at: 10 + i }));
    const results = await Promise.all(
      writers.map((w, i) => w.compareAndSave!(first.refresh_token, candidates[i]!)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.load()).toEqual(candidates[results.indexOf(true)]);
    await held.release();
  });

  // Skipped for memory: it keeps no stored text to corrupt and is never shared between processes.
  it.skipIf(kind === 'memory')(
    'names the source in invalid_token_file for corrupt, truncated and hand-edited records',
    async () => {
      const good = JSON.stringify(makeRecord(), null, 2);
      const cases = [
        good.slice(0, Math.floor(good.length / 2)), // truncated
        '', // emptied
        'not json at all',
        JSON.stringify({ ...makeRecord(), expires_at: 'tomorrow' }), // hand-edited
        JSON.stringify({ ...makeRecord(), refresh_token: undefined }),
        '[]',
      ];
      for (const text of cases) {
        await backing.writeRaw?.(text);
        const error = await rejection(store.load());
        expect(isTdTokenError(error, 'invalid_token_file'), `for ${JSON.stringify(text)}`).toBe(
          true,
        );
        expect((error as Error).message).toContain(store.location);
        expect((error as Error).message).toMatch(/td-token login/);
      }
    },
  );

  // Skipped for memory: it keeps no stored text to corrupt and is never shared between processes.
  it.skipIf(kind === 'memory')('notices a save by another process through revision()', async () => {
    await store.save(makeRecord());
    await store.load();
    const before = store.revision();
    const newer = makeRecord({ issued_at: 42 });
    const result = await runChild({ spec: backing.spec, op: 'save', record: newer });
    expect(result.code, result.stderr).toBe(0);
    expect(childAnswer(result)).toEqual({ saved: true });
    await eventually(() => store.revision() !== before);
    expect(await store.load()).toEqual(newer);
  });

  // Skipped for memory: it keeps no stored text to corrupt and is never shared between processes.
  it.skipIf(kind === 'memory')(
    'excludes across processes: 8 processes add 1 twenty times each under the lock',
    async () => {
      await store.save(makeRecord({ issued_at: 0 }));
      const processes = 8;
      const times = 20;
      const results = await Promise.all(
        Array.from({ length: processes }, () =>
          runChild(
            { spec: backing.spec, op: 'increment', times, waitMs: 60_000, ttlMs: 30_000 },
            90_000,
          ),
        ),
      );
      for (const result of results) {
        expect(result.code, result.stderr + result.stdout).toBe(0);
        expect(childAnswer(result)).toEqual({ done: times });
      }
      expect((await store.load())?.issued_at).toBe(processes * times);
    },
    120_000,
  );

  // Skipped for memory: it keeps no stored text to corrupt and is never shared between processes.
  it.skipIf(kind === 'memory')(
    'recovers the lock from a holder killed with SIGKILL',
    async () => {
      // File and SQLite see that the holder's pid is dead (same host identity: kernel and pid
      // namespace) and take over at once; Redis (other machines) cannot, and waits for the lock
      // to expire.
      const ttlMs = kind === 'redis' ? 1500 : 60_000;
      const holder = spawnChild({ spec: backing.spec, op: 'hold', ttlMs });
      await holder.waitForLine(/"locked":true/, 20_000);
      const heldSince = Date.now();
      await holder.stop();

      if (kind === 'redis') {
        const error = await rejection(store.lock({ waitMs: 0 }));
        expect(isTdTokenError(error, 'lock_timeout')).toBe(true);
      }
      const lock = await store.lock({ waitMs: 20_000 });
      const waited = Date.now() - heldSince;
      if (kind === 'redis') expect(waited).toBeGreaterThanOrEqual(ttlMs - 200);
      else expect(waited).toBeLessThan(5000);
      const record = makeRecord();
      await lock.save(record);
      await lock.release();
      expect(await store.load()).toEqual(record);
    },
    60_000,
  );
});
