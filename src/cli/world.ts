/**
 * The world a command runs in, in the manner of `gh`'s factory: the dependencies it reaches
 * (configuration resolution, store and provider factories, `fetch`, the clock, the sandbox
 * starter), the secrets this run has seen (masked in every error line), and the login command
 * the errors point at. `main` builds one per run; tests build one with a sandbox, a clock or
 * faults of their own and run commands in-process.
 *
 * The defaults load the provider and sandbox modules only when a command asks for them, so
 * `td-token token`'s hot path stays light.
 *
 * @internal
 * @module
 */
import { type ConfigInput, type ResolvedConfig, resolveConfig } from '../config/resolve.js';
import type { Provider, ProviderName, ProviderOptions } from '../providers/types.js';
import type { Sandbox, SandboxApp } from '../sandbox/index.js';
import type { CliSandboxOptions, ConfiguredApp } from '../sandbox-registry.js';
import { createStore } from '../stores/create.js';
import type { StoreSpec } from '../stores/spec.js';
import type { TokenStore } from '../stores/types.js';
import { type CliIO, warn } from './io.js';

type Flavor = 'tdameritrade' | 'schwab';

/** What commands reach outside themselves through; every field can be replaced in tests. */
export interface CliDeps {
  /** Resolve the configuration from flags, environment, `.env` and the config file. */
  resolveConfig(input: ConfigInput): Promise<ResolvedConfig>;
  /** Open the store a spec names. */
  createStore(spec: StoreSpec): Promise<TokenStore>;
  /** Make a provider (loaded only when a command needs one). */
  createProvider(name: ProviderName, options: ProviderOptions): Promise<Provider>;
  /** The fetch for the token endpoint and API calls. */
  fetch: typeof fetch;
  /** The clock, ms since the epoch. */
  now(): number;
  /** Start a sandbox keeping its tokens in the config folder (see `startCliSandbox`). */
  startSandbox(
    configDir: string,
    flavor: Flavor,
    app: ConfiguredApp | undefined,
    options?: CliSandboxOptions,
  ): Promise<{ sandbox: Sandbox; ownApp: SandboxApp | undefined }>;
  /** For commands that run until stopped: install SIGINT/SIGTERM handlers, return their signal. */
  installSignals?: (() => AbortSignal) | undefined;
}

/** The real world: the process's fetch and clock, the real factories. */
export function defaultDeps(): CliDeps {
  return {
    resolveConfig,
    createStore,
    async createProvider(name, options) {
      const { createProvider } = await import('../providers/index.js');
      return createProvider(name, options);
    },
    fetch: (input, init) => globalThis.fetch(input, init),
    now: () => Date.now(),
    async startSandbox(configDir, flavor, app, options) {
      const { startCliSandbox } = await import('../sandbox-registry.js');
      return startCliSandbox(configDir, flavor, app, options);
    },
  };
}

/** Secrets this run has seen (tokens, the client secret, a passphrase); masked in every error line. */
export class KnownSecrets implements Iterable<string> {
  readonly #values = new Set<string>();

  /** Remember secrets to mask; empty and missing values are skipped. */
  remember(...values: (string | undefined)[]): void {
    for (const v of values) if (v) this.#values.add(v);
  }

  [Symbol.iterator](): Iterator<string> {
    return this.#values[Symbol.iterator]();
  }
}

/** What a command gets besides its streams and flags. */
export interface CommandContext {
  deps: CliDeps;
  secrets: KnownSecrets;
  /**
   * The login command with this run's configuration flags; errors that say "run 'td-token
   * login'" are shown with it, so the fix can be pasted as it is.
   */
  loginCommand: string;
}

/** A context over `deps` (the real world where not given), with no secrets seen yet. */
export function commandContext(deps: Partial<CliDeps> = {}): CommandContext {
  const all: CliDeps = { ...defaultDeps() };
  for (const [key, value] of Object.entries(deps)) {
    if (value !== undefined) (all as unknown as Record<string, unknown>)[key] = value;
  }
  return { deps: all, secrets: new KnownSecrets(), loginCommand: 'td-token login' };
}

/**
 * Resolve the configuration for a command through `cli.deps`; its warnings go to stderr, and its
 * secrets (the client secret, a passphrase) are remembered to be masked.
 */
export async function loadConfig(
  cli: CommandContext,
  io: CliIO,
  values: Record<string, string | boolean | undefined>,
): Promise<ResolvedConfig> {
  const config = await cli.deps.resolveConfig({ flags: values, env: io.env, cwd: io.cwd });
  for (const w of config.warnings) warn(io, w);
  cli.secrets.remember(config.clientSecret);
  const store = config.store;
  if (store.kind !== 'memory') cli.secrets.remember(store.encryption?.passphrase);
  return config;
}
