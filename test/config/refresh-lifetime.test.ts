/**
 * refreshTokenLifetime: `--refresh-token-lifetime`, `TD_TOKEN_REFRESH_TOKEN_LIFETIME`, `.env`
 * and the config file, as a duration (`30d`, `12h`) in ms; generic only; passed through
 * providerOptionsOf to the generic provider, whose refresh expiry is then known.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConfigInput, providerOptionsOf, resolveConfig } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/errors.js';
import { createProvider, DEFAULT_REFRESH_LIFETIME_MS } from '../../src/providers/index.js';

const DAY = 86_400_000;
const GENERIC = {
  provider: 'generic',
  'client-id': 'APP',
  'redirect-uri': 'https://127.0.0.1:8182/cb',
  'authorize-url': 'https://auth.example/authorize',
  'token-url': 'https://auth.example/token',
};

let root: string;
let cwd: string;
let configDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'td-token-lifetime-'));
  cwd = join(root, 'work');
  configDir = join(root, 'config');
  await mkdir(cwd, { recursive: true });
  await mkdir(configDir, { recursive: true });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function input(flags: ConfigInput['flags'], env: NodeJS.ProcessEnv = {}): ConfigInput {
  return { flags, env, cwd, configDir };
}

async function rejection(promise: Promise<unknown>): Promise<ConfigError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('refreshTokenLifetime', () => {
  it('is unset by default: the generic provider assumes its expiry', async () => {
    const c = await resolveConfig(input(GENERIC));
    expect(c.refreshTokenLifetimeMs).toBeUndefined();
    expect(c.sources.refreshTokenLifetime).toBeUndefined();
    expect(providerOptionsOf(c).refreshTokenLifetime).toBeUndefined();
    const provider = createProvider('generic', providerOptionsOf(c));
    expect(provider.refreshTokenLifetimeMs).toBe(DEFAULT_REFRESH_LIFETIME_MS);
    expect(provider.refreshTokenLifetimeAssumed).toBe(true);
  });

  it('from the flag, in days: reaches the generic provider as refreshTokenLifetimeMs', async () => {
    const c = await resolveConfig(input({ ...GENERIC, 'refresh-token-lifetime': '30d' }));
    expect(c.refreshTokenLifetimeMs).toBe(30 * DAY);
    expect(c.sources.refreshTokenLifetime).toEqual({
      kind: 'flag',
      name: '--refresh-token-lifetime',
    });
    expect(providerOptionsOf(c).refreshTokenLifetime).toBe(30 * DAY);
    const provider = createProvider('generic', providerOptionsOf(c));
    expect(provider.refreshTokenLifetimeMs).toBe(30 * DAY);
    expect(provider.refreshTokenLifetimeAssumed).toBe(false);
  });

  it('flags > environment > .env > config file (profile section over top level)', async () => {
    await writeFile(
      join(configDir, 'config.json'),
      JSON.stringify({
        refreshTokenLifetime: '1d',
        profiles: { work: { refreshTokenLifetime: '2d' } },
      }),
    );
    expect((await resolveConfig(input(GENERIC))).refreshTokenLifetimeMs).toBe(DAY);
    const work = await resolveConfig(input({ ...GENERIC, profile: 'work' }));
    expect(work.refreshTokenLifetimeMs).toBe(2 * DAY);
    expect(work.sources.refreshTokenLifetime).toEqual({
      kind: 'config-file',
      name: `${join(configDir, 'config.json')}: profiles.work.refreshTokenLifetime`,
    });
    await writeFile(join(cwd, '.env'), 'TD_TOKEN_REFRESH_TOKEN_LIFETIME=3d\n');
    const dotenv = await resolveConfig(input(GENERIC));
    expect(dotenv.refreshTokenLifetimeMs).toBe(3 * DAY);
    expect(dotenv.sources.refreshTokenLifetime?.kind).toBe('dotenv');
    const env = await resolveConfig(input(GENERIC, { TD_TOKEN_REFRESH_TOKEN_LIFETIME: '12h' }));
    expect(env.refreshTokenLifetimeMs).toBe(12 * 3_600_000);
    expect(env.sources.refreshTokenLifetime).toEqual({
      kind: 'env',
      name: 'TD_TOKEN_REFRESH_TOKEN_LIFETIME',
    });
    const flag = await resolveConfig(
      input(
        { ...GENERIC, 'refresh-token-lifetime': '90m' },
        { TD_TOKEN_REFRESH_TOKEN_LIFETIME: '12h' },
      ),
    );
    expect(flag.refreshTokenLifetimeMs).toBe(90 * 60_000);
  });

  it('for any provider but generic: a ConfigError naming the setting and the fix', async () => {
    for (const provider of ['schwab', 'tdameritrade', 'sandbox-schwab']) {
      const err = await rejection(
        resolveConfig(
          input(
            { provider, 'client-id': 'APP', 'client-secret': 'app-secret' },
            { TD_TOKEN_REFRESH_TOKEN_LIFETIME: '30d' },
          ),
        ),
      );
      expect(err.message).toContain('TD_TOKEN_REFRESH_TOKEN_LIFETIME');
      expect(err.message).toContain('only the generic provider');
      expect(err.message).toMatch(/remove it, or use it with --provider generic$/);
    }
  });

  it('a value that is not a duration: a ConfigError naming its source', async () => {
    const err = await rejection(
      resolveConfig(input({ ...GENERIC, 'refresh-token-lifetime': 'a month' })),
    );
    expect(err.message).toMatch(/^--refresh-token-lifetime is "a month", which is not a duration/);
    const short = await rejection(
      resolveConfig(input({ ...GENERIC, 'refresh-token-lifetime': '500ms' })),
    );
    expect(short.message).toContain('shorter than a second');
  });
});
