/**
 * What most commands need, built from the configuration: the provider, the store and a token
 * manager, plus the sandbox a `sandbox-*` provider talks to.
 *
 * For a `sandbox-*` provider given no endpoints, the sandbox is, in order:
 * 1. a running `td-token sandbox` of that flavor (found through its record in the config folder);
 * 2. for `login` only, a sandbox started inside this process, which lives as long as the command
 *    (its tokens cannot be refreshed afterwards: say so, and point at `td-token sandbox`);
 * 3. none: commands that need the network report that a person must start a sandbox and log in.
 *
 * @internal
 * @module
 */
import { describeStore, providerOptionsOf, type ResolvedConfig } from '../config.js';
import { LoginRequiredError } from '../errors.js';
import { TokenManager, type TokenManagerOptions } from '../manager.js';
import { createProvider } from '../providers/index.js';
import type { Provider, ProviderOptions } from '../providers/types.js';
import { createStore } from '../stores/create.js';
import type { TokenStore } from '../stores/types.js';
import { loadConfig, storeSpec } from './config-load.js';
import type { CliIO } from './io.js';
import { readRunningSandbox, type SandboxRecord, sandboxRecordFile } from './sandbox-registry.js';

/** Which sandbox, if any, the provider talks to. */
export type SandboxUse =
  | { kind: 'none' }
  | { kind: 'running'; record: SandboxRecord }
  | { kind: 'in-process'; url: string }
  | { kind: 'missing'; flavor: 'tdameritrade' | 'schwab' };

/** Everything a command works with; `close()` it in a `finally`. */
export interface Context {
  config: ResolvedConfig;
  provider: Provider;
  store: TokenStore;
  manager: TokenManager;
  sandbox: SandboxUse;
  close(): Promise<void>;
}

/** Options of {@link openContext}. */
export interface OpenOptions {
  /** The configuration, when the command resolved it already. */
  config?: ResolvedConfig;
  /** Start a sandbox in this process when a `sandbox-*` provider has none (login only). */
  startSandbox?: boolean;
  /** Passed to the token manager. */
  manager?: TokenManagerOptions;
}

function stripSuffix(clientId: string): string {
  return clientId.replace(/@AMER\.OAUTHAP$/i, '');
}

/** The command that starts the sandbox a config wants, for messages. */
export function sandboxCommand(flavor: 'tdameritrade' | 'schwab'): string {
  return flavor === 'schwab' ? 'td-token sandbox' : 'td-token sandbox --flavor tdameritrade';
}

/** The error for a `sandbox-*` provider with no sandbox to talk to; `stored` says whether a token is stored. */
export function noSandboxError(
  flavor: 'tdameritrade' | 'schwab',
  stored: boolean,
): LoginRequiredError {
  const start = `start one with '${sandboxCommand(flavor)}' in another terminal, then run 'td-token login'`;
  return new LoginRequiredError(
    stored
      ? `no ${flavor} sandbox is running, and tokens from a sandbox that stopped cannot be refreshed. ${start}`
      : `not logged in, and no ${flavor} sandbox is running. ${start}`,
  );
}

/** Build the context; the caller must `close()` it. */
export async function openContext(
  io: CliIO,
  values: Record<string, string | boolean | undefined>,
  options: OpenOptions = {},
): Promise<Context> {
  const config = options.config ?? (await loadConfig(io, values));
  const cleanups: (() => Promise<void>)[] = [];
  const providerOptions: ProviderOptions = providerOptionsOf(config);
  let sandbox: SandboxUse = { kind: 'none' };

  const flavor = config.sandboxFlavor;
  if (
    flavor !== undefined &&
    config.authorizeUrl === undefined &&
    config.tokenUrl === undefined &&
    config.apiUrl === undefined
  ) {
    const running = await readRunningSandbox(sandboxRecordFile(config.configDir, flavor));
    if (running) {
      sandbox = { kind: 'running', record: running };
      providerOptions.authorizeUrl = running.authorizeUrl;
      providerOptions.tokenUrl = running.tokenUrl;
      providerOptions.apiUrl = running.apiUrl;
      const source = {
        kind: 'sandbox' as const,
        name: `the running td-token sandbox (pid ${running.pid})`,
      };
      config.sources.authorizeUrl = source;
      config.sources.tokenUrl = source;
      config.sources.apiUrl = source;
    } else if (options.startSandbox) {
      const { startSandbox, SANDBOX_DEFAULT_APPS } = await import('../sandbox/index.js');
      const started = await startSandbox({ flavor });
      cleanups.push(() => started.close());
      const app = SANDBOX_DEFAULT_APPS[flavor];
      if (
        stripSuffix(config.clientId) !== app.clientId ||
        !app.redirectUris.includes(config.redirectUri)
      ) {
        const own: { clientId: string; clientSecret?: string; redirectUris: string[] } = {
          clientId: stripSuffix(config.clientId),
          redirectUris: [config.redirectUri],
        };
        if (config.clientSecret !== undefined) own.clientSecret = config.clientSecret;
        started.registerApp(own);
      }
      sandbox = { kind: 'in-process', url: started.url };
      providerOptions.authorizeUrl = started.authorizeUrl;
      providerOptions.tokenUrl = started.tokenUrl;
      providerOptions.apiUrl = started.apiUrl;
      const source = { kind: 'sandbox' as const, name: 'a sandbox started by this command' };
      config.sources.authorizeUrl = source;
      config.sources.tokenUrl = source;
      config.sources.apiUrl = source;
    } else {
      sandbox = { kind: 'missing', flavor };
    }
  }

  try {
    const provider = createProvider(config.protocol, providerOptions);
    const store = await createStore(storeSpec(config.store, io));
    cleanups.push(() => store.close());
    const manager = new TokenManager(provider, store, options.manager);
    cleanups.push(() => manager.close());
    return {
      config,
      provider,
      store,
      manager,
      sandbox,
      async close() {
        for (const cleanup of cleanups.reverse()) {
          try {
            await cleanup();
          } catch {
            // Closing is best effort; the command's outcome is already decided.
          }
        }
      },
    };
  } catch (err) {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    throw err;
  }
}

/** `file /path/to/token.json` and friends. */
export function storeLocation(config: ResolvedConfig): string {
  return describeStore(config.store);
}
