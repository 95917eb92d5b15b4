/**
 * td-token's configuration: which provider and app, which profile, which store.
 *
 * Sources, highest first:
 * 1. flags (`--provider`, `--client-id`, ...);
 * 2. the environment (`TD_TOKEN_*`, and the seed-era `CONSUMER_KEY`, `CALLBACK_URL`,
 *    `TD_STORE_TOKENS`);
 * 3. a `.env` file in the working folder (never overrides the real environment);
 * 4. `<config>/config.json`: top-level defaults, and a section per profile under `profiles`;
 * 5. defaults.
 *
 * Encryption at rest (file and SQLite stores): a key file (`--encryption-key-file`,
 * `TD_TOKEN_KEY_FILE`, `"encryptionKeyFile"`) or a passphrase. The passphrase itself is taken
 * only from the environment (`TD_TOKEN_PASSPHRASE`, or `.env`), never from a flag, where any
 * user could read it in `ps`; or from a file (`--passphrase-file`, `TD_TOKEN_PASSPHRASE_FILE`,
 * `"passphraseFile"`), whose first line is the passphrase.
 *
 * With no client id configured anywhere, the provider is the sandbox (`sandbox-schwab` unless
 * another flavor is named) with the sandbox's default app, so a newcomer can try the whole flow
 * without an account.
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { ConfigError } from './errors.js';
import { configDir as configDirOf, isValidProfileName, resolvePath } from './paths.js';
import type { ProviderName, ProviderOptions } from './providers/types.js';

/** Every provider a configuration can name. `sandbox-*` speak the flavor's protocol to the sandbox. */
export type ProviderChoice =
  | 'tdameritrade'
  | 'schwab'
  | 'generic'
  | 'sandbox-tdameritrade'
  | 'sandbox-schwab';

/** The provider choices, in the order help texts list them. */
export const PROVIDER_CHOICES: readonly ProviderChoice[] = [
  'tdameritrade',
  'schwab',
  'generic',
  'sandbox-tdameritrade',
  'sandbox-schwab',
];

/** The sandbox flavor used when nothing is configured (see the README's first command). */
export const DEFAULT_SANDBOX_FLAVOR = 'schwab' as const;

/** The store kinds `--store` accepts. */
export const STORE_KINDS = ['file', 'sqlite', 'redis', 'memory'] as const;
export type StoreKindChoice = (typeof STORE_KINDS)[number];

/** How the file and SQLite stores encrypt the record: a passphrase or a key file. */
export interface EncryptionChoice {
  passphrase?: string;
  keyFile?: string;
}

/** Where a profile's token lives; the same shape `createStore()` takes. */
export type StoreChoice =
  | { kind: 'memory' }
  | { kind: 'file'; path: string; encryption?: EncryptionChoice }
  | { kind: 'sqlite'; path: string; profile: string; encryption?: EncryptionChoice }
  | { kind: 'redis'; url: string; profile: string };

/** Kinds of configuration source, highest first. */
export type SourceKind = 'flag' | 'env' | 'dotenv' | 'config-file' | 'default' | 'sandbox';

