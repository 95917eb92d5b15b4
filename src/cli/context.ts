/**
 * What most commands need, built from the configuration: the provider, the store and a token
 * manager, plus the sandbox a `sandbox-*` provider talks to.
 *
 * For a `sandbox-*` provider given no endpoints, the sandbox is, in order:
 * 1. a running `td-token sandbox` of that flavor (found through its record in the config folder);
 * 2. else, for a command that needs the network, a sandbox started inside this process for as
 *    long as the command runs, keeping its tokens in the config folder's state file (the one
 *    `td-token sandbox` uses too), so tokens from any of them keep working with the others;
 * 3. else (`logout`, `status --offline`) none.
 *
 * @internal
 * @module
 */
import { providerOptionsOf, type ResolvedConfig } from '../config/resolve.js';
import { describeStore } from '../config/store.js';
import { TokenManager, type TokenManagerOptions } from '../manager.js';
import type { Provider, ProviderOptions } from '../providers/types.js';
import { openLocalSandbox, type SandboxRecord, sandboxStateFile } from '../sandbox-registry.js';
import type { TokenStore } from '../stores/types.js';
import { storeSpec } from './config-load.js';
import type { CliIO } from './io.js';
import { type CommandContext, loadConfig } from './world.js';

/** Which sandbox, if any, the provider talks to; `stateFile` is where sandboxes keep its tokens. */
export type SandboxUse =
  | { kind: 'none' }
  | { kind: 'running'; record: SandboxRecord; stateFile: string }
  | { kind: 'in-process'; url: string; stateFile: string }
  | { kind: 'not-started'; stateFile: string };

/** Where each setting came from: the configuration's, with the sandbox's endpoints on top. */
export type Sources = ResolvedConfig['sources'];

/** Everything a command works with; `close()` it in a `finally`. */
export interface Context {
  /** The configuration as resolved, untouched. */
  config: ResolvedConfig;
  /** Where each setting came from, with the endpoints a sandbox gave (`config.sources` is not changed). */
  sources: Sources;
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
  /** The command needs no network: start no sandbox when a `sandbox-*` provider has none running. */
  offline?: boolean;
  /** Passed to the token manager. */
  manager?: TokenManagerOptions;
}

/** Build the context in the command's world `cli`; the caller must `close()` it. */
export async function openContext(
  cli: CommandContext,
  io: CliIO,
  values: Record<string, string | boolean | undefined>,
  options: OpenOptions = {},
): Promise<Context> {
  const config = options.config ?? (await loadConfig(cli, io, values));
  const { deps } = cli;
  const cleanups: (() => Promise<void>)[] = [];
  const providerOptions: ProviderOptions = providerOptionsOf(config);
  const sources: Sources = { ...config.sources };
  let sandbox: SandboxUse = { kind: 'none' };

  const flavor = config.sandboxFlavor;
  if (
    flavor !== undefined &&
    config.authorizeUrl === undefined &&
    config.tokenUrl === undefined &&
    config.apiUrl === undefined
  ) {
    const stateFile = sandboxStateFile(config.configDir, flavor);
    const local = await openLocalSandbox(config.configDir, flavor, config, {
      offline: options.offline === true,
      start: deps.startSandbox,
    });
    if (local === undefined) {
      sandbox = { kind: 'not-started', stateFile };
    } else {
      const name =
        local.kind === 'running'
          ? `the running td-token sandbox (pid ${local.record.pid})`
          : 'a sandbox started by this command';
      sandbox =
        local.kind === 'running'
          ? { kind: 'running', record: local.record, stateFile }
          : { kind: 'in-process', url: local.urls.url, stateFile };
      cleanups.push(() => local.close());
      providerOptions.authorizeUrl = local.urls.authorizeUrl;
      providerOptions.tokenUrl = local.urls.tokenUrl;
      providerOptions.apiUrl = local.urls.apiUrl;
      const source = { kind: 'sandbox' as const, name };
      sources.authorizeUrl = source;
      sources.tokenUrl = source;
      sources.apiUrl = source;
    }
  }

  try {
    const provider = await deps.createProvider(config.protocol, providerOptions);
    const store = await deps.createStore(storeSpec(config.store, io));
    cleanups.push(() => store.close());
    const manager = new TokenManager(provider, store, {
      fetch: deps.fetch,
      now: deps.now,
      ...options.manager,
    });
    cleanups.push(() => manager.close());
    return {
      config,
      sources,
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
