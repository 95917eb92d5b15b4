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
import { isTdTokenError, LoginRequiredError, ProviderError, StoreError } from './errors.js';
import { type RetryOptions, refreshAccessToken } from './oauth/index.js';
import type { Provider } from './providers/types.js';
import type { StoreLock, TokenStore } from './stores/types.js';
import {
  isAccessTokenFresh,
  isRefreshTokenExpired,
  isRefreshTokenExpiryKnown,
  type TokenRecord,
} from './token.js';
import { backoffMs } from './util/backoff.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** How long `lock()` waits by default, ms (the stores' default). */
const DEFAULT_LOCK_WAIT_MS = 30_000;
/**
 * While another process holds the lock, try to take it again after 50, 100, 200, 400, then
 * every 500 ms: a lock attempt costs far more than a look at the store, and 63 processes
 * hammering the lock would starve the one that holds it.
 */
const LOCK_RETRY_MS = 25;
const LOCK_RETRY_MAX_MS = 500;
/** ... and look at the store at most this long apart, ms (with jitter). */
const WATCH_MAX_MS = 16;
const UNSEEN: unique symbol = Symbol('unseen');

/** Options of {@link TokenManager}. Every one has a default. */
export interface TokenManagerOptions {
  /** An access token is handed out only while it stays valid this much longer, ms (default 5 minutes). */
  marginMs?: number;
  /** TD: renew the refresh token once fewer than this many days of its life remain (default 7). */
  renewWithinDays?: number;
  /** Emit `refresh-token-expiring` as the refresh token's remaining life crosses these hours (default [48, 24]). */
  warnAtHours?: number[];
  /** The fetch used for the token endpoint and API calls (default the global fetch). */
  fetch?: typeof fetch;
  /** The clock, ms since the epoch (default `Date.now`). */
  now?: () => number;
  /** Retries of transient token endpoint failures (default 3, with backoff), or `false` for none. */
  retry?: RetryOptions | false;
  /** How long to wait for the store's lock before failing with `lock_timeout`, ms (default 30 000). */
  lockWaitMs?: number;
  /**
   * How long the store's lock outlives a holder that died, ms (default 30 000). A refresh is
   * abandoned before this runs out, so that a slow holder never writes after losing its lock.
   */
  lockTtlMs?: number;
}

/** Payload of the `refresh` event. */
export interface RefreshEvent {
  /** When the new access token expires, ms epoch. */
  expiresAt: number;
  /** True when the provider also issued a new refresh token (a TD renewal). */
  refreshTokenRenewed: boolean;
}

/** Payload of the `refresh-token-expiring` event. */
export interface RefreshTokenExpiringEvent {
  /** When the refresh token expires, ms epoch. */
  expiresAt: number;
  /** Hours of life left, rounded down to a tenth. */
  hoursLeft: number;
}

/**
 * The events a {@link TokenManager} emits.
 *
 * - `refresh`: this process refreshed the access token (not when it picked up another
 *   process's refresh from the store).
 * - `refresh-token-expiring`: the refresh token's remaining life crossed one of `warnAtHours`
 *   (once per threshold per refresh token per process; one event when several are crossed at
 *   once). Checked whenever the manager reads the store or refreshes, so at least once per
 *   access token lifetime while the manager is used.
 * - `login-required`: a person must log in again; the same error is thrown to the caller (once
 *   per error, however many callers shared the refresh). Not emitted by `login()`'s silent
 *   refresh, which falls back to the browser login instead.
 */
export interface TokenManagerEvents {
  refresh: [RefreshEvent];
  'refresh-token-expiring': [RefreshTokenExpiringEvent];
  'login-required': [LoginRequiredError];
}

interface Cached {
  record: TokenRecord;
  /** `expires_at - marginMs`: the hot path compares the clock against this alone. */
  freshUntil: number;
  /** The store's revision when the record was loaded or saved; `undefined` never matches. */
  revision: string | number | undefined;
  token: Promise<string>;
  recordPromise: Promise<TokenRecord>;
}