/** Where one value came from, for `td-token status`. Never holds the value itself. */
export interface ValueSource {
  kind: SourceKind;
  /** For people: `--client-id`, `TD_TOKEN_CLIENT_ID`, `.env: CONSUMER_KEY`, `config.json: profiles.work.clientId`, `default`. */
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
  | 'profile'
  | 'store'
  | 'storeUrl'
  | 'tokenFile'
  | 'encryptionKeyFile'
  | 'passphraseFile';

/** The outcome of {@link resolveConfig}. */
export interface ResolvedConfig {
  profile: string;
  provider: ProviderChoice;
  /** The protocol spoken: `sandbox-schwab` speaks `schwab`. */
  protocol: ProviderName;
  /** `tdameritrade` or `schwab` for a sandbox provider, else undefined. */
  sandboxFlavor: 'tdameritrade' | 'schwab' | undefined;
  clientId: string;
  clientSecret: string | undefined;
  redirectUri: string;
  /** Undefined means the provider's default (for a sandbox: a sandbox the CLI finds or starts). */
  authorizeUrl: string | undefined;
  tokenUrl: string | undefined;
  apiUrl: string | undefined;
  scope: string | undefined;
  store: StoreChoice;
  /** The user's td-token config folder. */
  configDir: string;
  /** The config file consulted (it may not exist). */
  configFile: string;
  /** Whether the config file existed. */
  configFileFound: boolean;
  /** The `.env` file read, when there was one. */
  dotenvFile: string | undefined;
  /** The login server's certificate folder. */
  certDir: string;
  /** Where each value came from (`encryption`: the key file or passphrase in use). */
  sources: Partial<Record<ConfigKey | 'encryption', ValueSource>>;
  /** Things worth telling a person (unknown config keys, ignored values). */
  warnings: string[];
}

/** What {@link resolveConfig} reads. */
export interface ConfigInput {
  /** Parsed flags, by their long names (`client-id`, `token-file`, ...). */
  flags: Record<string, string | boolean | undefined>;
  env: NodeJS.ProcessEnv;
  /** The working folder: `.env` is read from here and relative paths resolve against it. */
  cwd: string;
  /** Overrides the user's config folder (tests, embedding). */
  configDir?: string | undefined;
}

interface Sourced<T> {
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
  profile: ['TD_TOKEN_PROFILE'],
  store: ['TD_TOKEN_STORE', 'TD_STORE_TOKENS'],
  storeUrl: ['TD_TOKEN_STORE_URL'],
  tokenFile: ['TD_TOKEN_FILE'],
  encryptionKeyFile: ['TD_TOKEN_KEY_FILE'],
  passphraseFile: ['TD_TOKEN_PASSPHRASE_FILE'],
};

/** The environment variable holding the passphrase (environment or `.env` only; no flag). */
export const PASSPHRASE_ENV = 'TD_TOKEN_PASSPHRASE';

const FILE_KEYS: readonly ConfigKey[] = [
  'provider',
  'clientId',
  'clientSecret',
  'redirectUri',
  'authorizeUrl',
  'tokenUrl',
  'apiUrl',
  'scope',
  'store',
  'storeUrl',
  'tokenFile',
  'encryptionKeyFile',
  'passphraseFile',
];

/** The sandbox's default apps (kept in step with `SANDBOX_DEFAULT_APPS` in `src/sandbox/`). */
const SANDBOX_APPS = {
  tdameritrade: { clientId: 'SANDBOXCONSUMERKEY', redirectUri: 'https://localhost:8000' },
  schwab: {
    clientId: 'SandboxAppKey0000000000000000000',
    clientSecret: 'SandboxSecret000',
    redirectUri: 'https://127.0.0.1:8182',
  },
} as const;

/** The real providers' default redirect URIs (the ones their docs and the seed use). */
const DEFAULT_REDIRECT: Record<'tdameritrade' | 'schwab', string> = {
  tdameritrade: 'https://localhost:8000',
  schwab: 'https://127.0.0.1:8182',
};

/** One layer of configuration: answers a key with a value and where it came from. */
type Layer = (key: ConfigKey) => Sourced<string> | undefined;

function describe(source: ValueSource): string {
  switch (source.kind) {
    case 'flag':
      return source.name;
    case 'env':
      return `the environment variable ${source.name}`;
    case 'dotenv':
      return source.name;
    case 'config-file':
      return source.name;
    default:
      return source.name;
  }
}

function invalid(source: ValueSource, problem: string, fix: string, cause?: unknown): ConfigError {
  return new ConfigError(
    `${describe(source)} ${problem}. ${fix}`,
    cause === undefined ? undefined : { cause },
  );
}

function flagLayer(flags: ConfigInput['flags']): Layer {
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

function envLayer(
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

type FileSection = Partial<Record<ConfigKey, string>>;

interface ConfigFile {
  profile: Sourced<string> | undefined;
  defaults: FileSection;
  profiles: Record<string, FileSection>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readSection(
  obj: Record<string, unknown>,
  where: string,
  file: string,
  warnings: string[],
  allowed: ReadonlySet<string>,
): FileSection {
  const section: FileSection = {};
  for (const [key, value] of Object.entries(obj)) {
    if (!allowed.has(key)) {
      warnings.push(
        `${file}: ignoring unknown setting "${where}${key}". known settings: ${[...FILE_KEYS].join(', ')}`,
      );
      continue;
    }
    if (key === 'profiles' || key === 'profile') continue;
    if (typeof value !== 'string' || value.trim() === '') {
      throw new ConfigError(
        `${file}: "${where}${key}" must be a non-empty string. fix the value or remove the setting`,
      );
    }
    section[key as ConfigKey] = value.trim();
  }
  return section;
}

async function readConfigFile(path: string, warnings: string[]): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ConfigError(
      `cannot read the config file ${path} (${code ?? 'error'}). check its permissions`,
      {
        cause,
      },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(
      `the config file ${path} is not valid JSON (${(cause as Error).message}). fix it or remove it`,
      { cause },
    );
  }
  if (!isPlainObject(value)) {
    throw new ConfigError(
      `the config file ${path} must hold a JSON object like {"clientId": "...", "profiles": {}}. fix it or remove it`,
    );
  }
  const topAllowed = new Set<string>([...FILE_KEYS, 'profile', 'profiles', '$schema']);
  const defaults = readSection(value, '', path, warnings, topAllowed);
  let profile: Sourced<string> | undefined;
  if (value['profile'] !== undefined) {
    if (typeof value['profile'] !== 'string' || value['profile'].trim() === '') {
      throw new ConfigError(
        `${path}: "profile" must be a non-empty string. fix the value or remove it`,
      );
    }
    profile = {
      value: value['profile'].trim(),
      source: { kind: 'config-file', name: `${path}: profile` },
    };
  }
  const profiles: Record<string, FileSection> = {};
  const rawProfiles = value['profiles'];
  if (rawProfiles !== undefined) {
    if (!isPlainObject(rawProfiles)) {
      throw new ConfigError(
        `${path}: "profiles" must be an object of named sections, like {"work": {"clientId": "..."}}. fix it or remove it`,
      );
    }
    const sectionAllowed = new Set<string>(FILE_KEYS);
    for (const [name, section] of Object.entries(rawProfiles)) {
      if (!isPlainObject(section)) {
        throw new ConfigError(`${path}: "profiles.${name}" must be an object. fix it or remove it`);
      }
      profiles[name] = readSection(section, `profiles.${name}.`, path, warnings, sectionAllowed);
    }
  }
  delete (defaults as Record<string, unknown>)['$schema'];
  return { profile, defaults, profiles };
}

function fileLayer(file: ConfigFile | undefined, profile: string, path: string): Layer {
  return (key) => {
    if (!file) return undefined;
    const own = file.profiles[profile]?.[key];
    if (own !== undefined) {
      return {
        value: own,
        source: { kind: 'config-file', name: `${path}: profiles.${profile}.${key}` },
      };
    }
    const shared = file.defaults[key];
    if (shared !== undefined) {
      return { value: shared, source: { kind: 'config-file', name: `${path}: ${key}` } };
    }
    return undefined;
  };
}

async function readDotenv(path: string): Promise<Record<string, string> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw new ConfigError(
      `cannot read ${path} (${code ?? 'error'}). check its permissions or remove it`,
      {
        cause,
      },
    );
  }
  try {
    return parseEnv(text) as Record<string, string>;
  } catch (cause) {
    throw new ConfigError(`${path} is not a valid .env file. fix it or remove it`, { cause });
  }
}

/** A `file:` URL as a path; anything else as it is. */
function fromFileUrl(value: string): string {
  if (!value.startsWith('file:')) return value;
  try {
    return fileURLToPath(value);
  } catch (cause) {
    throw new ConfigError(`"${value}" is not a usable file: URL. give a plain path instead`, {
      cause,
    });
  }
}

function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return (
    h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h)
  );
}

