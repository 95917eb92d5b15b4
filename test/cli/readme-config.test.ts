/**
 * The README's configuration table against the code: every flag, environment variable and
 * config-file key it names is one `resolveConfig` knows and honours from that source, and every
 * one the code knows is in the table, so the two cannot drift apart.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GLOBAL_OPTIONS } from '../../src/cli/options.js';
import { type ConfigKey, ENV_NAMES, FLAG_NAMES, PASSPHRASE_ENV } from '../../src/config/layers.js';
import {
  NOTIFY_ENV_NAMES,
  NOTIFY_FILE_KEYS,
  NOTIFY_FLAG_NAMES,
  type NotifyKey,
} from '../../src/config/notify.js';
import { type ResolvedConfig, resolveConfig } from '../../src/config/resolve.js';
import { NOTIFY_OPTIONS } from '../../src/notify/cli-options.js';
import { DEFAULT_SANDBOX_FLAVOR } from '../../src/providers/defaults.js';

interface Row {
  /** The row as written, for messages. */
  line: string;
  /** `--client-id`, or undefined for "—". */
  flag: string | undefined;
  /** Every environment variable the row names (`TD_STORE_TOKENS=false` counts as `TD_STORE_TOKENS`). */
  env: string[];
  /** The config-file key, or undefined for "—". */
  key: string | undefined;
  /** The config-key cell as written. */
  keyCell: string;
  default: string;
}

const README = new URL('../../README.md', import.meta.url);

/** The code spans of a table cell. */
function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
}

/** The rows of the table under "## Configuration". */
function parseTable(markdown: string): Row[] {
  const section = /^## Configuration\n([\s\S]*?)^## /m.exec(markdown)?.[1];
  if (section === undefined) throw new Error('README.md has no "## Configuration" section');
  const lines = section.split('\n').filter((line) => line.startsWith('|'));
  const [header, rule, ...body] = lines;
  expect(header).toBe('| flag | environment | config key | default |');
  expect(rule).toBe('|---|---|---|---|');
  return body.map((line) => {
    const cells = line
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim());
    expect(cells, line).toHaveLength(4);
    const [flagCell, envCell, keyCell, defaultCell] = cells as [string, string, string, string];
    const flags = codeSpans(flagCell).filter((span) => span.startsWith('--'));
    expect(flags.length, line).toBeLessThanOrEqual(1);
    const env = codeSpans(envCell)
      .map((span) => /^[A-Z][A-Z0-9_]*/.exec(span)?.[0])
      .filter((name): name is string => name !== undefined);
    return {
      line,
      flag: flags[0],
      env,
      key: keyCell.startsWith('—') ? undefined : codeSpans(keyCell)[0],
      keyCell,
      default: defaultCell,
    };
  });
}

let rows: Row[];
let dir: string;

