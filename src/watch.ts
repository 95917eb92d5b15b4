/**
 * Keep one profile's token fresh without cron: refresh ahead of expiry, renew TD refresh tokens
 * inside their window, run a command when a person must log in again soon, and ride out provider
 * outages. Each step is one JSON log line.
 *
 * What happens when a person must log in (the refresh token expired or was revoked): the loop
 * does not exit. It logs `login_required`, runs `onReloginDue` (once per refresh token), and keeps
 * reading the store every `loginPollMs`, so that a `td-token login` from elsewhere is picked up
 * without restarting the watcher. Only the abort signal stops it, and it stops a running
 * `onReloginDue` command too.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isTdTokenError, LoginRequiredError } from './errors.js';
import type { RefreshEvent, RefreshTokenExpiringEvent, TokenManager } from './manager.js';
import type { Notifier } from './notify/notifier.js';
import { runCommand } from './notify/run-command.js';
import { isRefreshTokenExpiryKnown, type TokenRecord } from './token.js';
import { backoffMs as nextBackoffMs } from './util/backoff.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** The longest a provider's `Retry-After` may make the watcher wait. */
const MAX_RETRY_AFTER_MS = HOUR;

/** Options of {@link runWatch}. */
export interface WatchOptions {
  /** Stop when this aborts (SIGTERM/SIGINT in the CLI). */
  signal?: AbortSignal;
  /**
   * A shell command run once per refresh token when a re-login is due: TD inside the renewal
   * window after a renewal did not renew; any refresh token with less than 48 hours left (the
   * largest of the manager's `warnAtHours`; Schwab's always get there, as they cannot be
   * renewed); and any provider once a login is required. It gets
   * `TD_TOKEN_REFRESH_EXPIRES_AT` (ISO time, or empty) and `TD_TOKEN_HOURS_LEFT` in its
   * environment, and not td-token's secrets (`TD_TOKEN_PASSPHRASE`, `TD_TOKEN_CLIENT_SECRET`, ...).
   * Run by this process alone; for one announcement per fleet use `notifier`.
   */
  onReloginDue?: string;
  /**
   * Announce the profile's events through this notifier (`createNotifier`): it is told how each
   * refresh went, checked every `notifier.tickMs`, and closed when the watcher stops. Sending
   * never delays the loop.
   */
  notifier?: Notifier;
  /** Where the JSON log lines go (default: one line each on stdout). */
  log?: (line: Record<string, unknown>) => void;
  /** The clock (default the manager's). */
  now?: () => number;
  /** Wait `ms`, or less if `signal` aborts; never rejects (default a timer). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** How often to look for a new login while one is required, ms (default 60 000). */
  loginPollMs?: number;
  /** First wait after a failed refresh, ms; doubles up to `maxBackoffMs` (default 5 000). */
  backoffMs?: number;
  /**
   * Longest backoff between attempts while the provider is down, ms (default 300 000). A
   * provider's `Retry-After` (HTTP 429, 503) may ask for longer, and is waited out up to an hour.
   */
  maxBackoffMs?: number;
  /**
   * Longest the `onReloginDue` command may run before it is killed, ms (default 60 000). When
   * `signal` aborts while it runs, it (with anything it started) gets SIGTERM at once, then
   * SIGKILL 2 s later.
   */
  commandTimeoutMs?: number;
}

async function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal === undefined ? {} : { signal });
  } catch {
    // Aborted: wake up early.
  }
}

