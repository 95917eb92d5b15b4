/**
 * The Redis store beyond the shared contract, against a real redis-server with a password:
 * masking, keys, the lock key's expiry, fencing, the change subscription, and closing.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isTdTokenError } from '../../src/errors.js';
import { maskRedisUrl, type RedisClientConstructor, RedisStore } from '../../src/stores/redis.js';
import { serializeTokenRecord } from '../../src/token.js';
import { freePort, type RedisServer, startRedis } from '../helpers/redis.js';
import { rejection } from '../helpers/rejection.js';
import { eventually, makeRecord } from './support.js';

const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
let server: RedisServer;
let admin: Redis;
const open: RedisStore[] = [];

beforeAll(async () => {
  server = await startRedis({ password: PASSWORD });
  admin = new Redis(server.url);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await admin?.quit();
  await server?.stop();
});

async function openStore(profile = `p-${randomBytes(4).toString('hex')}`, keyPrefix?: string) {
  const store = await RedisStore.open(server.url, profile, { keyPrefix });
  open.push(store);
  return store;
}

async function clientCount(): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  return list.trim().split('\n').length;
}

describe('redis store', () => {
  it('masks the password in its location and in connection errors', async () => {
    const store = await openStore('alice');
    expect(store.location).not.toContain(PASSWORD);
    expect(store.location).toContain('****');
    expect(store.location).toContain('td-token:alice:token');

    const wrong = server.url.replace(encodeURIComponent(PASSWORD), 'wrong-password');
    const error = await rejection(RedisStore.open(wrong, 'alice'));
    expect(isTdTokenError(error, 'store_error')).toBe(true);
    expect(error.message).not.toContain('wrong-password');
    expect(maskRedisUrl('redis://user:secret@host:6379/2')).toBe('redis://user:****@host:6379/2');
  });

  it('stores the record as the seed text under <prefix>:<profile>:token', async () => {
    const store = await openStore('bob', 'bots');
    const record = makeRecord();
    await store.save(record);
    expect(await admin.get('bots:bob:token')).toBe(serializeTokenRecord(record));
    await store.clear();
    expect(await admin.exists('bots:bob:token')).toBe(0);
  });

  it('sets the lock key with the ttl and a random value, and removes it on release', async () => {
    const store = await openStore('carol');
    const lock = await store.lock({ ttlMs: 5000 });
    const pttl = await admin.pttl('td-token:carol:lock');
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(5000);
    expect(await admin.get('td-token:carol:lock')).toMatch(/^[0-9a-f]{32}$/);
    await lock.release();
    expect(await admin.exists('td-token:carol:lock')).toBe(0);
  });

  it('refuses a save through a lock whose key now holds another value', async () => {
    const store = await openStore('dave');
    const first = makeRecord({ issued_at: 1 });
    await store.save(first);
    const lock = await store.lock({ ttlMs: 60_000 });
    await admin.set('td-token:dave:lock', 'someone-else', 'PX', 60_000);
    const error = await rejection(lock.save(makeRecord({ issued_at: 2 })));
    expect(isTdTokenError(error, 'lock_timeout')).toBe(true);
    expect(await store.load()).toEqual(first);
    await lock.release();
    expect(await admin.get('td-token:dave:lock')).toBe('someone-else');
  });

  it('reads the store on every call while its subscription is down, and settles once back', async () => {
    const store = await openStore('erin');
    const settled = store.revision();
    expect(store.revision()).toBe(settled);
    await admin.client('KILL', 'TYPE', 'pubsub');
    const moving = () => {
      const first = store.revision();
      return store.revision() !== first;
    };
    await eventually(moving);
    // ioredis reconnects; the subscription comes back and the counter stops moving.
    await eventually(() => !moving(), 10_000);
    const other = await openStore('erin');
    const before = store.revision();
    await other.save(makeRecord());
    await eventually(() => store.revision() !== before);
  });

  it('closes both of its connections', async () => {
    const before = await clientCount();
    const store = await RedisStore.open(server.url, 'frank');
    expect(await clientCount()).toBe(before + 2);
    await store.close();
    // The server drops a client right after answering its QUIT: look again a few times.
    let after = await clientCount();
    for (let i = 0; i < 100 && after !== before; i++) after = await clientCount();
    expect(after).toBe(before);
    const error = await rejection(store.load());
    expect(isTdTokenError(error, 'store_error')).toBe(true);
  });

  it('fails fast with the fix when no server listens', async () => {
    const port = await freePort();
    const error = await rejection(RedisStore.open(`redis://127.0.0.1:${port}`, 'x'));
    expect(isTdTokenError(error, 'store_error')).toBe(true);
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toMatch(/redis-server is running/);
  });

  it("has local client types that ioredis's own class fits", () => {
    const ctor: RedisClientConstructor = Redis;
    expect(typeof ctor).toBe('function');
  });

  it("announces others' saves and clears, and every release, to onChange listeners", async () => {
    const store = await openStore('gina');
    const other = await openStore('gina');
    let calls = 0;
    const stop = store.onChange(() => calls++);
    const before = store.revision();
    await store.save(makeRecord()); // its own save: no announcement
    await other.save(makeRecord());
    // Messages arrive in order: once the other's save moved the revision, ours came and went.
    await eventually(() => store.revision() !== before);
    expect(calls).toBe(1);
    await other.clear();
    await eventually(() => calls === 2);
    const lock = await other.lock();
    await lock.release();
    await eventually(() => calls === 3);
    stop();
    await other.save(makeRecord());
    const moved = store.revision();
    await other.save(makeRecord());
    await eventually(() => store.revision() !== moved);
    expect(calls).toBe(3);
  });

  it('rejects a URL that is not redis:// as a ConfigError', async () => {
    const error = await rejection(RedisStore.open('http://127.0.0.1:6379', 'x'));
    expect(isTdTokenError(error, 'invalid_config')).toBe(true);
  });
});
