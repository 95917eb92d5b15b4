/**
 * Which value wins, and where it came from: the settings every source can give, their names as
 * flags, environment variables and config-file keys, and the layers in order (flags >
 * environment > `.env` > config file > defaults). A layer answers a key with a value and its
 * source; it never judges what the value means.
 *
 * @module
 */
import { ConfigError } from '../errors.js';
import type { ConfigFile, FileSection } from './file.js';

/** Kinds of configuration source, highest first. */
export type SourceKind = 'flag' | 'env' | 'dotenv' | 'config-file' | 'default' | 'sandbox';

/** Where one value came from, for `td-token status`. Never holds the value itself. */
export interface ValueSource {
  kind: SourceKind;
  /**
   * For people, read after "from": `--client-id`, `TD_TOKEN_CLIENT_ID`, `.env: CONSUMER_KEY`,
   * `config.json: profiles.work.clientId`, `default`, `default: <why>`.
   */
  name: string;
}

/** The settings every source can give. */
export type ConfigKey =
  | 'provider'
  | 'clientId'
  | 'clientSecret'
  | 'redirectUri'
  | 'authorizeUrl'
  | 'tokenUrl'
  | 'apiUrl'
  | 'scope'
  | 'refreshTokenLifetime'
  | 'profile'
  | 'store'
  | 'storeUrl'
  | 'tokenFile'
  | 'encryptionKeyFile'
  | 'passphraseFile';

/** A value and where it came from. */
export interface Sourced<T> {
  value: T;
  source: ValueSource;
}

/** Flag name per key. */
export const FLAG_NAMES: Record<ConfigKey, string> = {
  provider: 'provider',
  clientId: 'client-id',
  clientSecret: 'client-secret',
  redirectUri: 'redirect-uri',
  authorizeUrl: 'authorize-url',
  tokenUrl: 'token-url',
  apiUrl: 'api-url',
  scope: 'scope',
  refreshTokenLifetime: 'refresh-token-lifetime',
  profile: 'profile',
  store: 'store',
  storeUrl: 'store-url',
  tokenFile: 'token-file',
  encryptionKeyFile: 'encryption-key-file',
  passphraseFile: 'passphrase-file',
};

/** Environment names per key, the current name first, then seed-era names. */
export const ENV_NAMES: Record<ConfigKey, readonly string[]> = {
  provider: ['TD_TOKEN_PROVIDER'],
  clientId: ['TD_TOKEN_CLIENT_ID', 'CONSUMER_KEY'],
  clientSecret: ['TD_TOKEN_CLIENT_SECRET'],
  redirectUri: ['TD_TOKEN_REDIRECT_URI', 'CALLBACK_URL'],
  authorizeUrl: ['TD_TOKEN_AUTHORIZE_URL'],
  tokenUrl: ['TD_TOKEN_TOKEN_URL'],
  apiUrl: ['TD_TOKEN_API_URL'],
  scope: ['TD_TOKEN_SCOPE'],
  refreshTokenLifetime: ['TD_TOKEN_REFRESH_TOKEN_LIFETIME'],
  profile: ['TD_TOKEN_PROFILE'],
  store: ['TD_TOKEN_STORE', 'TD_STORE_TOKENS'],
  storeUrl: ['TD_TOKEN_STORE_URL'],
  tokenFile: ['TD_TOKEN_FILE'],
  encryptionKeyFile: ['TD_TOKEN_KEY_FILE'],
  passphraseFile: ['TD_TOKEN_PASSPHRASE_FILE'],
};

/** The environment variable holding the passphrase (environment or `.env` only; no flag). */
export const PASSPHRASE_ENV = 'TD_TOKEN_PASSPHRASE';

/** The keys a config file may set, at the top level and in a profile's section. */
export const FILE_KEYS: readonly ConfigKey[] = [
  'provider',
  'clientId',
  'clientSecret',
  'redirectUri',
  'authorizeUrl',
  'tokenUrl',
  'apiUrl',
  'scope',
  'refreshTokenLifetime',
  'store',
  'storeUrl',
  'tokenFile',
  'encryptionKeyFile',
  'passphraseFile',
];

/** One layer of configuration: answers a key with a value and where it came from. */
export type Layer = (key: ConfigKey) => Sourced<string> | undefined;

