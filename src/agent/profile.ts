/**
 * One profile the agent serves: its token manager (the single-flight refresh is the manager's),
 * the watch loop that keeps it fresh, and the figures `/v1/status`, `/healthz` and `/metrics`
 * show. Built from an opened CLI context (provider, store, manager, sandbox) by the command.
 *
 * @module
 */
import { isTdTokenError, type LoginRequiredError } from '../errors.js';
import type { RefreshEvent, TokenManager } from '../manager.js';
import type { TokenRecord } from '../token.js';
import { runWatch, type WatchOptions } from '../watch.js';

/** What the agent knows of a profile besides its manager. */
export interface ProfileInfo {
  name: string;
  /** Provider name (`schwab`, `sandbox-schwab`, ...). */
  provider: string;
  /** Store kind (`file`, `sqlite`, `redis`, `memory`). */
  storeKind: string;
  /** The store, as `describeStore` says it (a Redis password masked): what `td-token token` compares. */
  store: string;
}

/** A served profile and its counters. */
export class ServedProfile {
  readonly info: ProfileInfo;
  readonly manager: TokenManager;
  /** Successful refreshes made by this agent. */
  refreshes = 0;
  /** Failed refresh attempts of the watch loop. */
  refreshFailures = 0;
  /** Token answers served (any outcome). */
  requests = 0;
  /** When this agent last refreshed, ms epoch. */
  lastRefreshAt: number | undefined;
  /** True from a `login_required` until a token is obtained again. */
  loginRequired = false;
  /** The last record this agent saw (never shown, only its times). */
  last: TokenRecord | undefined;
  readonly #listeners: ((record: TokenRecord) => void)[] = [];

  constructor(info: ProfileInfo, manager: TokenManager) {
    this.info = info;
    this.manager = manager;
    manager.on('refresh', (event: RefreshEvent) => {
      this.refreshes += 1;
      this.lastRefreshAt = manager.now();
      void event;
    });
    manager.on('login-required', (_err: LoginRequiredError) => {
      this.loginRequired = true;
    });
  }

  /** Call `listener` with each new record this agent obtains (a new access token). */
  onRecord(listener: (record: TokenRecord) => void): void {
    this.#listeners.push(listener);
  }

  /** A valid token record (awaiting a refresh in flight); remembers it for the figures. */
  async token(): Promise<TokenRecord> {
    try {
      const record = await this.manager.getToken();
      this.#seen(record);
      return record;
    } catch (err) {
      if (isTdTokenError(err, 'login_required')) this.loginRequired = true;
      throw err;
    }
  }

  #seen(record: TokenRecord): void {
    this.loginRequired = false;
    const changed = this.last?.access_token !== record.access_token;
    this.last = record;
    if (changed) {
      for (const listener of this.#listeners) {
        try {
          listener(record);
        } catch {
          // A listener's failure is its own to report.
        }
      }
    }
  }

  /**
   * Keep the token fresh exactly as `td-token watch` does, until `options.signal` aborts. The
   * watch loop's log lines go to `options.log` with `profile` added; they also drive the counters.
   */
  async keepFresh(options: WatchOptions): Promise<void> {
    const log = options.log;
    await runWatch(this.manager, {
      ...options,
      log: (line) => {
        if (line['event'] === 'refresh_failed') this.refreshFailures += 1;
        if (line['event'] === 'login_required') this.loginRequired = true;
        if (line['event'] === 'fresh') {
          // The watch loop just obtained a valid token: pick it up from the manager's memory.
          this.manager.getToken().then(
            (record) => this.#seen(record),
            () => {},
          );
        }
        log?.({ ...line, profile: this.info.name });
      },
    });
  }
}
