/**
 * The shortest way in for library users: one call that makes the provider, opens the store and
 * returns a {@link TokenManager}.
 *
 * @module
 */
import { TokenManager, type TokenManagerOptions } from './manager.js';
import { defaultTokenPath } from './paths.js';
import { createProvider } from './providers/index.js';
import type { ProviderName, ProviderOptions } from './providers/types.js';
import { createStore } from './stores/create.js';
import type { StoreSpec } from './stores/spec.js';

/** Options of {@link openTokenManager}: the provider's, the store's and the manager's in one. */
export interface OpenTokenManagerOptions extends ProviderOptions, TokenManagerOptions {
  /** `tdameritrade`, `schwab` or `generic`. */
  provider: ProviderName;
  /** Where the token lives (default: the profile's file in the user's config folder). */
  store?: StoreSpec | undefined;
  /** The profile whose default token file is used when `store` is not given (default `default`). */
  profile?: string | undefined;
}

/**
 * Make the provider, open the store and return a token manager over them. Close it when done.
 *
 * @example
 * const td = await openTokenManager({
 *   provider: 'schwab',
 *   clientId: process.env.SCHWAB_APP_KEY!,
 *   clientSecret: process.env.SCHWAB_APP_SECRET!,
 *   redirectUri: 'https://127.0.0.1:8182',
 *   store: { kind: 'file', path: 'output/token.json' },
 * });
 * const res = await td.fetch('https://api.schwabapi.com/trader/v1/accounts/accountNumbers');
 * await td.close();
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export async function openTokenManager(options: OpenTokenManagerOptions): Promise<TokenManager> {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('"options" must be an object');
  }
  const { provider: name, store: spec, profile, ...rest } = options;
  const provider = createProvider(name, rest);
  const store = await createStore(
    spec ?? { kind: 'file', path: defaultTokenPath(profile ?? 'default') },
  );
  return new TokenManager(provider, store, rest);
}
