/**
 * Durations on the command line: the parser lives in `src/util/duration.ts`, shared with the
 * configuration.
 *
 * @internal
 * @module
 */
export { parseDuration } from '../util/duration.js';
