/**
 * A store wrapper that keeps the fleet's notification state across saves that do not carry it:
 * a refresh builds a new record from the provider's answer, which knows nothing of the
 * `notifications` field, and saving that record would forget what was sent (and so send it
 * again). Through this wrapper, a save without the field takes it from the stored record, read
 * under the same lock.
 *
 * @module
 */
import type { LockOptions, StoreLock, TokenStore } from '../stores/types.js';
import type { TokenRecord } from '../token.js';
import { STATE_FIELD } from './state.js';

function fieldOf(record: TokenRecord | undefined): unknown {
  return (record as unknown as Record<string, unknown> | undefined)?.[STATE_FIELD];
}

function carrying(record: TokenRecord, value: unknown): TokenRecord {
  if (value === undefined || fieldOf(record) !== undefined) return record;
  return { ...record, [STATE_FIELD]: value } as TokenRecord;
}

/**
 * `store`, with saves that keep the stored record's notification state when the saved record
 * has none. Everything else passes through.
 *
 * @example
 * const manager = new TokenManager(provider, keepNotificationState(store));
 */
export function keepNotificationState(store: TokenStore): TokenStore {
  if (typeof store !== 'object' || store === null || typeof store.lock !== 'function') {
    throw new TypeError('"store" must be a TokenStore');
  }
  /** Counts loads, so a lock knows whether the last one happened while it was held. */
  let loads = 0;
  let last: unknown;
  const load = async (): Promise<TokenRecord | undefined> => {
    const record = await store.load();
    loads += 1;
    last = fieldOf(record);
    return record;
  };
  const wrapped: TokenStore = {
    kind: store.kind,
    location: store.location,
    load,
    async save(record) {
      if (fieldOf(record) !== undefined) return store.save(record);
      return store.save(carrying(record, fieldOf(await store.load())));
    },
    clear: () => store.clear(),
    async lock(options?: LockOptions): Promise<StoreLock> {
      const lock = await store.lock(options);
      const takenAt = loads;
      return {
        async save(record) {
          if (fieldOf(record) !== undefined) return lock.save(record);
          // A load since the lock was taken read what is stored; otherwise read it now.
          const value = loads > takenAt ? last : fieldOf(await store.load());
          return lock.save(carrying(record, value));
        },
        release: () => lock.release(),
      };
    },
    revision: () => store.revision(),
    close: () => store.close(),
  };
  if (store.compareAndSave !== undefined) {
    const cas = store.compareAndSave.bind(store);
    wrapped.compareAndSave = (expected, record) => cas(expected, carrying(record, last));
  }
  if (store.onChange !== undefined) wrapped.onChange = store.onChange.bind(store);
  return wrapped;
}