function defaultLog(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function hoursLeft(record: TokenRecord, now: number): number {
  return Math.floor((record.refresh_token_expires_at - now) / (HOUR / 10)) / 10;
}

/**
 * Keep `manager`'s token fresh until `options.signal` aborts. Resolves once stopped; never
 * rejects because of the provider or the store (those are logged and retried).
 *
 * Log lines: `{ time, level, event, ... }` with events `start`, `fresh` (the token and when the
 * next refresh is due), `refreshed` (with `refreshTokenRenewed` for a TD renewal), `refresh_token_expiring`
 * (the manager's warnings at 48 and 24 hours left), `refresh_failed` (with `code`, `retryInMs`,
 * and `retryAfterMs` when the provider sent `Retry-After`), `relogin_due`, `relogin_command`
 * (with `stopped: true` when the abort signal cut it short), `login_required`, `stopped`; with a
 * notifier also `notified` and `notify_failed` (with `notification` and the masked `target`) and
 * `notify_error`. No line ever holds a token or a target's secret.
 *
 * @example
 * const controller = new AbortController();
 * process.once('SIGTERM', () => controller.abort());
 * await runWatch(manager, { signal: controller.signal, onReloginDue: 'notify-send "td-token: log in"' });
 */
export async function runWatch(manager: TokenManager, options: WatchOptions = {}): Promise<void> {
  if (typeof manager !== 'object' || manager === null || typeof manager.getToken !== 'function') {
    throw new TypeError('"manager" must be a TokenManager');
  }
  const { signal, onReloginDue } = options;
  if (onReloginDue !== undefined && typeof onReloginDue !== 'string') {
    throw new TypeError('"options.onReloginDue" must be a shell command string');
  }
  const log = options.log ?? defaultLog;
  const now = options.now ?? manager.now;
  const sleep = options.sleep ?? defaultSleep;
  const loginPollMs = options.loginPollMs ?? MINUTE;
  const backoffMs = options.backoffMs ?? 5 * SECOND;
  const maxBackoffMs = options.maxBackoffMs ?? 5 * MINUTE;
  const commandTimeoutMs = options.commandTimeoutMs ?? MINUTE;
  const provider = manager.provider;
  const reloginWithinMs = (manager.warnAtHours[0] ?? 48) * HOUR;
  const renewWindowMs = manager.renewWithinDays * DAY;

  const emit = (level: string, event: string, fields: Record<string, unknown> = {}): void => {
    try {
      log({ time: iso(now()), level, event, ...fields });
    } catch {
      // A broken log sink must not stop the watcher.
    }
  };

  /** Refresh tokens (their expiry) for which the re-login command already ran. */
  const reloginDoneFor = new Set<string>();
  /** TD refresh tokens (their expiry) for which a renewal was already tried. */
  const renewalTriedFor = new Set<number>();

  const reloginDue = async (reason: string, record: TokenRecord | undefined): Promise<void> => {
    const key = record === undefined ? 'none' : String(record.refresh_token_expires_at);
    if (reloginDoneFor.has(key)) return;
    reloginDoneFor.add(key);
    // An assumed expiry (a server that did not say) is no date to show.
    const known = record !== undefined && isRefreshTokenExpiryKnown(record);
    const left = record === undefined ? 0 : Math.max(0, hoursLeft(record, now()));
    emit('warn', 'relogin_due', {
      reason,
      hoursLeft: known || record === undefined ? left : null,
      ...(known ? { refreshTokenExpiresAt: iso(record.refresh_token_expires_at) } : {}),
    });
    if (onReloginDue === undefined || onReloginDue === '') return;
    const result = await runCommand(
      onReloginDue,
      {
        TD_TOKEN_REFRESH_EXPIRES_AT: known ? iso(record.refresh_token_expires_at) : '',
        TD_TOKEN_HOURS_LEFT: known || record === undefined ? String(left) : '',
      },
      commandTimeoutMs,
      signal,
    );
    emit(result.code === 0 ? 'info' : result.stopped ? 'warn' : 'error', 'relogin_command', {
      exitCode: result.code,
      ...(result.signal === null ? {} : { signal: result.signal }),
      ...(result.error === undefined ? {} : { error: result.error }),
      ...(result.stopped ? { stopped: true } : {}),
    });
  };

  const onRefresh = (event: RefreshEvent): void => {
    emit('info', 'refreshed', {
      expiresAt: iso(event.expiresAt),
      refreshTokenRenewed: event.refreshTokenRenewed,
    });
  };
  const onExpiring = (event: RefreshTokenExpiringEvent): void => {
    emit('warn', 'refresh_token_expiring', {
      refreshTokenExpiresAt: iso(event.expiresAt),
      hoursLeft: event.hoursLeft,
    });
  };
  const notifier = options.notifier;
  // Fire and forget: the notifier queues its work and never rejects.
  const notify = (call: (n: Notifier) => Promise<void>): void => {
    if (notifier !== undefined) void call(notifier);
  };
  const ticker =
    notifier === undefined
      ? undefined
      : setInterval(() => notify((n) => n.check(undefined, now())), notifier.tickMs);
  manager.on('refresh', onRefresh);
  manager.on('refresh-token-expiring', onExpiring);
  try {
    await loop();
  } finally {
    manager.off('refresh', onRefresh);
    manager.off('refresh-token-expiring', onExpiring);
    if (ticker !== undefined) clearInterval(ticker);
    await notifier?.close();
  }
  emit('info', 'stopped');

  async function loop(): Promise<void> {
    emit('info', 'start', { provider: provider.name, store: manager.store.location });
    let failures = 0;
    while (!signal?.aborted) {
      let waitMs: number;
      try {
        let record = await manager.getToken();
        let t = now();
        if (provider.canRenewRefreshToken) {
          if (
            record.refresh_token_expires_at - t < renewWindowMs &&
            !renewalTriedFor.has(record.refresh_token_expires_at)
          ) {
            // Inside the window: the manager renews on its next refresh, so make that now.
            const before = record.refresh_token_expires_at;
            record = await manager.refresh({ force: true });
            renewalTriedFor.add(before);
            t = now();
          }
        }
        const leftMs = record.refresh_token_expires_at - t;
        if (
          provider.canRenewRefreshToken &&
          leftMs < renewWindowMs &&
          renewalTriedFor.has(record.refresh_token_expires_at)
        ) {
          await reloginDue('renewal_failed', record);
        } else if (leftMs < reloginWithinMs && isRefreshTokenExpiryKnown(record)) {
          // An assumed expiry (the server never said) is a placeholder: nothing to warn of.
          await reloginDue('refresh_token_expiring', record);
        }
        failures = 0;
        notify((n) => n.refreshSucceeded());
        const nextRefreshAt = record.expires_at - manager.marginMs;
        waitMs = Math.max(SECOND, nextRefreshAt - t);
        const knownExpiry = isRefreshTokenExpiryKnown(record);
        emit('info', 'fresh', {
          expiresAt: iso(record.expires_at),
          refreshTokenExpiresAt: knownExpiry ? iso(record.refresh_token_expires_at) : null,
          hoursLeft: knownExpiry ? hoursLeft(record, t) : null,
          nextRefreshAt: iso(t + waitMs),
        });
      } catch (err) {
        if (signal?.aborted) break;
        if (err instanceof LoginRequiredError) {
          emit('error', 'login_required', { message: err.message });
          let stored: TokenRecord | undefined;
          try {
            stored = await manager.peek();
          } catch {
            stored = undefined;
          }
          notify((n) => n.loginRequired(stored));
          await reloginDue('login_required', stored);
          failures = 0;
          waitMs = loginPollMs;
        } else {
          failures += 1;
          notify((n) => n.refreshFailed(err));
          const backoff = nextBackoffMs({
            baseMs: backoffMs,
            capMs: maxBackoffMs,
            attempt: Math.min(failures - 1, 20),
          });
          // The provider's Retry-After wins over the backoff's cap (asking earlier would only be
          // refused again), within reason.
          const retryAfter = isTdTokenError(err) ? err.retryAfterMs : undefined;
          waitMs =
            retryAfter === undefined
              ? backoff
              : Math.max(backoff, Math.min(MAX_RETRY_AFTER_MS, retryAfter));
          emit('warn', 'refresh_failed', {
            code: isTdTokenError(err) ? err.code : 'unexpected',
            message: err instanceof Error ? err.message : String(err),
            failures,
            retryInMs: waitMs,
            ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
          });
        }
      }
      if (signal?.aborted) break;
      await sleep(waitMs, signal);
    }
  }
}
