/**
 * Resolving a configuration: the profile first (it picks the config file's section), then the
 * provider and app, the URLs, the store and its encryption. With no client id configured
 * anywhere, the provider is the sandbox (`sandbox-schwab` unless another flavor is named) with
 * the sandbox's default app, so a newcomer can try the whole flow without an account. What a
 * provider needs (a secret, a default callback) is the providers' rule (`src/providers/defaults.ts`).
 *
 * @module
 */
import { dirname, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { configDir as configDirOf, inConfigDir, isValidProfileName } from '../paths.js';
import {
  DEFAULT_SANDBOX_FLAVOR,
  PROVIDER_CHOICES,
  PROVIDER_DEFAULTS,
  type ProviderChoice,
  requiresClientSecret,
  type SandboxFlavorName,
  sandboxDefaultApp,
  sandboxFlavorOf,
} from '../providers/defaults.js';
import type { ProviderName, ProviderOptions } from '../providers/types.js';
import type { StoreSpec } from '../stores/spec.js';
import { parseLongDuration } from '../util/duration.js';
import { resolveEncryption } from './encryption.js';
import { fileLayer, readConfigFile, readDotenv } from './file.js';
import {
  type ConfigKey,
  defaultSource,
  describeSource,
  ENV_NAMES,
  envLayer,
  flagLayer,
  invalid,
  type Layer,
  type Lookup,
  layered,
  type Sourced,
  type ValueSource,
} from './layers.js';
import { type NotifyConfig, type NotifyKey, resolveNotify } from './notify.js';
import { resolveStore } from './store.js';

/** The outcome of {@link resolveConfig}. */
export interface ResolvedConfig {
  profile: string;
  provider: ProviderChoice;
  /** The protocol spoken: `sandbox-schwab` speaks `schwab`. */
  protocol: ProviderName;
  /** `tdameritrade` or `schwab` for a sandbox provider, else undefined. */
  sandboxFlavor: SandboxFlavorName | undefined;
  clientId: string;
  clientSecret: string | undefined;
  redirectUri: string;
  /** Undefined means the provider's default (for a sandbox: a sandbox the CLI finds or starts). */
  authorizeUrl: string | undefined;
  tokenUrl: string | undefined;
  apiUrl: string | undefined;
  scope: string | undefined;
  /** Generic only: how long the server's refresh tokens live, ms; undefined: unknown. */
  refreshTokenLifetimeMs: number | undefined;
  store: StoreSpec;
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
  /**
   * The notification settings (`watch`, `refresh`), unparsed: `notifySettings` in
   * `src/notify/cli-options.ts` reads them below its flags and variables.
   */
  notify: NotifyConfig;
  /** Where each value came from (`encryption`: the key file or passphrase in use). */
  sources: Partial<Record<ConfigKey | NotifyKey | 'encryption', ValueSource>>;
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

type Sources = ResolvedConfig['sources'];

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

/** The provider: named, or inferred from the app (none: the sandbox; a secret: Schwab; else TD). */
function resolveProvider(lookup: Lookup, sources: Sources): ProviderChoice {
  const providerSourced = lookup('provider');
  const clientIdSourced = lookup('clientId');
  if (providerSourced) {
    const value = providerSourced.value.toLowerCase() as ProviderChoice;
    if (!PROVIDER_CHOICES.includes(value)) {
      throw invalid(
        providerSourced.source,
        `is "${providerSourced.value}", which is not a provider td-token knows`,
        `use one of ${PROVIDER_CHOICES.join(', ')}`,
      );
    }
    return value;
  }
  if (!clientIdSourced) {
    sources.provider = defaultSource('no client id is configured, so the sandbox');
    return `sandbox-${DEFAULT_SANDBOX_FLAVOR}`;
  }
  if (clientIdSourced.source.name.endsWith('CONSUMER_KEY')) {
    sources.provider = {
      kind: clientIdSourced.source.kind,
      name: `${clientIdSourced.source.name}, the seed-era TD Ameritrade consumer key`,
    };
    return 'tdameritrade';
  }
  // A client secret means an app that authenticates with one: Schwab's; TD's have none.
  const secret = lookup('clientSecret');
  sources.provider = defaultSource(
    secret
      ? 'a client secret is configured, so schwab'
      : 'no client secret is configured, so tdameritrade',
  );
  return secret ? 'schwab' : 'tdameritrade';
}

interface App {
  clientId: string;
  clientSecret: string | undefined;
  redirectUri: string;
}

/** The app: configured, or for a sandbox the sandbox's own default app. */
function resolveApp(
  lookup: Lookup,
  sources: Sources,
  provider: ProviderChoice,
  protocol: ProviderName,
  sandboxFlavor: SandboxFlavorName | undefined,
  configFile: string,
): App {
  const clientIdSourced = lookup('clientId');
  const secretSourced = lookup('clientSecret');
  const sandboxApp = sandboxFlavor === undefined ? undefined : sandboxDefaultApp(sandboxFlavor);
  const fromSandbox: ValueSource = {
    kind: 'default',
    name: `the ${sandboxFlavor} sandbox's default app`,
  };
  let clientId: string;
  let clientSecret: string | undefined;
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
  } else if (sandboxApp) {
    clientId = sandboxApp.clientId;
    sources.clientId = fromSandbox;
    if (secretSourced) {
      clientSecret = secretSourced.value;
    } else if (sandboxApp.clientSecret !== undefined) {
      clientSecret = sandboxApp.clientSecret;
      sources.clientSecret = fromSandbox;
    }
  } else {
    const envName = ENV_NAMES.clientId[0];
    throw new ConfigError(
      `no client id is configured for ${provider}. set --client-id, ${envName} (or CONSUMER_KEY in .env), or "clientId" in ${configFile}`,
    );
  }
  if (requiresClientSecret(protocol) && clientSecret === undefined) {
    throw new ConfigError(
      `no client secret is configured for ${provider}: Schwab apps authenticate with their app key and secret. set --client-secret, TD_TOKEN_CLIENT_SECRET, or "clientSecret" in ${configFile}`,
    );
  }

  const redirectSourced = lookup('redirectUri');
  const registered = protocol === 'generic' ? undefined : PROVIDER_DEFAULTS[protocol].redirectUri;
  let redirectUri: string;
  if (redirectSourced) {
    redirectUri = checkUrl(redirectSourced, 'redirect URI registered with your app');
  } else if (sandboxApp) {
    redirectUri = sandboxApp.redirectUri;
    sources.redirectUri = fromSandbox;
  } else if (registered !== undefined) {
    redirectUri = registered;
    sources.redirectUri = defaultSource(`the usual callback of ${protocol} apps`);
  } else {
    throw new ConfigError(
      `no redirect URI is configured for the ${protocol} provider. set --redirect-uri or TD_TOKEN_REDIRECT_URI to the callback URL registered with your app`,
    );
  }
  return { clientId, clientSecret, redirectUri };
}

/** The endpoint URLs; the generic provider needs both of its endpoints. */
function resolveUrls(
  lookup: Lookup,
  protocol: ProviderName,
): Record<'authorizeUrl' | 'tokenUrl' | 'apiUrl', string | undefined> {
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
  return urls;
}

/** The refresh token lifetime (generic only), ms. */
function resolveRefreshTokenLifetime(
  lookup: Lookup,
  provider: ProviderChoice,
  protocol: ProviderName,
): number | undefined {
  const sourced = lookup('refreshTokenLifetime');
  if (!sourced) return undefined;
  if (protocol !== 'generic') {
    throw invalid(
      sourced.source,
      `sets the refresh token lifetime, which only the generic provider takes (the provider is ${provider}, whose lifetime td-token knows)`,
      'remove it, or use it with --provider generic',
    );
  }
  const ms = parseLongDuration(sourced.value, describeSource(sourced.source));
  if (ms < 1000) {
    throw invalid(
      sourced.source,
      `is "${sourced.value}", shorter than a second`,
      "give how long the server's refresh tokens live, like 30d or 12h",
    );
  }
  return ms;
}

function checkInput(input: ConfigInput): void {
  if (typeof input !== 'object' || input === null) throw new TypeError('"input" must be an object');
  if (typeof input.flags !== 'object' || input.flags === null)
    throw new TypeError('"input.flags" must be an object');
  if (typeof input.env !== 'object' || input.env === null)
    throw new TypeError('"input.env" must be an object');
  if (typeof input.cwd !== 'string' || input.cwd === '')
    throw new TypeError('"input.cwd" must be a string');
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
  checkInput(input);
  const { env, cwd } = input;
  const warnings: string[] = [];
  const configDir = input.configDir ?? configDirOf(env);
  const configFile = inConfigDir.configFile(configDir);
  const dotenvPath = join(cwd, '.env');

  const [dotenv, file] = await Promise.all([
    readDotenv(dotenvPath),
    readConfigFile(configFile, warnings),
  ]);

  const flags = flagLayer(input.flags);
  const envVars = envLayer(env, 'env', (name) => name);
  const dotenvVars = envLayer(dotenv ?? {}, 'dotenv', (name) => `.env: ${name}`);

  // The profile first: it picks the config file's section.
  const profileSourced: Sourced<string> = flags('profile') ??
    envVars('profile') ??
    dotenvVars('profile') ??
    file?.profile ?? { value: 'default', source: defaultSource() };
  if (!isValidProfileName(profileSourced.value)) {
    throw invalid(
      profileSourced.source,
      `is "${profileSourced.value}", which is not a usable profile name`,
      'use letters, digits, ".", "_" or "-" (at most 64), like "work"',
    );
  }
  const profile = profileSourced.value;

  const layers: Layer[] = [flags, envVars, dotenvVars, fileLayer(file, profile, configFile)];
  const sources: Sources = { profile: profileSourced.source };
  const lookup = layered(layers, sources);

  const provider = resolveProvider(lookup, sources);
  const sandboxFlavor = sandboxFlavorOf(provider);
  const protocol: ProviderName = sandboxFlavor ?? (provider as ProviderName);
  const app = resolveApp(lookup, sources, provider, protocol, sandboxFlavor, configFile);
  const urls = resolveUrls(lookup, protocol);
  const scope = lookup('scope')?.value;
  const refreshTokenLifetimeMs = resolveRefreshTokenLifetime(lookup, provider, protocol);

  // Relative paths in the config file are relative to its folder; others to the working folder.
  const baseFor = (source: ValueSource): string =>
    source.kind === 'config-file' ? dirname(configFile) : cwd;
  const store = resolveStore(lookup, { profile, configDir, env, baseFor, warnings, sources });
  const encryption = await resolveEncryption(
    lookup,
    { env, dotenv, baseFor, warnings },
    store.kind,
  );
  const notify = resolveNotify(
    { flags: input.flags, env, dotenv, file, profile, configFile },
    sources,
  );
  if (encryption !== undefined) {
    sources.encryption = encryption.source;
    if (store.kind !== 'memory') store.encryption = encryption.choice;
  }

  return {
    profile,
    provider,
    protocol,
    sandboxFlavor,
    ...app,
    authorizeUrl: urls.authorizeUrl,
    tokenUrl: urls.tokenUrl,
    apiUrl: urls.apiUrl,
    scope,
    refreshTokenLifetimeMs,
    store,
    configDir,
    configFile,
    configFileFound: file !== undefined,
    dotenvFile: dotenv === undefined ? undefined : dotenvPath,
    certDir: inConfigDir.certDir(configDir),
    notify,
    sources,
    warnings,
  };
}

/** The options `createProvider()` takes, from a resolved configuration. */
export function providerOptionsOf(config: ResolvedConfig): ProviderOptions {
  const options: ProviderOptions = { clientId: config.clientId, redirectUri: config.redirectUri };
  if (config.clientSecret !== undefined) options.clientSecret = config.clientSecret;
  if (config.authorizeUrl !== undefined) options.authorizeUrl = config.authorizeUrl;
  if (config.tokenUrl !== undefined) options.tokenUrl = config.tokenUrl;
  if (config.apiUrl !== undefined) options.apiUrl = config.apiUrl;
  if (config.scope !== undefined) options.scope = config.scope;
  if (config.refreshTokenLifetimeMs !== undefined) {
    options.refreshTokenLifetime = config.refreshTokenLifetimeMs;
  }
  return options;
}