function checkUrl(sourced: Sourced<string>, what: string): string {
  let url: URL;
  try {
    url = new URL(sourced.value);
  } catch {
    throw invalid(
      sourced.source,
      `is not a URL ("${sourced.value}")`,
      `give the full ${what}, like https://host/path`,
    );
  }
  if (url.protocol === 'https:') return sourced.value;
  if (url.protocol === 'http:') {
    if (isLoopback(url.hostname)) return sourced.value;
    throw invalid(
      sourced.source,
      `uses plain http:// for ${url.hostname}, which is not this machine`,
      `use https://, or http:// only with localhost or 127.0.0.1`,
    );
  }
  throw invalid(
    sourced.source,
    `has the scheme ${url.protocol} where https: was expected`,
    `use an https:// URL`,
  );
}

/**
 * Resolve the configuration from every source. Throws {@link ConfigError} naming the flag,
 * variable or file that holds a bad value, and the fix.
 *
 * @example
 * const config = await resolveConfig({ flags: { profile: 'work' }, env: process.env, cwd: process.cwd() });
 * config.sources.clientId // { kind: 'env', name: 'TD_TOKEN_CLIENT_ID' }
 */
export async function resolveConfig(input: ConfigInput): Promise<ResolvedConfig> {
  if (typeof input !== 'object' || input === null) throw new TypeError('"input" must be an object');
  if (typeof input.flags !== 'object' || input.flags === null)
    throw new TypeError('"input.flags" must be an object');
  if (typeof input.env !== 'object' || input.env === null)
    throw new TypeError('"input.env" must be an object');
  if (typeof input.cwd !== 'string' || input.cwd === '')
    throw new TypeError('"input.cwd" must be a string');

  const { env, cwd } = input;
  const warnings: string[] = [];
  const configDir = input.configDir ?? configDirOf(env);
  const configFile = join(configDir, 'config.json');
  const dotenvPath = join(cwd, '.env');

  const [dotenv, file] = await Promise.all([
    readDotenv(dotenvPath),
    readConfigFile(configFile, warnings),
  ]);

  const flags = flagLayer(input.flags);
  const envVars = envLayer(env, 'env', (name) => name);
  const dotenvVars = envLayer(dotenv ?? {}, 'dotenv', (name) => `.env: ${name}`);

  // The profile first: it picks the config file's section.
  let profileSourced: Sourced<string> = flags('profile') ??
    envVars('profile') ??
    dotenvVars('profile') ??
    file?.profile ?? { value: 'default', source: { kind: 'default', name: 'default' } };
  if (!isValidProfileName(profileSourced.value)) {
    throw invalid(
      profileSourced.source,
      `is "${profileSourced.value}", which is not a usable profile name`,
      'use letters, digits, ".", "_" or "-" (at most 64), like "work"',
    );
  }
  const profile = profileSourced.value;
  profileSourced = { value: profile, source: profileSourced.source };

  const layers: Layer[] = [flags, envVars, dotenvVars, fileLayer(file, profile, configFile)];
  const sources: ResolvedConfig['sources'] = { profile: profileSourced.source };
  const lookup = (key: ConfigKey): Sourced<string> | undefined => {
    for (const layer of layers) {
      const found = layer(key);
      if (found) {
        sources[key] = found.source;
        return found;
      }
    }
    return undefined;
  };

  // Provider and app.
  const providerSourced = lookup('provider');
  const clientIdSourced = lookup('clientId');
  let provider: ProviderChoice;
  if (providerSourced) {
    const value = providerSourced.value.toLowerCase() as ProviderChoice;
    if (!PROVIDER_CHOICES.includes(value)) {
      throw invalid(
        providerSourced.source,
        `is "${providerSourced.value}", which is not a provider td-token knows`,
        `use one of ${PROVIDER_CHOICES.join(', ')}`,
      );
    }
    provider = value;
  } else if (!clientIdSourced) {
    provider = `sandbox-${DEFAULT_SANDBOX_FLAVOR}`;
    sources.provider = {
      kind: 'default',
      name: 'default (no client id configured, so the sandbox)',
    };
  } else if (clientIdSourced.source.name.endsWith('CONSUMER_KEY')) {
    provider = 'tdameritrade';
    sources.provider = {
      kind: clientIdSourced.source.kind,
      name: `${clientIdSourced.source.name} (the seed-era TD Ameritrade consumer key)`,
    };
  } else {
    // TD apps have no secret; Schwab apps always have one.
    const secret = lookup('clientSecret');
    provider = secret ? 'schwab' : 'tdameritrade';
    sources.provider = {
      kind: 'default',
      name: secret
        ? 'default (a client secret is configured, so schwab)'
        : 'default (no client secret is configured, so tdameritrade)',
    };
  }

  const sandboxFlavor =
    provider === 'sandbox-tdameritrade'
      ? 'tdameritrade'
      : provider === 'sandbox-schwab'
        ? 'schwab'
        : undefined;
  const protocol: ProviderName = sandboxFlavor ?? (provider as ProviderName);

  let clientId: string;
  let clientSecret: string | undefined;
  const secretSourced = lookup('clientSecret');
  if (clientIdSourced) {
    if (/\s/.test(clientIdSourced.value)) {
      throw invalid(
        clientIdSourced.source,
        'contains white space',
        "copy the app's key again without spaces",
      );
    }
    clientId = clientIdSourced.value;
    clientSecret = secretSourced?.value;
  } else if (sandboxFlavor) {
    const app = SANDBOX_APPS[sandboxFlavor];
    clientId = app.clientId;
    sources.clientId = { kind: 'default', name: `the ${sandboxFlavor} sandbox's default app` };
    if (secretSourced) {
      clientSecret = secretSourced.value;
    } else if ('clientSecret' in app) {
      clientSecret = app.clientSecret;
      sources.clientSecret = {
        kind: 'default',
        name: `the ${sandboxFlavor} sandbox's default app`,
      };
    }
  } else {
    const envName = ENV_NAMES.clientId[0];
    throw new ConfigError(
      `no client id is configured for ${provider}. set --client-id, ${envName} (or CONSUMER_KEY in .env), or "clientId" in ${configFile}`,
    );
  }
  if (protocol === 'schwab' && clientSecret === undefined) {
    throw new ConfigError(
      `no client secret is configured for ${provider}: Schwab apps authenticate with their app key and secret. set --client-secret, TD_TOKEN_CLIENT_SECRET, or "clientSecret" in ${configFile}`,
    );
  }

  const redirectSourced = lookup('redirectUri');
  let redirectUri: string;
  if (redirectSourced) {
    redirectUri = checkUrl(redirectSourced, 'redirect URI registered with your app');
  } else if (sandboxFlavor) {
    redirectUri = SANDBOX_APPS[sandboxFlavor].redirectUri;
    sources.redirectUri = { kind: 'default', name: `the ${sandboxFlavor} sandbox's default app` };
  } else if (protocol === 'generic') {
    throw new ConfigError(
      `no redirect URI is configured for the generic provider. set --redirect-uri or TD_TOKEN_REDIRECT_URI to the callback URL registered with your app`,
    );
  } else {
    redirectUri = DEFAULT_REDIRECT[protocol];
    sources.redirectUri = { kind: 'default', name: `default for ${protocol}` };
  }

  const urls: Record<'authorizeUrl' | 'tokenUrl' | 'apiUrl', string | undefined> = {
    authorizeUrl: undefined,
    tokenUrl: undefined,
    apiUrl: undefined,
  };
  for (const key of ['authorizeUrl', 'tokenUrl', 'apiUrl'] as const) {
    const sourced = lookup(key);
    if (sourced) urls[key] = checkUrl(sourced, key === 'apiUrl' ? 'API base URL' : 'endpoint URL');
  }
  if (protocol === 'generic' && (urls.authorizeUrl === undefined || urls.tokenUrl === undefined)) {
    throw new ConfigError(
      'the generic provider needs both endpoints. set --authorize-url and --token-url (or TD_TOKEN_AUTHORIZE_URL and TD_TOKEN_TOKEN_URL)',
    );
  }
  const scope = lookup('scope')?.value;

  // The store.
  const storeSourced = lookup('store');
  const storeUrlSourced = lookup('storeUrl');
  const tokenFileSourced = lookup('tokenFile');
  const baseFor = (source: ValueSource): string =>
    source.kind === 'config-file' ? dirname(configFile) : cwd;
  let storeKind: StoreKindChoice = 'file';
  if (storeSourced) {
    const value = storeSourced.value.toLowerCase();
    if (!(STORE_KINDS as readonly string[]).includes(value)) {
      throw invalid(
        storeSourced.source,
        `is "${storeSourced.value}", which is not a store td-token has`,
        `use one of ${STORE_KINDS.join(', ')}`,
      );
    }
    storeKind = value as StoreKindChoice;
  } else {
    sources.store = { kind: 'default', name: 'default' };
  }
  const rank = (source: ValueSource | undefined): number =>
    source === undefined
      ? 99
      : ['flag', 'env', 'dotenv', 'config-file', 'default'].indexOf(source.kind);

  let store: StoreChoice;
  if (tokenFileSourced && storeSourced && storeKind !== 'file') {
    // --token-file is short for --store file: the higher source wins; the same source is a conflict.
    const byFile = rank(tokenFileSourced.source);
    const byStore = rank(storeSourced.source);
    if (byFile === byStore) {
      throw new ConfigError(
        `${describe(tokenFileSourced.source)} asks for a token file but ${describe(storeSourced.source)} asks for the ${storeKind} store. --token-file is short for --store file --store-url PATH: drop one of them`,
      );
    }
    if (byFile < byStore) {
      storeKind = 'file';
      sources.store = tokenFileSourced.source;
    }
  } else if (tokenFileSourced && !storeSourced) {
    sources.store = tokenFileSourced.source;
  }

  switch (storeKind) {
    case 'memory': {
      if (storeUrlSourced) {
        warnings.push(
          `ignoring ${describe(storeUrlSourced.source)}: the memory store has no location`,
        );
      }
      store = { kind: 'memory' };
      break;
    }
    case 'file': {
      let pathSourced: Sourced<string> | undefined;
      if (tokenFileSourced && storeUrlSourced) {
        pathSourced =
          rank(tokenFileSourced.source) <= rank(storeUrlSourced.source)
            ? tokenFileSourced
            : storeUrlSourced;
      } else {
        pathSourced = tokenFileSourced ?? storeUrlSourced;
      }
      if (pathSourced) {
        store = {
          kind: 'file',
          path: resolvePath(pathSourced.value, baseFor(pathSourced.source), env),
        };
        sources.storeUrl = pathSourced.source;
      } else {
        store = { kind: 'file', path: join(configDir, 'tokens', `${profile}.json`) };
        sources.storeUrl = { kind: 'default', name: `default for profile ${profile}` };
      }
      break;
    }
    case 'sqlite': {
      let path: string;
      if (storeUrlSourced) {
        path = resolvePath(
          fromFileUrl(storeUrlSourced.value),
          baseFor(storeUrlSourced.source),
          env,
        );
      } else {
        path = join(configDir, 'tokens.db');
        sources.storeUrl = { kind: 'default', name: 'default' };
      }
      store = { kind: 'sqlite', path, profile };
      break;
    }
    case 'redis': {
      if (!storeUrlSourced) {
        throw new ConfigError(
          'the redis store needs a server URL. give it with --store-url redis://host:6379 (or TD_TOKEN_STORE_URL)',
        );
      }
      if (!/^rediss?:\/\/./i.test(storeUrlSourced.value)) {
        throw invalid(
          storeUrlSourced.source,
          'is not a redis:// or rediss:// URL',
          'give the Redis address, like redis://127.0.0.1:6379/0',
        );
      }
      const url = storeUrlSourced.value;
      store = { kind: 'redis', url, profile };
      break;
    }
  }

  const encryption = await resolveEncryption(
    lookup,
    { env, dotenv, baseFor, rank, warnings },
    store.kind,
  );
  if (encryption !== undefined) {
    sources.encryption = encryption.source;
    if (store.kind === 'file' || store.kind === 'sqlite') store.encryption = encryption.choice;
  }

  return {
    profile,
    provider,
    protocol,
    sandboxFlavor,
    clientId,
    clientSecret,
    redirectUri,
    authorizeUrl: urls.authorizeUrl,
    tokenUrl: urls.tokenUrl,
    apiUrl: urls.apiUrl,
    scope,
    store,
    configDir,
    configFile,
    configFileFound: file !== undefined,
    dotenvFile: dotenv === undefined ? undefined : dotenvPath,
    certDir: join(configDir, 'certs'),
    sources,
    warnings,
  };
}

