/**
 * `createStore`: open the store a {@link StoreSpec} names, through its driver (registry.ts).
 * Kept as its own module for the imports that name it.
 *
 * @module
 */

export { createStore, describeStoreSpec } from './registry.js';
export type { StoreSpec } from './spec.js';
