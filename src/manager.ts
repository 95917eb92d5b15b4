/**
 * The token manager: always a valid access token, one refresh at a time.
 *
 * - In one process, concurrent callers share one refresh (single flight).
 * - Across processes and machines the store's lock decides: whoever takes it second reads the
 *   store again and uses the token the first one saved instead of refreshing again.
 * - TD refresh tokens are renewed (`access_type=offline`) only inside a window before they expire;
 *   Schwab's cannot be renewed, so the manager warns as their end comes near.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import { authorizedFetch, getAccounts, getQuotes } from './api.js';
import { isTdTokenError, LoginRequiredError, StoreError } from './errors.js';
import { type Cached, cacheEntry, hotEntry } from './manager/cache.js';
import { ExpiryWarnings, shouldRenew } from './manager/expiry.js';
import { Flights } from './manager/flight.js';
import { type LockWatchContext, lockOrFresh, type RefreshMode } from './manager/lock-watch.js';
import { noTokenError, refreshTokenExpiredError } from './manager/messages.js';
import { resolveManagerArgs } from './manager/options.js';
import {
  type RefreshCallContext,
  refreshWithinLock,
  saveRenewalAfterLostLock,
} from './manager/refresh-call.js';
import { RefusedTokens } from './manager/refused.js';
import type { TokenManagerEvents, TokenManagerOptions } from './manager/types.js';
import type { Provider } from './providers/types.js';
import type { StoreLock, TokenStore } from './stores/types.js';
import { isAccessTokenFresh, isRefreshTokenExpired, type TokenRecord } from './token.js';

export type {
  RefreshEvent,
  RefreshTokenExpiringEvent,
  TokenManagerEvents,
  TokenManagerOptions,
} from './manager/types.js';

/**
 * Hands out valid access tokens for one profile, refreshing them through the provider and
 * keeping them in a store.
 *
 * @example
 * const store = await createStore({ kind: 'file', path: 'token.json' });
 * const manager = new TokenManager(createProvider('schwab', options), store);
 * manager.on('refresh-token-expiring', ({ hoursLeft }) => console.warn(`log in again within ${hoursLeft} h`));
 * const token = await manager.getAccessToken();
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export class TokenManager extends EventEmitter<TokenManagerEvents> {
  /** The provider tokens are refreshed with. */
  readonly provider: Provider;
  /** Where the token record lives. */
  readonly store: TokenStore;
  /** See {@link TokenManagerOptions.marginMs}. */
  readonly marginMs: number;
  /** See {@link TokenManagerOptions.renewWithinDays}. */
  readonly renewWithinDays: number;
  /** See {@link TokenManagerOptions.warnAtHours}; sorted from the most hours to the fewest. */
  readonly warnAtHours: readonly number[];
  /** The clock the manager runs on. */
  readonly now: () => number;

  readonly #fetch: typeof fetch | undefined;
  readonly #lockWaitMs: number | undefined;
  readonly #lockTtlMs: number;
  #cached: Cached | undefined;
  /** The load or refresh in the air, shared by concurrent callers. */
  readonly #flights = new Flights();
  /** The `refresh-token-expiring` thresholds already warned about. */
  readonly #warnings = new ExpiryWarnings();
  /** Login-required errors already announced with the `login-required` event. */
  readonly #reportedErrors = new WeakSet<LoginRequiredError>();
  /**
   * Refresh tokens the token endpoint refused in this process: never sent again (the store
   * remembers them too, as `refresh_token_refused_at`, for other processes).
   */
  readonly #refused = new RefusedTokens();
  /** What the lock-or-fresh watcher needs of this manager. */
  readonly #watch: LockWatchContext;
  /** What a call to the token endpoint needs of this manager. */
  readonly #call: RefreshCallContext;

  constructor(provider: Provider, store: TokenStore, options: TokenManagerOptions = {}) {
    super();
    const resolved = resolveManagerArgs(provider, store, options);
    this.provider = provider;
    this.store = store;
    this.marginMs = resolved.marginMs;
    this.renewWithinDays = resolved.renewWithinDays;
    this.warnAtHours = resolved.warnAtHours;
    this.now = resolved.now;
    this.#fetch = resolved.fetch;
    this.#lockWaitMs = resolved.lockWaitMs;
    this.#lockTtlMs = resolved.lockTtlMs;
    this.#watch = {
      store,
      now: () => this.now(),
      marginMs: this.marginMs,
      lockWaitMs: this.#lockWaitMs,
      tryLock: () => this.#lock(0),
      use: (stored, revision, now) => {
        this.#remember(stored, revision);
        this.#checkExpiring(stored, now);
      },
    };
    this.#call = {
      provider,
      now: this.now,
      fetch: this.#fetch,
      retry: resolved.retry,
      lockTtlMs: this.#lockTtlMs,
    };
  }

  /** The cached entry when the hot path may use it (see {@link hotEntry}). */
  #hot(): Cached | undefined {
    return hotEntry(this.#cached, this);
  }

  /**
   * A valid access token, good for at least `marginMs` more. From memory when the cached one is
   * fresh and no other writer touched the store; otherwise from the store, refreshing when it
   * must. Throws {@link LoginRequiredError} when only a person can fix things.
   */
  getAccessToken(): Promise<string> {
    const c = this.#hot();
    if (c !== undefined) return c.token;
    return this.#reported(this.#obtain()).then((r) => r.access_token);
  }

  /** Like {@link getAccessToken}, but the whole token record (shared and frozen when it comes from memory: copy it to change it). */
  getToken(): Promise<TokenRecord> {
    const c = this.#hot();
    if (c !== undefined) return c.recordPromise;
    return this.#reported(this.#obtain());
  }

  /**
   * Refresh now if the access token is no longer fresh, or always with `force`. Returns the
   * record in the store afterwards (which may be another process's fresh refresh).
   */
  refresh(options: { force?: boolean } = {}): Promise<TokenRecord> {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('"options" must be an object');
    }
    return this.#reported(this.#refresh(options));
  }

  #refresh(options: { force?: boolean }): Promise<TokenRecord> {
    if (!options.force) return this.#obtain();
    return this.#force({ force: true });
  }

  /**
   * Refresh after an API call answered 401 to `rejected`: unless another caller or process has
   * already replaced that token with a fresh one, force a refresh.
   *
   * @internal used by the authenticated fetch
   */
  refreshRejected(rejected: string): Promise<TokenRecord> {
    const c = this.#cached;
    if (c !== undefined && c.record.access_token !== rejected && c.freshUntil > this.now()) {
      if (c.revision !== undefined && c.revision === this.store.revision()) return c.recordPromise;
    }
    return this.#reported(this.#force({ force: true, rejected }));
  }

  /**
   * Log in: when a stored refresh token is still alive, try a silent refresh first; otherwise
   * (or with `forceBrowser`, or when the silent refresh is refused) call `interactive` and save
   * what it returns.
   */
  async login(
    interactive: () => Promise<TokenRecord>,
    options: { forceBrowser?: boolean } = {},
  ): Promise<TokenRecord> {
    if (typeof interactive !== 'function') {
      throw new TypeError('"interactive" must be a function returning a token record');
    }
    if (!options.forceBrowser) {
      const stored = await this.store.load();
      if (stored !== undefined && !isRefreshTokenExpired(stored, this.now())) {
        try {
          // Not through the public refresh(): a refusal here is no `login-required` event, since
          // the browser login below is what it requires.
          return await this.#refresh({ force: true });
        } catch (err) {
          // A provider outage or a store failure would defeat a browser login too.
          if (!isTdTokenError(err) || err.transient || err instanceof StoreError) throw err;
        }
      }
    }
    const record = await interactive();
    await this.saveLogin(record);
    return record;
  }

  /** Save a record from a browser login (under the store's lock) and use it from now on. */
  async saveLogin(record: TokenRecord): Promise<void> {
    if (typeof record !== 'object' || record === null || typeof record.access_token !== 'string') {
      throw new TypeError('"record" must be a token record');
    }
    const lock = await this.#lock();
    try {
      await lock.save(record);
      // A login that handed back a refresh token refused before is trusted again.
      this.#refused.forget(record.refresh_token);
      this.#remember(record, this.store.revision());
    } finally {
      await lock.release();
    }
  }

  /** Forget the login: clear the store and the cache. */
  async logout(): Promise<void> {
    const lock = await this.#lock();
    try {
      this.#cached = undefined;
      await this.store.clear();
    } finally {
      await lock.release();
    }
    this.#cached = undefined;
  }

  /** The stored record as it is, without refreshing; undefined when there is none. */
  peek(): Promise<TokenRecord | undefined> {
    return this.store.load();
  }

  /**
   * `fetch` with `Authorization: Bearer <token>`. A 401 refreshes and retries once (not for a
   * streamed body, which cannot be sent twice: that throws `token_expired` after the refresh); a
   * 403 throws {@link ForbiddenError}; other failures throw the provider's classification of the
   * answer.
   */
  fetch(input: string | URL, init?: RequestInit): Promise<Response> {
    return authorizedFetch(this.#apiClient(), input, init);
  }

  /** The accounts the login may see (TD `/v1/accounts`, Schwab `/trader/v1/accounts/accountNumbers`). */
  getAccounts(): Promise<unknown> {
    return getAccounts(this.#apiClient());
  }

  /** Quotes for `symbols` (TD `/v1/marketdata/quotes`, Schwab `/marketdata/v1/quotes`). */
  getQuotes(symbols: string[]): Promise<unknown> {
    return getQuotes(this.#apiClient(), symbols);
  }

  /** Close the store given to the constructor (its connections, watchers and handles). */
  async close(): Promise<void> {
    this.#cached = undefined;
    await this.store.close();
  }

  #apiClient() {
    return {
      provider: this.provider,
      fetch: this.#fetch ?? globalThis.fetch,
      getAccessToken: () => this.getAccessToken(),
      refreshRejected: (token: string) => this.refreshRejected(token),
    };
  }

  /** The slow path: one shared flight that loads the store and refreshes if it must. */
  #obtain(): Promise<TokenRecord> {
    return this.#flights.single(() => this.#loadOrRefresh());
  }

  /** A forced refresh, shared by concurrent forced callers (see {@link Flights.forced}). */
  #force(mode: { force: true; rejected?: string }): Promise<TokenRecord> {
    return this.#flights.forced(() => this.#refreshUnderLock(mode));
  }

  async #loadOrRefresh(): Promise<TokenRecord> {
    const now = this.now();
    const revision = this.store.revision();
    const c = this.#cached;
    if (c !== undefined && revision !== undefined && c.revision === revision) {
      // The store still holds what we cached, and it is due: no need to read it first.
      this.#throwIfRefused(c.record);
      return this.#refreshUnderLock({ force: false }, revision);
    }
    let stored: TokenRecord | undefined;
    try {
      stored = await this.store.load();
    } catch (err) {
      // A store that is briefly unreachable (Redis restarting) need not stop a fresh cached token.
      const c = this.#cached;
      if (isTdTokenError(err, 'store_error') && c !== undefined && c.freshUntil > this.now()) {
        return c.record;
      }
      throw err;
    }
    if (stored === undefined) {
      this.#cached = undefined;
      throw noTokenError(this.store.location);
    }
    if (isAccessTokenFresh(stored, now, this.marginMs)) {
      this.#remember(stored, revision);
      this.#checkExpiring(stored, now);
      return stored;
    }
    this.#throwIfRefused(stored);
    return this.#refreshUnderLock({ force: false }, revision);
  }

  /** Throw {@link LoginRequiredError} when `record`'s refresh token was refused before. */
  #throwIfRefused(record: TokenRecord): void {
    this.#refused.check(record, this.provider.tokenUrl, this.store.location);
  }

  /** Remember the refusal of `stored`'s refresh token, here and in the store (under `lock`). */
  #rememberRefusal(stored: TokenRecord, lock: StoreLock): Promise<void> {
    return this.#refused.remember(
      stored,
      lock,
      () => this.now(),
      (marked) => this.#remember(marked, this.store.revision()),
      () => {
        this.#cached = undefined;
      },
    );
  }

  /**
   * Take the lock, read the store again, and refresh unless another process already did.
   * Nothing is saved unless the refresh succeeded, so a failure never loses the refresh token.
   */
  async #refreshUnderLock(
    mode: RefreshMode,
    knownRevision?: string | number,
  ): Promise<TokenRecord> {
    const acquired = await lockOrFresh(this.#watch, mode, knownRevision);
    if ('record' in acquired) return acquired.record;
    const { lock } = acquired;
    try {
      const revision = this.store.revision();
      const stored = await this.store.load();
      const now = this.now();
      if (stored === undefined) {
        this.#cached = undefined;
        throw noTokenError(this.store.location);
      }
      const fresh = isAccessTokenFresh(stored, now, this.marginMs);
      if (
        fresh &&
        (!mode.force || (mode.rejected !== undefined && stored.access_token !== mode.rejected))
      ) {
        // Another process refreshed while we waited for the lock.
        this.#remember(stored, revision);
        this.#checkExpiring(stored, now);
        return stored;
      }
      this.#throwIfRefused(stored);
      if (isRefreshTokenExpired(stored, now)) {
        throw refreshTokenExpiredError(this.store.location, stored);
      }
      const renewRefreshToken = shouldRenew(this.provider, stored, now, this.renewWithinDays);
      const record = await refreshWithinLock(this.#call, stored, renewRefreshToken, () =>
        this.#rememberRefusal(stored, lock),
      );
      const renewed = record.refresh_token !== stored.refresh_token;
      try {
        await lock.save(record);
      } catch (err) {
        if (!isTdTokenError(err, 'lock_timeout')) throw err;
        // Our lock was taken over: the token is valid, but the store now belongs to the new
        // holder. A renewal is saved all the same while the store still holds the refresh token
        // it started from (the provider may have retired that one); otherwise it keeps the
        // newer record it holds.
        if (!renewed || !(await saveRenewalAfterLostLock(this.store, stored, record))) {
          this.#cached = undefined;
          return record;
        }
      }
      this.#remember(record, this.store.revision());
      this.emit('refresh', { expiresAt: record.expires_at, refreshTokenRenewed: renewed });
      this.#checkExpiring(record, this.now());
      return record;
    } finally {
      await lock.release();
    }
  }

  #lock(waitMs = this.#lockWaitMs): Promise<StoreLock> {
    return this.store.lock({
      ttlMs: this.#lockTtlMs,
      ...(waitMs === undefined ? {} : { waitMs }),
    });
  }

  #remember(stored: TokenRecord, revision: string | number | undefined): void {
    this.#cached = cacheEntry(stored, revision, this.marginMs);
  }

  /**
   * Emit `refresh-token-expiring` once per threshold crossed (per refresh token, per process);
   * never for an assumed expiry (a generic server that did not say), which may be wrong.
   */
  #checkExpiring(record: TokenRecord, now: number): void {
    const event = this.#warnings.due(record, now, this.warnAtHours);
    if (event !== undefined) this.emit('refresh-token-expiring', event);
  }

  /**
   * What a public entry point returns: `flight`, and once it fails with a
   * {@link LoginRequiredError}, the `login-required` event for that error (once, however many
   * callers shared the flight).
   */
  #reported<T>(flight: Promise<T>): Promise<T> {
    return flight.catch((err: unknown) => {
      if (err instanceof LoginRequiredError && !this.#reportedErrors.has(err)) {
        this.#reportedErrors.add(err);
        this.emit('login-required', err);
      }
      throw err;
    });
  }
}
