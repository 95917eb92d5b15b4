/**
 * Shared set-up for the token manager's tests: a sandbox on real HTTP, a provider pointed at it,
 * and a browser-less login through the sandbox's own forms.
 */
import { TokenManager, type TokenManagerOptions } from '../../src/manager.js';
import { createAuthorizationRequest, exchangeAuthorizationCode } from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import type { Provider } from '../../src/providers/types.js';
import {
  SANDBOX_DEFAULT_APPS,
  type Sandbox,
  type SandboxSettings,
  startSandbox,
} from '../../src/sandbox/index.js';
import { createStore } from '../../src/stores/index.js';
import type { TokenStore } from '../../src/stores/types.js';
import type { TokenRecord } from '../../src/token.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';

export type Flavor = 'tdameritrade' | 'schwab';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** A provider for the sandbox's default app of `flavor`. */
export function sandboxProvider(sandbox: Sandbox, flavor: Flavor): Provider {
  const app = SANDBOX_DEFAULT_APPS[flavor];
  return createProvider(flavor, {
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri: app.redirectUris[0]!,
    authorizeUrl: sandbox.authorizeUrl,
    tokenUrl: sandbox.tokenUrl,
    apiUrl: sandbox.apiUrl,
  });
}

/** Log in through the sandbox's forms and return the token record, timed by the sandbox clock. */
export async function sandboxLogin(sandbox: Sandbox, provider: Provider): Promise<TokenRecord> {
  const request = createAuthorizationRequest(provider);
  const callback = await approveInSandbox(request.url);
  return exchangeAuthorizationCode(provider, callback, {
    expectedState: request.state,
    ...(request.codeVerifier === undefined ? {} : { codeVerifier: request.codeVerifier }),
    now: sandbox.clock.now,
    retry: false,
  });
}

export interface Setup {
  sandbox: Sandbox;
  provider: Provider;
  store: TokenStore;
  manager: TokenManager;
  login: TokenRecord;
  close(): Promise<void>;
}

/** A sandbox, a memory store holding a fresh login, and a manager on the sandbox clock. */
export async function setup(
  flavor: Flavor,
  options: TokenManagerOptions = {},
  settings: Partial<SandboxSettings> = {},
): Promise<Setup> {
  const sandbox = await startSandbox({ flavor, settings: { rateLimitPerMinute: 0, ...settings } });
  try {
    const provider = sandboxProvider(sandbox, flavor);
    const store = await createStore({ kind: 'memory' });
    const manager = new TokenManager(provider, store, {
      now: sandbox.clock.now,
      retry: false,
      ...options,
    });
    const login = await sandboxLogin(sandbox, provider);
    await manager.saveLogin(login);
    sandbox.resetCounters();
    return {
      sandbox,
      provider,
      store,
      manager,
      login,
      async close() {
        await manager.close();
        await sandbox.close();
      },
    };
  } catch (err) {
    await sandbox.close();
    throw err;
  }
}

/** Move the sandbox clock forward to `at` (ms epoch); never backwards. */
export function advanceTo(sandbox: Sandbox, at: number): void {
  const now = sandbox.clock.now();
  if (at > now) sandbox.clock.advance(at - now);
}