beforeAll(async () => {
  rows = parseTable(await readFile(README, 'utf8'));
  dir = await mkdtemp(join(tmpdir(), 'td-token-readme-config-'));
  await writeFile(join(dir, 'passphrase.txt'), 'correct horse battery staple\n', { mode: 0o600 });
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const KEYS = Object.keys(FLAG_NAMES) as ConfigKey[];

/** A value each setting accepts, as written in a flag, a variable or the config file. */
const VALUES: Record<ConfigKey, string> = {
  provider: 'schwab',
  clientId: 'README0APP0KEY',
  clientSecret: 'readme-secret',
  redirectUri: 'https://127.0.0.1:8182',
  authorizeUrl: 'https://auth.example/authorize',
  tokenUrl: 'https://auth.example/token',
  apiUrl: 'https://api.example',
  scope: 'api',
  refreshTokenLifetime: '30d',
  profile: 'readme',
  store: 'memory',
  storeUrl: 'tokens.json',
  tokenFile: 'token.json',
  encryptionKeyFile: 'key.bin',
  passphraseFile: 'passphrase.txt',
};

/** The app each key's test runs with: a generic one for a generic-only setting. */
function appFor(key: ConfigKey): Record<string, string> {
  return key === 'refreshTokenLifetime'
    ? {
        provider: 'generic',
        clientId: VALUES.clientId,
        authorizeUrl: VALUES.authorizeUrl,
        tokenUrl: VALUES.tokenUrl,
        redirectUri: VALUES.redirectUri,
      }
    : { clientId: VALUES.clientId, clientSecret: VALUES.clientSecret };
}

/** A value each notification setting accepts. */
const NOTIFY_VALUES: Record<NotifyKey, string> = {
  notify: 'desktop',
  notifyBefore: '24h',
  notifyFailingAfter: '10m',
};

/** What a variable is set to: the seed-era switch takes false, the others the key's value. */
function envValue(name: string, key: ConfigKey): string {
  return name === 'TD_STORE_TOKENS' ? 'false' : VALUES[key];
}

/** Resolve with a config folder inside the test folder; a client id and secret come from the file. */
async function resolve(
  options: {
    flags?: Record<string, string>;
    env?: Record<string, string>;
    file?: Record<string, unknown>;
  } = {},
): Promise<ResolvedConfig> {
  const configDir = await mkdtemp(join(dir, 'config-'));
  // Relative paths in the config file are relative to its folder.
  await writeFile(join(configDir, 'passphrase.txt'), 'correct horse battery staple\n', {
    mode: 0o600,
  });
  if (options.file !== undefined) {
    await writeFile(join(configDir, 'config.json'), JSON.stringify(options.file));
  }
  return resolveConfig({
    flags: options.flags ?? {},
    env: options.env ?? {},
    cwd: dir,
    configDir,
  });
}

function rowFor(key: ConfigKey): Row {
  const row = rows.find((r) => r.flag === `--${FLAG_NAMES[key]}`);
  if (row === undefined) throw new Error(`README.md's table has no row for --${FLAG_NAMES[key]}`);
  return row;
}

describe("README's configuration table", () => {
  it('lists exactly the flags the configuration and the command line know', () => {
    const readme = rows.flatMap((row) => (row.flag === undefined ? [] : [row.flag])).sort();
    const notifyFlags = NOTIFY_FILE_KEYS.map((key) => `--${NOTIFY_FLAG_NAMES[key]}`);
    expect(readme).toEqual([...KEYS.map((key) => `--${FLAG_NAMES[key]}`), ...notifyFlags].sort());
    const cli = [
      ...Object.keys(GLOBAL_OPTIONS).filter((name) => name !== 'help' && name !== 'version'),
      ...Object.keys(NOTIFY_OPTIONS),
    ]
      .map((name) => `--${name}`)
      .sort();
    expect(readme).toEqual(cli);
  });

  it('lists exactly the environment variables the configuration reads', () => {
    const readme = rows.flatMap((row) => row.env).sort();
    const code = [
      ...Object.values(ENV_NAMES).flat(),
      ...Object.values(NOTIFY_ENV_NAMES),
      PASSPHRASE_ENV,
    ].sort();
    expect(readme).toEqual(code);
  });

  it.each(KEYS)('%s: its row names the flag, variables and config key the code uses', (key) => {
    const row = rowFor(key);
    expect(row.env, row.line).toEqual([...ENV_NAMES[key]]);
    expect(row.key, row.line).toBe(key);
  });

  it('has one row without a flag: the passphrase, from the environment only', () => {
    const rest = rows.filter((row) => row.flag === undefined);
    expect(rest.map((row) => row.env)).toEqual([[PASSPHRASE_ENV]]);
    expect(rest[0]?.key).toBeUndefined();
  });

  it.each(KEYS)('%s: the code honours its flag', async (key) => {
    const flag = FLAG_NAMES[key];
    const config = await resolve({
      flags: { [flag]: VALUES[key] },
      file: appFor(key),
    });
    expect(config.sources[key]).toEqual({ kind: 'flag', name: `--${flag}` });
  });

  it.each(KEYS.flatMap((key) => ENV_NAMES[key].map((name) => [key, name] as const)))(
    '%s: the code honours the variable %s',
    async (key, name) => {
      const config = await resolve({
        env: { [name]: envValue(name, key) },
        file: appFor(key),
      });
      expect(config.sources[key]).toEqual({ kind: 'env', name });
      if (name === 'TD_STORE_TOKENS') expect(config.store.kind).toBe('memory');
    },
  );

  it.each(KEYS)('%s: the code honours its config-file key at the top level', async (key) => {
    const config = await resolve({
      file: { ...appFor(key), [key]: VALUES[key] },
    });
    expect(config.warnings).toEqual([]);
    expect(config.sources[key]?.kind).toBe('config-file');
  });

  it.each(NOTIFY_FILE_KEYS)(
    '%s: its row names the flag of watch and refresh, the variable and the config key; the code honours each',
    async (key) => {
      const flag = `--${NOTIFY_FLAG_NAMES[key]}`;
      const row = rows.find((r) => r.flag === flag);
      if (row === undefined) throw new Error(`README.md's table has no row for ${flag}`);
      expect(row.env, row.line).toEqual([NOTIFY_ENV_NAMES[key]]);
      expect(row.key, row.line).toBe(key);
      const value = NOTIFY_VALUES[key];
      const fromFlag = await resolve({ flags: { [NOTIFY_FLAG_NAMES[key]]: value } });
      expect(fromFlag.sources[key]).toEqual({ kind: 'flag', name: flag });
      const fromEnv = await resolve({ env: { [NOTIFY_ENV_NAMES[key]]: value } });
      expect(fromEnv.sources[key]).toEqual({ kind: 'env', name: NOTIFY_ENV_NAMES[key] });
      const fromFile = await resolve({ file: { [key]: value } });
      expect(fromFile.warnings).toEqual([]);
      expect(fromFile.sources[key]?.kind).toBe('config-file');
    },
  );

  it('the passphrase variable encrypts the store', async () => {
    const config = await resolve({
      env: { [PASSPHRASE_ENV]: 'correct horse battery staple' },
      file: { clientId: VALUES.clientId, clientSecret: VALUES.clientSecret },
    });
    expect(config.sources.encryption).toEqual({ kind: 'env', name: PASSPHRASE_ENV });
  });

  it('--profile: a top-level "profile" in the config file is honoured, and picks its section', async () => {
    expect(rowFor('profile').keyCell).toContain('top level only');
    expect(rowFor('profile').default).toBe('`default`');
    const config = await resolve({
      file: {
        profile: 'work',
        clientId: 'SHARED',
        profiles: { work: { clientId: 'WORKKEY', clientSecret: 'work-secret' } },
      },
    });
    expect(config.profile).toBe('work');
    expect(config.sources.profile?.kind).toBe('config-file');
    expect(config.clientId).toBe('WORKKEY');
    expect(config.provider).toBe('schwab');
    expect((await resolve()).profile).toBe('default');
  });

  it('--provider: the default describes the inference the code makes', async () => {
    const text = rowFor('provider').default;
    expect(text).toContain('a client id and a client secret → `schwab`');
    expect(text).toContain('a client id alone, or the seed-era `CONSUMER_KEY` → `tdameritrade`');
    expect(text).toContain(`no client id → \`sandbox-${DEFAULT_SANDBOX_FLAVOR}\``);

    expect((await resolve()).provider).toBe(`sandbox-${DEFAULT_SANDBOX_FLAVOR}`);
    const both = await resolve({ flags: { 'client-id': 'KEY', 'client-secret': 'secret' } });
    expect(both.provider).toBe('schwab');
    expect((await resolve({ env: { TD_TOKEN_CLIENT_ID: 'KEY' } })).provider).toBe('tdameritrade');
    const seed = await resolve({
      env: { CONSUMER_KEY: 'KEY', TD_TOKEN_CLIENT_SECRET: 'secret' },
    });
    expect(seed.provider).toBe('tdameritrade');
    const fromFile = await resolve({ file: { clientId: 'KEY', clientSecret: 'secret' } });
    expect(fromFile.provider).toBe('schwab');
  });
});
