/**
 * Where a value came from, as `status` prints it ("(from <name>)"): every name the configuration
 * gives reads as one phrase after "from", a default says why it applies ("default: no client id
 * is configured, so the sandbox"), and none nests parentheses.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConfigInput, resolveConfig } from '../../src/config/resolve.js';

let root: string;
let cwd: string;
let configDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'td-token-sources-'));
  cwd = join(root, 'work');
  configDir = join(root, 'config');
  await mkdir(cwd, { recursive: true });
  await mkdir(configDir, { recursive: true });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function input(flags: ConfigInput['flags'] = {}, env: NodeJS.ProcessEnv = {}): ConfigInput {
  return { flags, env, cwd, configDir };
}

describe('source names read well after "from"', () => {
  it('the provider inferred from the app says why, as "default: ..."', async () => {
    const none = await resolveConfig(input());
    expect(none.sources.provider).toEqual({
      kind: 'default',
      name: 'default: no client id is configured, so the sandbox',
    });
    const secret = await resolveConfig(input({ 'client-id': 'K', 'client-secret': 'S' }));
    expect(secret.sources.provider?.name).toBe('default: a client secret is configured, so schwab');
    const alone = await resolveConfig(input({ 'client-id': 'K' }));
    expect(alone.sources.provider?.name).toBe(
      'default: no client secret is configured, so tdameritrade',
    );
    const seed = await resolveConfig(input({}, { CONSUMER_KEY: 'K' }));
    expect(seed.sources.provider).toEqual({
      kind: 'env',
      name: 'CONSUMER_KEY, the seed-era TD Ameritrade consumer key',
    });
  });

  it('default locations and callbacks say what they are', async () => {
    const td = await resolveConfig(input({ 'client-id': 'K' }));
    expect(td.sources.redirectUri?.name).toBe('default: the usual callback of tdameritrade apps');
    expect(td.sources.storeUrl?.name).toBe('default: one token file per profile');
  });

  it('no name nests parentheses, and every default is "default" or "default: <why>"', async () => {
    await writeFile(join(cwd, '.env'), 'CONSUMER_KEY=K\n');
    const configs = await Promise.all([
      resolveConfig(input()),
      resolveConfig(input({ provider: 'sandbox-tdameritrade' })),
      resolveConfig(input({ 'client-id': 'K', 'client-secret': 'S', store: 'sqlite' })),
      resolveConfig(input({ 'client-id': 'K' }, { TD_STORE_TOKENS: 'false' })),
      resolveConfig(input({ 'token-file': 't.json' })),
    ]);
    for (const config of configs) {
      for (const source of Object.values(config.sources)) {
        expect(source?.name).not.toMatch(/\(.*\(/);
        if (source?.kind === 'default' && !source.name.startsWith('the ')) {
          expect(source.name).toMatch(/^default(: \S.*)?$/);
        }
      }
    }
  });
});
