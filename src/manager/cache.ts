/**
 * The token manager's memory of the record: a frozen copy with its freshness deadline and the
 * store's revision, and the test the hot path makes before using it.
 *
 * @module
 */
import type { TokenStore } from '../stores/types.js';
import type { TokenRecord } from '../token.js';

/** The record the manager last loaded or saved. */
export interface Cached {
  record: TokenRecord;
  /** `expires_at - marginMs`: the hot path compares the clock against this alone. */
  freshUntil: number;
  /** The store's revision when the record was loaded or saved; `undefined` never matches. */
  revision: string | number | undefined;
  token: Promise<string>;
  recordPromise: Promise<TokenRecord>;
}

/** The entry for `stored`, at the store's `revision`. */
export function cacheEntry(
  stored: TokenRecord,
  revision: string | number | undefined,
  marginMs: number,
): Cached {
  // A frozen copy: callers of the hot path all get this object, and must not change it.
  const record = Object.freeze({ ...stored });
  return {
    record,
    freshUntil: record.expires_at - marginMs,
    revision,
    token: Promise.resolve(record.access_token),
    recordPromise: Promise.resolve(record),
  };
}

/**
 * `c` when the hot path may use it: fresh past the margin by `owner`'s clock, and the store's
 * revision unmoved since it was filled (no other writer touched the store).
 */
export function hotEntry(
  c: Cached | undefined,
  owner: { now(): number; readonly store: TokenStore },
): Cached | undefined {
  if (
    c !== undefined &&
    c.freshUntil > owner.now() &&
    c.revision !== undefined &&
    c.revision === owner.store.revision()
  ) {
    return c;
  }
  return undefined;
}
