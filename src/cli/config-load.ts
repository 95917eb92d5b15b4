/**
 * The configuration as commands load it: resolved from the command's flags and world, with its
 * warnings on stderr, and the store spec with the store's own warnings routed there too. Light
 * on purpose: `td-token token`'s hot path loads this, the store, and nothing else.
 *
 * @internal
 * @module
 */
import { type ResolvedConfig, resolveConfig } from '../config/resolve.js';
import type { StoreSpec } from '../stores/spec.js';
import { rememberSecrets } from './failure.js';
import { type CliIO, warn } from './io.js';

/** Resolve the configuration for a command; warnings go to stderr. */
export async function loadConfig(
  io: CliIO,
  values: Record<string, string | boolean | undefined>,
): Promise<ResolvedConfig> {
  const config = await resolveConfig({ flags: values, env: io.env, cwd: io.cwd });
  for (const w of config.warnings) warn(io, w);
  rememberSecrets(config.clientSecret);
  const store = config.store;
  if (store.kind !== 'memory') rememberSecrets(store.encryption?.passphrase);
  return config;
}

/** The store spec for `createStore`, with warnings (a token file others can read) going to stderr. */
export function storeSpec(store: StoreSpec, io: CliIO): StoreSpec {
  const onWarning = (message: string): void => warn(io, message);
  return store.kind === 'memory' ? store : { ...store, onWarning };
}
