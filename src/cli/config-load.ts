/**
 * The store spec as commands open it: the store's own warnings (a token file others can read)
 * routed to stderr. The configuration itself is loaded through the command's world
 * (`loadConfig` in world.ts). Light on purpose: `td-token token`'s hot path loads it.
 *
 * @internal
 * @module
 */
import type { StoreSpec } from '../stores/spec.js';
import { type CliIO, warn } from './io.js';

/** The store spec for `createStore`, with warnings (a token file others can read) going to stderr. */
export function storeSpec(store: StoreSpec, io: CliIO): StoreSpec {
  const onWarning = (message: string): void => warn(io, message);
  return store.kind === 'memory' ? store : { ...store, onWarning };
}
