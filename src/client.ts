/**
 * The shortest way in for library users: one call that makes the provider, opens the store and
 * returns a {@link TokenManager}. A `sandbox-*` provider uses the same local sandbox and the
 * same tokens as the command line.
 *
 * @module
 */
import { ConfigError, TdTokenError } from './errors.js';
import { TokenManager, type TokenManagerOptions } from './manager.js';
import { configDir, defaultTokenPath } from './paths.js';
import { createProvider } from './providers/index.js';
import type { Provider, ProviderName, ProviderOptions } from './providers/types.js';
import type { LocalSandbox } from './sandbox-registry.js';
import { createStore } from './stores/create.js';
import type { StoreSpec } from './stores/spec.js';
import type { TokenStore } from './stores/types.js';

/**
 * The providers {@link openTokenManager} takes: the real ones, and the local sandbox of each
 * provider (what `td-token login` logs in to when no client id is configured).
 *
 * @example
 * const name: OpenTokenManagerProvider = process.env.TD_TOKEN_CLIENT_ID ? 'schwab' : 'sandbox-schwab';
 */
export type OpenTokenManagerProvider = ProviderName | 'sandbox-schwab' | 'sandbox-tdameritrade';

const PROVIDERS: readonly OpenTokenManagerProvider[] = [
  'tdameritrade',
  'schwab',
  'generic',
  'sandbox-tdameritrade',
  'sandbox-schwab',
];

/**
 * Options of {@link openTokenManager}: the provider's, the store's and the manager's in one.
 * For a `sandbox-*` provider the client id, secret and redirect URI default to the sandbox's
 * own app.
 *
 * @example
 * const options: OpenTokenManagerOptions = { provider: 'sandbox-schwab' };
 */
export interface OpenTokenManagerOptions
  extends Omit<ProviderOptions, 'clientId' | 'redirectUri'>,
    TokenManagerOptions {
  /** `tdameritrade`, `schwab`, `generic`, or the sandbox of one: `sandbox-schwab`, `sandbox-tdameritrade`. */
  provider: OpenTokenManagerProvider;
  /** TD's consumer key or Schwab's app key (a sandbox provider: default the sandbox's app). */
  clientId?: string | undefined;
  /** The callback URL registered with the app (default: the provider's, e.g. https://127.0.0.1:8182). */
  redirectUri?: string | undefined;
  /** Where the token lives (default: the profile's file in the user's config folder, as for the CLI). */
  store?: StoreSpec | undefined;
  /** The profile whose default token file is used when `store` is not given (default `default`). */
  profile?: string | undefined;
}

/** A token manager that also stops the sandbox it started when closed. */
class SandboxTokenManager extends TokenManager {
  readonly #sandbox: LocalSandbox;

  constructor(
    provider: Provider,
    store: TokenStore,
    options: TokenManagerOptions,
    sandbox: LocalSandbox,
  ) {
    super(provider, store, options);
    this.#sandbox = sandbox;
  }

  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      await this.#sandbox.close();
    }
  }
}

function makeProvider(name: ProviderName, options: ProviderOptions): Provider {
  try {
    return createProvider(name, options);
  } catch (err) {
    if (err instanceof TdTokenError || !(err instanceof TypeError)) throw err;
    throw new ConfigError(
      `openTokenManager: ${err.message}. pass it in the options, e.g. clientId: process.env.TD_TOKEN_CLIENT_ID, or use provider: 'sandbox-schwab' to try the local sandbox`,
      { cause: err },
    );
  }
}

/**
 * Make the provider, open the store and return a token manager over them. Close it when done.
 * With a `sandbox-*` provider and no endpoints given, it uses the running `td-token sandbox` of
 * that flavor, or starts one in this process on the config folder's state file (stopped by
 * `close()`), so the login `td-token login` made with no client id works here as it is.
 *
 * @throws ConfigError for an unknown provider, a missing client id, an insecure URL.
 * @example
 * import { openTokenManager } from 'td-token';
 * const td = await openTokenManager({
 *   provider: 'schwab',
 *   clientId: process.env.TD_TOKEN_CLIENT_ID,
 *   clientSecret: process.env.TD_TOKEN_CLIENT_SECRET,
 * });
 * const accounts = await td.getAccounts();
 * await td.close();
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6 (refreshing an access token)
 */
export async function openTokenManager(options: OpenTokenManagerOptions): Promise<TokenManager> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('"options" must be an object');
  }
  const { provider: name, store: spec, profile, ...rest } = options;
  if (!PROVIDERS.includes(name)) {
    throw new ConfigError(`unknown provider "${String(name)}". use one of ${PROVIDERS.join(', ')}`);
  }
  const storeSpec = spec ?? { kind: 'file', path: defaultTokenPath(profile ?? 'default') };
  if (name !== 'sandbox-schwab' && name !== 'sandbox-tdameritrade') {
    const provider = makeProvider(name, {
      ...rest,
      clientId: rest.clientId as string,
      redirectUri: rest.redirectUri as string,
    });
    return new TokenManager(provider, await createStore(storeSpec), rest);
  }

  const flavor = name === 'sandbox-schwab' ? 'schwab' : 'tdameritrade';
  const { SANDBOX_DEFAULT_APPS } = await import('./sandbox/index.js');
  const app = SANDBOX_DEFAULT_APPS[flavor];
  const clientId = rest.clientId ?? app.clientId;
  const clientSecret = rest.clientSecret ?? app.clientSecret;
  const redirectUri = rest.redirectUri ?? (app.redirectUris[0] as string);
  const given = [rest.authorizeUrl, rest.tokenUrl, rest.apiUrl].some((u) => u !== undefined);
  let local: LocalSandbox | undefined;
  let urls: Pick<ProviderOptions, 'authorizeUrl' | 'tokenUrl' | 'apiUrl'> = rest;
  if (!given) {
    const { openLocalSandbox } = await import('./sandbox-registry.js');
    local = await openLocalSandbox(configDir(process.env), flavor, {
      clientId,
      clientSecret,
      redirectUri,
    });
    urls = local?.urls ?? {};
  }
  try {
    const provider = makeProvider(flavor, {
      ...rest,
      clientId,
      clientSecret,
      redirectUri,
      authorizeUrl: urls.authorizeUrl,
      tokenUrl: urls.tokenUrl,
      apiUrl: urls.apiUrl,
    });
    const store = await createStore(storeSpec);
    return local === undefined
      ? new TokenManager(provider, store, rest)
      : new SandboxTokenManager(provider, store, rest, local);
  } catch (err) {
    await local?.close();
    throw err;
  }
}
