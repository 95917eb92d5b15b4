/**
 * The store as configuration hands it to the stores' registry: `file:` URLs for both file-backed
 * stores, a location the driver refuses named by its source, and the driver's own description
 * (a Redis password masked).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConfigInput, resolveConfig } from '../../src/config/resolve.js';
import { describeStore } from '../../src/config/store.js';
import { ConfigError } from '../../src/errors.js';
import { describeStoreSpec } from '../../src/stores/registry.js';

let root: string;
let cwd: string;
let configDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'td-token-store-config-'));
  cwd = join(root, 'work');
  configDir = join(root, 'config');
  await mkdir(cwd, { recursive: true });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function input(flags: ConfigInput['flags'] = {}, env: NodeJS.ProcessEnv = {}): ConfigInput {
  return { flags, env, cwd, configDir };
}

describe('the store spec', () => {
  it('a file: URL is a path for the file store as for SQLite', async () => {
    const url = pathToFileURL(join(root, 'a b', 't.json')).href;
    expect((await resolveConfig(input({ 'store-url': url }))).store).toEqual({
      kind: 'file',
      path: join(root, 'a b', 't.json'),
    });
    const db = pathToFileURL(join(root, 't.db')).href;
    expect(
      (await resolveConfig(input({ store: 'sqlite' }, { TD_TOKEN_STORE_URL: db }))).store,
    ).toEqual({
      kind: 'sqlite',
      path: join(root, 't.db'),
      profile: 'default',
    });
  });

  it('a Redis URL the driver cannot parse is refused, naming where it came from', async () => {
    const err = await resolveConfig(
      input({ store: 'redis' }, { TD_TOKEN_STORE_URL: 'redis://[not-a-host' }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(
      'the environment variable TD_TOKEN_STORE_URL is not a redis:// or rediss:// URL. give the Redis address, like redis://127.0.0.1:6379/0',
    );
  });

  it("describes a store in the driver's words, with a Redis password masked", async () => {
    const c = await resolveConfig(
      input({ store: 'redis', 'store-url': 'redis://:hunter2@127.0.0.1:6379/0', profile: 'bot' }),
    );
    const text = describeStore(c.store);
    expect(text).toBe(describeStoreSpec(c.store));
    expect(text).toBe('redis redis://:****@127.0.0.1:6379/0 (profile bot)');
  });
});