/** A source as the subject of a sentence: `--client-id`, `the environment variable X`, ... */
export function describeSource(source: ValueSource): string {
  return source.kind === 'env' ? `the environment variable ${source.name}` : source.name;
}

/** The error for a bad value: names its source, the problem and the fix. */
export function invalid(
  source: ValueSource,
  problem: string,
  fix: string,
  cause?: unknown,
): ConfigError {
  return new ConfigError(
    `${describeSource(source)} ${problem}. ${fix}`,
    cause === undefined ? undefined : { cause },
  );
}

/** A default, and why it applies; reads after "from" (`from default: no client id is configured, ...`). */
export function defaultSource(why?: string): ValueSource {
  return { kind: 'default', name: why === undefined ? 'default' : `default: ${why}` };
}

/** How high a source ranks: lower wins. Sources of one kind rank the same. */
export function rank(source: ValueSource | undefined): number {
  return source === undefined
    ? 99
    : ['flag', 'env', 'dotenv', 'config-file', 'default'].indexOf(source.kind);
}

/** The flags, by their long names. A flag without a value or with an empty one is an error. */
export function flagLayer(flags: Record<string, string | boolean | undefined>): Layer {
  return (key) => {
    const name = FLAG_NAMES[key];
    const value = flags[name];
    if (value === undefined || value === false) return undefined;
    const source: ValueSource = { kind: 'flag', name: `--${name}` };
    if (typeof value !== 'string') {
      throw invalid(source, 'needs a value', `give it as --${name} VALUE`);
    }
    if (value.trim() === '') {
      throw invalid(source, 'is empty', `give it a value or leave the flag out`);
    }
    return { value: value.trim(), source };
  };
}

/** TD_STORE_TOKENS=false (pyTD's switch) means the memory store; true leaves the default. */
function storeTokensSwitch(value: string, source: ValueSource): string | undefined {
  const v = value.trim().toLowerCase();
  if (['false', '0', 'no', 'off'].includes(v)) return 'memory';
  if (['true', '1', 'yes', 'on'].includes(v)) return undefined;
  throw invalid(
    source,
    `is "${value}", which is neither true nor false`,
    'set it to false to keep tokens in memory only, or remove it',
  );
}

/** Environment variables (the real environment, or a `.env` file's); an empty one is unset. */
export function envLayer(
  vars: Record<string, string | undefined>,
  kind: 'env' | 'dotenv',
  label: (name: string) => string,
): Layer {
  return (key) => {
    for (const name of ENV_NAMES[key]) {
      const raw = vars[name];
      if (raw === undefined || raw.trim() === '') continue;
      const source: ValueSource = { kind, name: label(name) };
      if (name === 'TD_STORE_TOKENS') {
        const value = storeTokensSwitch(raw, source);
        if (value === undefined) continue;
        return { value, source };
      }
      return { value: raw.trim(), source };
    }
    return undefined;
  };
}

/** Looks a key up through the layers in order, recording where each found value came from. */
export type Lookup = (key: ConfigKey) => Sourced<string> | undefined;

/** The first layer that answers wins; its source is written into `sources`. */
export function layered(
  layers: readonly Layer[],
  sources: Partial<Record<ConfigKey, ValueSource>>,
): Lookup {
  return (key) => {
    for (const layer of layers) {
      const found = layer(key);
      if (found) {
        sources[key] = found.source;
        return found;
      }
    }
    return undefined;
  };
}

/**
 * A key's value in the config file: the profile's own section first, then the top level; with
 * where it was found.
 */
export function fileValue<K extends keyof FileSection>(
  file: ConfigFile | undefined,
  key: K,
  profile: string,
  path: string,
): Sourced<NonNullable<FileSection[K]>> | undefined {
  if (!file) return undefined;
  const own = file.profiles[profile]?.[key];
  if (own !== undefined) {
    return {
      value: own as NonNullable<FileSection[K]>,
      source: { kind: 'config-file', name: `${path}: profiles.${profile}.${key}` },
    };
  }
  const shared = file.defaults[key];
  if (shared !== undefined) {
    return {
      value: shared as NonNullable<FileSection[K]>,
      source: { kind: 'config-file', name: `${path}: ${key}` },
    };
  }
  return undefined;
}
