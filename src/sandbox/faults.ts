/**
 * The queue of faults the token endpoint answers with instead of processing requests.
 *
 * @module
 */

import type { SandboxFault, SandboxFaults } from './types.js';

/** The fault queue plus `take()`, which the token endpoint calls once per request. */
export interface FaultQueue extends SandboxFaults {
  /** Removes and returns the fault for the current request, if any. */
  take(): SandboxFault | undefined;
}

function checkRetryAfterSec(value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new TypeError('"fault.retryAfterSec" must be an integer >= 0');
  }
}

/** Checks a fault given by a caller; a bad one throws a TypeError naming what is wrong. */
export function checkFault(fault: SandboxFault): SandboxFault {
  if (typeof fault !== 'object' || fault === null) {
    throw new TypeError('"fault" must be an object with a "kind"');
  }
  switch (fault.kind) {
    case 'status':
      if (fault.status !== 500 && fault.status !== 502 && fault.status !== 503) {
        throw new TypeError('"fault.status" must be 500, 502 or 503');
      }
      if (fault.body !== undefined && fault.body !== 'json' && fault.body !== 'text') {
        throw new TypeError('"fault.body" must be "json" or "text"');
      }
      if (fault.retryAfterSec !== undefined) checkRetryAfterSec(fault.retryAfterSec);
      return { ...fault };
    case 'html':
      if (
        fault.status !== undefined &&
        fault.status !== 200 &&
        fault.status !== 403 &&
        fault.status !== 503
      ) {
        throw new TypeError('"fault.status" must be 200, 403 or 503');
      }
      return { ...fault };
    case 'malformed-json':
    case 'drop':
      return { ...fault };
    case 'delay':
      if (typeof fault.ms !== 'number' || !Number.isFinite(fault.ms) || fault.ms < 0) {
        throw new TypeError('"fault.ms" must be a finite number >= 0');
      }
      return { ...fault };
    case 'rate-limit':
      checkRetryAfterSec(fault.retryAfterSec);
      return { ...fault };
    default:
      throw new TypeError(
        '"fault.kind" must be one of status, html, malformed-json, delay, drop, rate-limit',
      );
  }
}

/** Makes an empty fault queue. */
export function createFaultQueue(): FaultQueue {
  const queue: { fault: SandboxFault; remaining: number }[] = [];
  return {
    inject(fault: SandboxFault, count = 1): void {
      const checked = checkFault(fault);
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
        throw new TypeError('"count" must be an integer >= 1');
      }
      queue.push({ fault: checked, remaining: count });
    },
    clear(): void {
      queue.length = 0;
    },
    pending(): number {
      let total = 0;
      for (const entry of queue) total += entry.remaining;
      return total;
    },
    take(): SandboxFault | undefined {
      const head = queue[0];
      if (head === undefined) return undefined;
      head.remaining -= 1;
      if (head.remaining <= 0) queue.shift();
      return head.fault;
    },
  };
}
