/**
 * The configuration's old address, kept while imports move to `./config/index.js` (or to the
 * module in `./config/` that holds what they use).
 *
 * @module
 */
export * from './config/index.js';
