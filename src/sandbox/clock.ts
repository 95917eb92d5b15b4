/**
 * The sandbox clock: a base clock plus an offset that tests move forward instead of sleeping.
 *
 * @module
 */

import type { SandboxClock } from './types.js';

/** Makes a clock reading `base() + offset`; `advance(ms)` adds to the offset. */
export function createSandboxClock(base: () => number = Date.now): SandboxClock {
  let offset = 0;
  return {
    now: () => base() + offset,
    advance(ms: number): void {
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
        throw new TypeError('"ms" must be a finite number >= 0');
      }
      offset += ms;
    },
  };
}