interface EncryptionContext {
  env: NodeJS.ProcessEnv;
  dotenv: Record<string, string> | undefined;
  baseFor: (source: ValueSource) => string;
  rank: (source: ValueSource | undefined) => number;
  warnings: string[];
}

/** The passphrase in a file: its first line (a final newline is not part of it). */
async function readPassphraseFile(sourced: Sourced<string>, path: string, warnings: string[]) {
  let text: string;
  try {
    const info = await stat(path);
    if (!info.isFile() || info.size > 65_536) {
      throw invalid(
        sourced.source,
        `names ${path}, which is not a small regular file`,
        'give the path of a file holding the passphrase on its first line',
      );
    }
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
      warnings.push(
        `the passphrase file ${path} can be read or changed by other users (mode ${mode}). fix it: chmod 600 '${path.replace(/'/g, `'\\''`)}'`,
      );
    }
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    throw invalid(
      sourced.source,
      `names ${path}, which cannot be read (${code ?? 'error'})`,
      'give the path of a file holding the passphrase on its first line',
      cause,
    );
  }
  const passphrase = text.split(/\r?\n/, 1)[0] ?? '';
  if (passphrase === '') {
    throw invalid(
      sourced.source,
      `names ${path}, whose first line is empty`,
      'put the passphrase on its first line',
    );
  }
  return passphrase;
}

/** The key file or passphrase to encrypt the store with, and where it came from; undefined for none. */
async function resolveEncryption(
  lookup: (key: ConfigKey) => Sourced<string> | undefined,
  ctx: EncryptionContext,
  storeKind: StoreChoice['kind'],
): Promise<{ choice: EncryptionChoice; source: ValueSource } | undefined> {
  const keyFile = lookup('encryptionKeyFile');
  const passphraseFile = lookup('passphraseFile');
  let passphrase: Sourced<string> | undefined;
  for (const [vars, kind, label] of [
    [ctx.env, 'env', PASSPHRASE_ENV],
    [ctx.dotenv ?? {}, 'dotenv', `.env: ${PASSPHRASE_ENV}`],
  ] as const) {
    const raw = vars[PASSPHRASE_ENV];
    if (raw !== undefined && raw !== '') {
      // Kept exactly as given: spaces may be part of a passphrase.
      passphrase = { value: raw, source: { kind, name: label } };
      break;
    }
  }
  const candidates = [keyFile, passphraseFile, passphrase].filter(
    (c): c is Sourced<string> => c !== undefined,
  );
  if (candidates.length === 0) return undefined;
  candidates.sort((a, b) => ctx.rank(a.source) - ctx.rank(b.source));
  const [first, second] = candidates;
  if (first === undefined) return undefined;
  if (second !== undefined && ctx.rank(second.source) === ctx.rank(first.source)) {
    throw new ConfigError(
      `both ${describe(first.source)} and ${describe(second.source)} say how to encrypt the store. use one: a passphrase (${PASSPHRASE_ENV} or --passphrase-file) or a key file (--encryption-key-file)`,
    );
  }
  if (storeKind !== 'file' && storeKind !== 'sqlite') {
    ctx.warnings.push(
      `ignoring ${describe(first.source)}: td-token encrypts only the file and sqlite stores, not the ${storeKind} store`,
    );
    return undefined;
  }
  if (first === keyFile) {
    return {
      choice: { keyFile: resolvePath(first.value, ctx.baseFor(first.source), ctx.env) },
      source: first.source,
    };
  }
  if (first === passphraseFile) {
    const path = resolvePath(first.value, ctx.baseFor(first.source), ctx.env);
    return {
      choice: { passphrase: await readPassphraseFile(first, path, ctx.warnings) },
      source: first.source,
    };
  }
  return { choice: { passphrase: first.value }, source: first.source };
}

/** The options `createProvider()` takes, from a resolved configuration. */
export function providerOptionsOf(config: ResolvedConfig): ProviderOptions {
  const options: ProviderOptions = { clientId: config.clientId, redirectUri: config.redirectUri };
  if (config.clientSecret !== undefined) options.clientSecret = config.clientSecret;
  if (config.authorizeUrl !== undefined) options.authorizeUrl = config.authorizeUrl;
  if (config.tokenUrl !== undefined) options.tokenUrl = config.tokenUrl;
  if (config.apiUrl !== undefined) options.apiUrl = config.apiUrl;
  if (config.scope !== undefined) options.scope = config.scope;
  return options;
}

function encryptedNote(encryption: EncryptionChoice | undefined): string {
  if (encryption === undefined) return '';
  return encryption.keyFile !== undefined
    ? `, encrypted with the key file ${encryption.keyFile}`
    : ', encrypted with a passphrase';
}

/** Where a store lives, for people; a Redis password is masked. */
export function describeStore(store: StoreChoice): string {
  switch (store.kind) {
    case 'memory':
      return 'memory (nothing is saved; the token is gone when the process exits)';
    case 'file':
      return `file ${store.path}${encryptedNote(store.encryption)}`;
    case 'sqlite':
      return `sqlite ${store.path} (profile ${store.profile})${encryptedNote(store.encryption)}`;
    case 'redis': {
      let shown = store.url;
      try {
        const url = new URL(store.url);
        if (url.password) url.password = '****';
        shown = url.toString();
      } catch {
        shown = 'redis (unparsable URL)';
      }
      return `redis ${shown} (profile ${store.profile})`;
    }
  }
}
