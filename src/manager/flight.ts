/**
 * Single flight for the token manager: concurrent callers in one process share one load or
 * refresh, and concurrent forced refreshes share one that starts after the flight in the air.
 *
 * @module
 */
import type { TokenRecord } from '../token.js';

/** The flights in the air: the shared one, and the forced one waiting for its turn. */
export class Flights {
  #inflight: Promise<TokenRecord> | undefined;
  #forced: Promise<TokenRecord> | undefined;

  /** Run `task` unless a flight is in the air already: then share that one. */
  single(task: () => Promise<TokenRecord>): Promise<TokenRecord> {
    if (this.#inflight !== undefined) return this.#inflight;
    const flight = task().finally(() => {
      if (this.#inflight === flight) this.#inflight = undefined;
    });
    this.#inflight = flight;
    return flight;
  }

  /**
   * A forced refresh: concurrent forced callers share one; a load or refresh already in flight
   * finishes first, so that the forced one really goes to the provider.
   */
  forced(task: () => Promise<TokenRecord>): Promise<TokenRecord> {
    if (this.#forced !== undefined) return this.#forced;
    const forced = (async () => {
      for (let i = 0; i < 10 && this.#inflight !== undefined; i++) {
        await this.#inflight.catch(() => undefined);
      }
      return this.single(task);
    })().finally(() => {
      if (this.#forced === forced) this.#forced = undefined;
    });
    this.#forced = forced;
    return forced;
  }
}