/** A store's change announcements for one waiter: a flag, and a wake-up for its sleep. */
class ChangeSignal {
  #pending = false;
  #wake: (() => void) | undefined;

  notify(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Sleep `ms`, or less if a change is announced; true when one was (since the last wait). */
  async wait(ms: number): Promise<boolean> {
    if (!this.#pending) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        this.#wake = done;
      });
    }
    const announced = this.#pending;
    this.#pending = false;
    return announced;
  }
}

/** The token endpoint for messages: `the token endpoint api.schwabapi.com`. */
function endpointNameOf(url: string): string {
  return `the token endpoint ${endpointHost(url)}`;
}

/** The token endpoint's host for messages, e.g. `api.tdameritrade.com`. */
function endpointHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'of the provider';
  }
}

function checkNumber(value: unknown, name: string, min: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new TypeError(`"${name}" must be a number of at least ${min}`);
  }
}

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
  readonly #retry: RetryOptions | false | undefined;
  readonly #lockWaitMs: number | undefined;
  readonly #lockTtlMs: number;
  #cached: Cached | undefined;
  #inflight: Promise<TokenRecord> | undefined;
  #forced: Promise<TokenRecord> | undefined;
  /** Thresholds already warned about, as `${refresh_token_expires_at}:${hours}`. */
  readonly #warned = new Set<string>();
  /** Login-required errors already announced with the `login-required` event. */
  readonly #reportedErrors = new WeakSet<LoginRequiredError>();
  /**
   * Refresh tokens the token endpoint refused in this process: never sent again (the store
   * remembers them too, as `refresh_token_refused_at`, for other processes).
   */
  readonly #refused = new Set<string>();

  constructor(provider: Provider, store: TokenStore, options: TokenManagerOptions = {}) {
    super();
    if (typeof provider !== 'object' || provider === null) {
      throw new TypeError('"provider" must be a provider (see createProvider)');
    }
    if (typeof store !== 'object' || store === null || typeof store.load !== 'function') {
      throw new TypeError('"store" must be a token store (see createStore)');
    }
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('"options" must be an object');
    }
    checkNumber(options.marginMs, 'options.marginMs', 0);
    checkNumber(options.renewWithinDays, 'options.renewWithinDays', 0);
    checkNumber(options.lockWaitMs, 'options.lockWaitMs', 0);
    checkNumber(options.lockTtlMs, 'options.lockTtlMs', 1);
    if (options.warnAtHours !== undefined) {
      if (
        !Array.isArray(options.warnAtHours) ||
        options.warnAtHours.some((h) => typeof h !== 'number' || !Number.isFinite(h) || h <= 0)
      ) {
        throw new TypeError('"options.warnAtHours" must be an array of positive numbers');
      }
    }
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new TypeError('"options.now" must be a function');
    }
    if (options.fetch !== undefined && typeof options.fetch !== 'function') {
      throw new TypeError('"options.fetch" must be a function');
    }
    this.provider = provider;
    this.store = store;
    this.marginMs = options.marginMs ?? 5 * MINUTE;
    this.renewWithinDays = options.renewWithinDays ?? 7;
    this.warnAtHours = [...(options.warnAtHours ?? [48, 24])].sort((a, b) => b - a);
    this.now = options.now ?? Date.now;
    this.#fetch = options.fetch;
    this.#retry = options.retry;
    this.#lockWaitMs = options.lockWaitMs;
    this.#lockTtlMs = options.lockTtlMs ?? 30_000;
  }

  /**
   * The cached entry when the hot path may use it: fresh past the margin, and the store's
   * revision unmoved since it was filled (no other writer touched the store).
   */
  #hot(): Cached | undefined {
    const c = this.#cached;
    if (
      c !== undefined &&
      c.freshUntil > this.now() &&
      c.revision !== undefined &&
      c.revision === this.store.revision()
    ) {
      return c;
    }
    return undefined;
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
      this.#refused.delete(record.refresh_token);
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
    return this.#single(() => this.#loadOrRefresh());
  }

  /**
   * A forced refresh: concurrent forced callers share one; a load or refresh already in flight
   * finishes first, so that the forced one really goes to the provider.
   */
  #force(mode: { force: true; rejected?: string }): Promise<TokenRecord> {
    if (this.#forced !== undefined) return this.#forced;
    const forced = (async () => {
      for (let i = 0; i < 10 && this.#inflight !== undefined; i++) {
        await this.#inflight.catch(() => undefined);
      }
      return this.#single(() => this.#refreshUnderLock(mode));
    })().finally(() => {
      if (this.#forced === forced) this.#forced = undefined;
    });
    this.#forced = forced;
    return forced;
  }

  #single(task: () => Promise<TokenRecord>): Promise<TokenRecord> {
    if (this.#inflight !== undefined) return this.#inflight;
    const flight = task().finally(() => {
      if (this.#inflight === flight) this.#inflight = undefined;
    });
    this.#inflight = flight;
    return flight;
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
      throw this.#noTokenError();
    }
    if (isAccessTokenFresh(stored, now, this.marginMs)) {
      this.#remember(stored, revision);
      this.#checkExpiring(stored, now);
      return stored;
    }
    this.#throwIfRefused(stored);
    return this.#refreshUnderLock({ force: false }, revision);
  }

  /**
   * Throw {@link LoginRequiredError} when `record`'s refresh token was refused before, by the
   * token endpoint in this process or in another (the store's `refresh_token_refused_at`):
   * sending it again would only be refused again, and spend the app's rate limit.
   */
  #throwIfRefused(record: TokenRecord): void {
    const at = record.refresh_token_refused_at;
    if (at === undefined && !this.#refused.has(record.refresh_token)) return;
    this.#refused.add(record.refresh_token);
    const when = at === undefined ? '' : ` on ${new Date(at).toISOString()}`;
    throw new LoginRequiredError(
      `${endpointNameOf(this.provider.tokenUrl)} refused the refresh token in ${this.store.location}${when} (revoked, expired, or replaced by a newer login), and td-token does not send a refused refresh token again. run 'td-token login' to log in again`,
    );
  }

  /**
   * Remember that the token endpoint refused `stored`'s refresh token: in this process, and in
   * the store (under `lock`) so that other processes ask for a login without asking the
   * provider. A failed save leaves the process's memory: the refusal is still thrown.
   */
  async #rememberRefusal(stored: TokenRecord, lock: StoreLock): Promise<void> {
    this.#refused.add(stored.refresh_token);
    const marked: TokenRecord = { ...stored, refresh_token_refused_at: this.now() };
    try {
      await lock.save(marked);
      this.#remember(marked, this.store.revision());
    } catch {
      this.#cached = undefined;
    }
  }

  /**
   * Take the lock, read the store again, and refresh unless another process already did.
   * Nothing is saved unless the refresh succeeded, so a failure never loses the refresh token.
   */
  async #refreshUnderLock(
    mode: { force: boolean; rejected?: string },
    knownRevision?: string | number,
  ): Promise<TokenRecord> {
    const acquired = await this.#lockOrFresh(mode, knownRevision);
    if ('record' in acquired) return acquired.record;
    const { lock } = acquired;
    try {
      const revision = this.store.revision();
      const stored = await this.store.load();
      const now = this.now();
      if (stored === undefined) {
        this.#cached = undefined;
        throw this.#noTokenError();
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
        throw new LoginRequiredError(
          `the refresh token in ${this.store.location} expired on ${new Date(stored.refresh_token_expires_at).toISOString()}. run 'td-token login' to log in again`,
        );
      }
      const renewRefreshToken = this.#shouldRenew(stored, now);
      const budgetMs = Math.max(1, Math.floor(this.#lockTtlMs * 0.8));
      const budget = AbortSignal.timeout(budgetMs);
      let lastFailure: unknown;
      const own = this.#retry;
      const retry: RetryOptions | false =
        own === false
          ? false
          : {
              ...own,
              onRetry: (info) => {
                lastFailure = info.error;
                own?.onRetry?.(info);
              },
            };
      let record: TokenRecord;
      try {
        record = await refreshAccessToken(this.provider, stored, {
          renewRefreshToken,
          now: this.now,
          // Give up before the lock can expire under us.
          signal: budget,
          ...(this.#fetch === undefined ? {} : { fetch: this.#fetch }),
          retry,
        });
      } catch (err) {
        // The provider refused the refresh token: remember it, so it is never sent again.
        if (err instanceof LoginRequiredError) await this.#rememberRefusal(stored, lock);
        // Out of time (a provider that hangs, or a Retry-After longer than the lock allows):
        // say what went wrong last, as one of our errors, never a bare AbortError.
        if (budget.aborted && !isTdTokenError(err)) {
          const renewing = renewRefreshToken && this.provider.canRenewRefreshToken;
          // A renewal cut off in flight may have been answered by TD with a new refresh token
          // (retiring the old one) that never arrived: say so rather than only "try again".
          if (isTdTokenError(lastFailure) && !renewing) throw lastFailure;
          const fix = renewing
            ? "the refresh-token renewal may have reached TD, which then issued a new refresh token and retired the old one. run 'td-token refresh' again; if it says to log in, run 'td-token login'"
            : "try again in a few minutes (td-token retries on its own); if it persists, check the provider's status and the token URL";
          throw new ProviderError(
            'provider_unavailable',
            `the token endpoint ${endpointHost(this.provider.tokenUrl)} did not answer within ${budgetMs} ms. ${fix}`,
            { cause: err },
          );
        }
        throw err;
      }
      const renewed = record.refresh_token !== stored.refresh_token;
      try {
        await lock.save(record);
      } catch (err) {
        if (!isTdTokenError(err, 'lock_timeout')) throw err;
        // Our lock was taken over: the token is valid, but the store now belongs to the new
        // holder. A renewal is saved all the same while the store still holds the refresh token
        // it started from (the provider may have retired that one); otherwise it keeps the
        // newer record it holds.
        if (!renewed || !(await this.#saveRenewalAfterLostLock(stored, record))) {
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

  /**
   * After a renewal whose lock was lost: save `record` if the store still holds the refresh token
   * of `started` (the store's compare-and-set). False when the store cannot, holds another
   * refresh token, or fails.
   */
  async #saveRenewalAfterLostLock(started: TokenRecord, record: TokenRecord): Promise<boolean> {
    if (typeof this.store.compareAndSave !== 'function') return false;
    try {
      return await this.store.compareAndSave(started.refresh_token, record);
    } catch {
      return false;
    }
  }

  /**
   * Take the store's lock for a refresh. While another holder has it, watch the store instead of
   * queueing behind it: as soon as the holder saves a token this caller may use, return that,
   * so that a stampede of processes costs one refresh and no procession through the lock.
   * A store that announces changes (`onChange`: Redis) wakes the watcher at once, on a save to
   * look at, or on a release to try the lock; the timer stays, for announcements that are lost.
   */
  async #lockOrFresh(
    mode: { force: boolean; rejected?: string },
    knownRevision: string | number | undefined,
  ): Promise<{ lock: StoreLock } | { record: TokenRecord }> {
    const signal = new ChangeSignal();
    const stop = this.store.onChange?.(() => signal.notify());
    try {
      return await this.#watchForLockOrFresh(mode, knownRevision, signal);
    } finally {
      stop?.();
    }
  }

  async #watchForLockOrFresh(
    mode: { force: boolean; rejected?: string },
    knownRevision: string | number | undefined,
    changed: ChangeSignal,
  ): Promise<{ lock: StoreLock } | { record: TokenRecord }> {
    const waitMs = this.#lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
    const deadline = Date.now() + waitMs;
    // The revision at which the store last held a token this caller cannot use.
    let seen: string | number | undefined | typeof UNSEEN = knownRevision ?? UNSEEN;
    let nextLockAttempt = 0;
    let lockAttempts = 0;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        // Watching the store is cheap (a revision check); taking the lock is not.
        const revision = this.store.revision();
        if (revision === undefined || revision !== seen) {
          seen = revision;
          const stored = await this.store.load();
          const now = this.now();
          if (stored !== undefined && isAccessTokenFresh(stored, now, this.marginMs)) {
            const usable = mode.force
              ? mode.rejected !== undefined && stored.access_token !== mode.rejected
              : true;
            if (usable) {
              this.#remember(stored, revision);
              this.#checkExpiring(stored, now);
              return { record: stored };
            }
          }
        }
      }
      const t = Date.now();
      if (t >= nextLockAttempt || t >= deadline) {
        try {
          return { lock: await this.#lock(0) };
        } catch (err) {
          if (!isTdTokenError(err, 'lock_timeout') || Date.now() >= deadline) throw err;
        }
        lockAttempts++;
        nextLockAttempt =
          Date.now() +
          backoffMs({ baseMs: LOCK_RETRY_MS, capMs: LOCK_RETRY_MAX_MS, attempt: lockAttempts });
      }
      const look = backoffMs({ baseMs: 1, capMs: WATCH_MAX_MS, attempt, jitter: 'centered' });
      const ms = Math.max(0, Math.min(look, deadline - Date.now()));
      // Announced: a release means the lock is free now, so try it without the back-off.
      if (await changed.wait(ms)) nextLockAttempt = 0;
    }
  }

  #lock(waitMs = this.#lockWaitMs): Promise<StoreLock> {
    return this.store.lock({
      ttlMs: this.#lockTtlMs,
      ...(waitMs === undefined ? {} : { waitMs }),
    });
  }

  /** TD only: renew once fewer than `renewWithinDays` days of the refresh token's life remain. */
  #shouldRenew(record: TokenRecord, now: number): boolean {
    if (!this.provider.canRenewRefreshToken) return false;
    return record.refresh_token_expires_at - now < this.renewWithinDays * DAY;
  }

  #remember(stored: TokenRecord, revision: string | number | undefined): void {
    // A frozen copy: callers of the hot path all get this object, and must not change it.
    const record = Object.freeze({ ...stored });
    this.#cached = {
      record,
      freshUntil: record.expires_at - this.marginMs,
      revision,
      token: Promise.resolve(record.access_token),
      recordPromise: Promise.resolve(record),
    };
  }

  /**
   * Emit `refresh-token-expiring` once per threshold crossed (per refresh token, per process);
   * never for an assumed expiry (a generic server that did not say), which may be wrong.
   */
  #checkExpiring(record: TokenRecord, now: number): void {
    if (!isRefreshTokenExpiryKnown(record)) return;
    const leftMs = record.refresh_token_expires_at - now;
    let crossed: number | undefined;
    for (const hours of this.warnAtHours) {
      if (leftMs > hours * HOUR) continue;
      const key = `${record.refresh_token_expires_at}:${hours}`;
      if (this.#warned.has(key)) continue;
      this.#warned.add(key);
      crossed = hours;
    }
    if (crossed === undefined || leftMs <= 0) return;
    this.emit('refresh-token-expiring', {
      expiresAt: record.refresh_token_expires_at,
      hoursLeft: Math.floor(leftMs / (HOUR / 10)) / 10,
    });
  }

  #noTokenError(): LoginRequiredError {
    return new LoginRequiredError(
      `no token is stored in ${this.store.location}. run 'td-token login' to log in`,
    );
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
