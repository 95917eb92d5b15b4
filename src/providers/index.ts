/**
 * Make a provider by name: `tdameritrade`, `schwab`, or `generic` (any RFC 6749 server), with
 * every endpoint overridable so td-token can be pointed at the sandbox, a proxy, or a new host.
 *
 * @module
 */
import { ConfigError } from '../errors.js';
import { PROVIDER_DEFAULTS, PROVIDER_NAMES, type ProviderDefaults } from './defaults.js';
import { GenericProvider } from './generic.js';
import { SchwabProvider } from './schwab.js';
import { TdAmeritradeProvider } from './tdameritrade.js';
import type { Provider, ProviderName, ProviderOptions } from './types.js';

export {
  DEFAULT_SANDBOX_FLAVOR,
  PROVIDER_CHOICES,
  PROVIDER_DEFAULTS,
  PROVIDER_NAMES,
  type ProviderChoice,
  type ProviderDefaults,
  requiresClientSecret,
  type SandboxDefaultApp,
  type SandboxFlavorName,
  sandboxDefaultApp,
  sandboxFlavorOf,
} from './defaults.js';
export { type GenericConfig, GenericProvider } from './generic.js';
export {
  basicAuthorization,
  DEFAULT_REFRESH_LIFETIME_MS,
  formEncode,
  type ProviderConfig,
  Rfc6749Provider,
} from './rfc6749.js';
export {
  nestedSchwabError,
  SCHWAB_HOST,
  SCHWAB_REFRESH_LIFETIME_MS,
  type SchwabConfig,
  SchwabProvider,
} from './schwab.js';
export {
  TD_CLIENT_ID_SUFFIX,
  type TdAmeritradeConfig,
  TdAmeritradeProvider,
  tdClientId,
} from './tdameritrade.js';
export type {
  ClientAuthMethod,
  ErrorAnswer,
  Provider,
  ProviderName,
  ProviderOptions,
  TokenRequest,
} from './types.js';

function pick(value: string | undefined, fallback: string | undefined): string {
  if (value !== undefined && value.trim() !== '') return value.trim();
  return fallback ?? '';
}

/**
 * Make the provider `name` from `options`, filling unset endpoints and the redirect URI from
 * {@link PROVIDER_DEFAULTS}.
 *
 * @throws ConfigError for an unknown provider, a missing client id (or Schwab secret), an
 *   insecure URL (plain http is allowed only on loopback hosts), or a Schwab callback that is
 *   not https on 127.0.0.1.
 * @example
 * const provider = createProvider('schwab', {
 *   clientId: process.env.TD_TOKEN_CLIENT_ID ?? '',
 *   clientSecret: process.env.TD_TOKEN_CLIENT_SECRET,
 *   redirectUri: 'https://127.0.0.1:8182',
 * });
 */
export function createProvider(name: ProviderName, options: ProviderOptions): Provider {
  if (typeof name !== 'string') throw new TypeError('"name" must be a string');
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('"options" must be an object');
  }
  if (typeof options.clientId !== 'string')
    throw new TypeError('"options.clientId" must be a string');
  if (!PROVIDER_NAMES.includes(name)) {
    throw new ConfigError(`unknown provider "${name}". use one of ${PROVIDER_NAMES.join(', ')}`);
  }
  const defaults: ProviderDefaults = PROVIDER_DEFAULTS[name];
  const redirectUri = pick(options.redirectUri, defaults.redirectUri);
  if (redirectUri === '') {
    throw new ConfigError(
      'no redirect URI is set. pass --redirect-uri or set TD_TOKEN_REDIRECT_URI',
    );
  }
  const authorizeUrl = pick(options.authorizeUrl, defaults.authorizeUrl);
  const tokenUrl = pick(options.tokenUrl, defaults.tokenUrl);
  const apiUrl = pick(options.apiUrl, defaults.apiUrl);
  switch (name) {
    case 'tdameritrade':
      return new TdAmeritradeProvider({
        clientId: options.clientId,
        redirectUri,
        authorizeUrl,
        tokenUrl,
        apiUrl,
      });
    case 'schwab':
      return new SchwabProvider({
        clientId: options.clientId,
        clientSecret: options.clientSecret,
        redirectUri,
        authorizeUrl,
        tokenUrl,
        apiUrl,
      });
    case 'generic':
      return new GenericProvider({
        clientId: options.clientId,
        clientSecret: options.clientSecret,
        redirectUri,
        authorizeUrl,
        tokenUrl,
        apiUrl: apiUrl === '' ? undefined : apiUrl,
        scope: options.scope,
        clientAuth: options.clientAuth,
        pkce: options.pkce,
        refreshTokenLifetimeMs: options.refreshTokenLifetime,
      });
  }
}
