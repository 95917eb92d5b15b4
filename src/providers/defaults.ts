/**
 * What each provider means when the caller leaves something out: its production endpoints and
 * registered callback URL, whether its apps carry a secret, the provider choices a configuration
 * can name (the real providers and the sandbox's flavors), and the sandbox app a `sandbox-*`
 * provider uses when no app is configured. Data only, light enough for `td-token token`'s path.
 *
 * @module
 */
import { SANDBOX_DEFAULT_APPS } from '../sandbox/defaults.js';
import type { ProviderName } from './types.js';

/** Each provider's endpoints and registered callback URL when the caller gives none. */
export interface ProviderDefaults {
  authorizeUrl?: string;
  tokenUrl?: string;
  apiUrl?: string;
  redirectUri?: string;
}

/** The providers' production endpoints. The generic provider has none: its URLs are required. */
export const PROVIDER_DEFAULTS: Readonly<Record<ProviderName, Readonly<ProviderDefaults>>> =
  Object.freeze({
    tdameritrade: Object.freeze({
      authorizeUrl: 'https://auth.tdameritrade.com/auth',
      tokenUrl: 'https://api.tdameritrade.com/v1/oauth2/token',
      apiUrl: 'https://api.tdameritrade.com',
      redirectUri: 'https://localhost:8000',
    }),
    schwab: Object.freeze({
      authorizeUrl: 'https://api.schwabapi.com/v1/oauth/authorize',
      tokenUrl: 'https://api.schwabapi.com/v1/oauth/token',
      apiUrl: 'https://api.schwabapi.com',
      redirectUri: 'https://127.0.0.1:8182',
    }),
    generic: Object.freeze({}),
  });

/** The provider names `createProvider` knows. */
export const PROVIDER_NAMES: readonly ProviderName[] = ['tdameritrade', 'schwab', 'generic'];

/**
 * Whether the provider's apps always authenticate with a secret: Schwab's do (app key and
 * secret); TD's have none; a generic server's may or may not.
 */
export function requiresClientSecret(protocol: ProviderName): boolean {
  return protocol === 'schwab';
}

/** The sandbox's flavors: each speaks one real provider's protocol. */
export type SandboxFlavorName = 'tdameritrade' | 'schwab';

/** Every provider a configuration can name. `sandbox-*` speak the flavor's protocol to the sandbox. */
export type ProviderChoice = ProviderName | `sandbox-${SandboxFlavorName}`;

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

/** The sandbox flavor a provider choice names, or undefined for a real provider. */
export function sandboxFlavorOf(choice: ProviderChoice): SandboxFlavorName | undefined {
  if (choice === 'sandbox-tdameritrade') return 'tdameritrade';
  if (choice === 'sandbox-schwab') return 'schwab';
  return undefined;
}

/** The app a `sandbox-*` provider uses when none is configured: one the sandbox registers itself. */
export interface SandboxDefaultApp {
  clientId: string;
  clientSecret: string | undefined;
  redirectUri: string;
}

/** The sandbox's own default app for `flavor` (read from the sandbox, so the two cannot drift). */
export function sandboxDefaultApp(flavor: SandboxFlavorName): SandboxDefaultApp {
  const app = SANDBOX_DEFAULT_APPS[flavor];
  const redirectUri = app.redirectUris[0];
  if (redirectUri === undefined) {
    throw new TypeError(`the ${flavor} sandbox's default app has no redirect URI`);
  }
  return { clientId: app.clientId, clientSecret: app.clientSecret, redirectUri };
}
