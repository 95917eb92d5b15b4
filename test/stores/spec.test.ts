/**
 * Choosing a store: storeSpecFrom (the --store / --store-url pair) and createStore's checks.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  createStore,
  describeStoreSpec,
  STORE_DRIVERS,
  STORE_KINDS,
  storeDriver,
  storeSpecFrom,
} from '../../src/stores/index.js';
import type { StoreSpec } from '../../src/stores/spec.js';

const DEFAULT_PATH = join('/home/someone/.config/td-token', 'default.json');

describe('storeSpecFrom', () => {
  it('makes each kind, with the default path when no URL is given', () => {
    expect(storeSpecFrom('file', undefined, 'default', DEFAULT_PATH)).toEqual({
      kind: 'file',
      path: DEFAULT_PATH,
    });
    expect(storeSpecFrom('FILE', ' /tmp/t.json ', 'default', DEFAULT_PATH)).toEqual({
      kind: 'file',
      path: '/tmp/t.json',
    });
    expect(storeSpecFrom('sqlite', undefined, 'bots', DEFAULT_PATH)).toEqual({
      kind: 'sqlite',
      path: join('/home/someone/.config/td-token', 'tokens.db'),
      profile: 'bots',
    });
    expect(storeSpecFrom('sqlite', pathToFileURL('/srv/t.db').href, 'bots', DEFAULT_PATH)).toEqual({
      kind: 'sqlite',
      path: '/srv/t.db',
      profile: 'bots',
    });
    expect(storeSpecFrom('redis', 'redis://10.0.0.5:6379/1', 'bots', DEFAULT_PATH)).toEqual({
      kind: 'redis',
      url: 'redis://10.0.0.5:6379/1',
      profile: 'bots',
    });
    expect(storeSpecFrom('memory', 'ignored', 'bots', DEFAULT_PATH)).toEqual({ kind: 'memory' });
  });

  it('names the valid kinds for an unknown one', () => {
    expect(() => storeSpecFrom('postgres', undefined, 'p', DEFAULT_PATH)).toThrow(ConfigError);
    expect(() => storeSpecFrom('postgres', undefined, 'p', DEFAULT_PATH)).toThrow(
      'unknown store "postgres". use one of: file, sqlite, redis, memory (--store or TD_TOKEN_STORE)',
    );
  });

  it('needs a redis:// or rediss:// URL for Redis', () => {
    expect(() => storeSpecFrom('redis', undefined, 'p', DEFAULT_PATH)).toThrow(
      /needs a server URL.*--store-url redis:\/\/host:6379/,
    );
    expect(() => storeSpecFrom('redis', 'http://x', 'p', DEFAULT_PATH)).toThrow(ConfigError);
    expect(storeSpecFrom('redis', 'rediss://x:6380', 'p', DEFAULT_PATH)).toMatchObject({
      url: 'rediss://x:6380',
    });
  });

  it('rejects bad arguments with a TypeError naming them', () => {
    expect(() => storeSpecFrom('file', undefined, '', DEFAULT_PATH)).toThrow(
      new TypeError('"profile" must be a non-empty string'),
    );
    expect(() => storeSpecFrom('file', undefined, 'p', '')).toThrow(
      new TypeError('"defaultPath" must be a non-empty string'),
    );
  });
});

describe('createStore', () => {
  it('opens memory and file stores and rejects an unknown kind with a TypeError', async () => {
    const memory = await createStore({ kind: 'memory' });
    expect(memory.kind).toBe('memory');
    await memory.close();
    const file = await createStore({ kind: 'file', path: 'token.json' });
    expect(file.kind).toBe('file');
    expect(file.location).toBe(join(process.cwd(), 'token.json'));
    await expect(createStore({ kind: 'etcd' } as unknown as StoreSpec)).rejects.toThrow(
      new TypeError('"spec.kind" must be one of file, sqlite, redis, memory'),
    );
  });
});

describe('the driver registry', () => {
  it('lists each kind once, in the order people see them, and STORE_KINDS follows it', () => {
    expect(STORE_DRIVERS.map((d) => d.kind)).toEqual(['file', 'sqlite', 'redis', 'memory']);
    expect(STORE_KINDS).toEqual(STORE_DRIVERS.map((d) => d.kind));
    expect(STORE_DRIVERS.filter((d) => d.encrypts).map((d) => d.kind)).toEqual([
      'file',
      'sqlite',
      'redis',
    ]);
    expect(storeDriver('file')?.kind).toBe('file');
    expect(storeDriver('postgres')).toBeUndefined();
  });

  it('describes a spec for people: encryption named, a Redis password masked', () => {
    expect(describeStoreSpec({ kind: 'file', path: '/home/me/token.json' })).toBe(
      'file /home/me/token.json',
    );
    expect(
      describeStoreSpec({ kind: 'file', path: '/t.json', encryption: { passphrase: 'pw-x' } }),
    ).toBe('file /t.json, encrypted with a passphrase');
    expect(
      describeStoreSpec({
        kind: 'sqlite',
        path: '/t.db',
        profile: 'bots',
        encryption: { keyFile: '/k' },
      }),
    ).toBe('sqlite /t.db (profile bots), encrypted with the key file /k');
    const redis = describeStoreSpec({
      kind: 'redis',
      url: 'redis://user:s3cret-pw@10.0.0.5:6379/1',
      profile: 'bots',
    });
    expect(redis).toBe('redis redis://user:****@10.0.0.5:6379/1 (profile bots)');
    expect(redis).not.toContain('s3cret-pw');
    expect(describeStoreSpec({ kind: 'memory' })).toMatch(/^memory /);
    expect(() => describeStoreSpec({ kind: 'etcd' } as unknown as StoreSpec)).toThrow(TypeError);
  });
});
