/**
 * The notifier: announces a profile's events (the refresh token's end nearing, a login needed,
 * refreshes failing for a while, and their recovery) to its targets once per profile across
 * every process sharing the store.
 *
 * How "once" holds: an event due is claimed under the store's lock (the claim names this process
 * and ends after the send's time limit), sent outside the lock, and recorded as sent under the
 * lock again. Another process sees the claim or the record and stays silent; a claim whose holder
 * died ends, and another process sends. A target that failed is retried by the claimant with a
 * growing wait (its claim extended meanwhile). Nothing here ever throws into the caller or makes
 * it wait: every method queues work and resolves once done, and every send has a time limit.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { isTdTokenError } from '../errors.js';
import type { TokenStore } from '../stores/types.js';
import type { TokenRecord } from '../token.js';
import { buildNotification, type Notification } from './message.js';
import {
  claimable,
  type DueRules,
  dueEvents,
  type NotifyState,
  stateFor,
  withState,
} from './state.js';
import { type NotifyTarget, scrubTargets } from './targets.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Lead times before a Schwab (or generic) refresh token ends: 72, 24 and 2 hours. */
export const SCHWAB_THRESHOLDS_MS: readonly number[] = [72 * HOUR, 24 * HOUR, 2 * HOUR];
/** Lead times before a TD refresh token ends (renewed on its own inside 7 days): 7 and 2 days. */
export const TD_THRESHOLDS_MS: readonly number[] = [7 * 24 * HOUR, 2 * 24 * HOUR];

/** A log line's level, event and fields (never a secret: target secrets are masked). */
export type NotifyLog = (
  level: 'info' | 'warn' | 'error',
  event: string,
  fields: Record<string, unknown>,
) => void;

/** Options of {@link createNotifier}. */
export interface NotifierOptions {
  /** Where to send (see `parseNotifyTarget`). */
  targets: readonly NotifyTarget[];
  /** The profile's store: the fleet's record of what was sent lives on its token record. */
  store: TokenStore;
  profile: string;
  /** The provider's name as people know it (`schwab`, `sandbox-schwab`, ...). */
  provider: string;
  /** Lead times before the refresh token ends, ms (default {@link SCHWAB_THRESHOLDS_MS}). */
  thresholdsMs?: readonly number[];
  /** How long refreshes must keep failing before it is announced, ms (default 30 minutes). */
  failingAfterMs?: number;
  /** Time limit of one send, ms (default 15 000; `exec:` commands get `execTimeoutMs`). */
  timeoutMs?: number;
  /** Time limit of an `exec:` command, ms (default 60 000). */
  execTimeoutMs?: number;
  /** The command that logs in again, shown in the notification (default `td-token login`). */
  loginCommand?: string;
  /** The re-login page's link for a login event, when there is one. */
  reloginUrl?: () => string | undefined | Promise<string | undefined>;
  /** Log lines (default: none). */
  log?: NotifyLog;
  /** The clock (default `Date.now`). */
  now?: () => number;
  /** How long to wait for the store's lock, ms (default 3000); on a timeout the next tick tries again. */
  lockWaitMs?: number;
}

/** A running notifier. Every method resolves (never rejects) once its work is done. */
export interface Notifier {
  readonly targets: readonly NotifyTarget[];
  /** How often a caller with its own loop should call {@link Notifier.check}, ms. */
  readonly tickMs: number;
  /** Look at `record` (the stored one; loaded when omitted) and send what is due. */
  check(record?: TokenRecord, now?: number): Promise<void>;
  /** The provider refused the refresh token of `record`: a login is required now. */
  loginRequired(record?: TokenRecord): Promise<void>;
  /** A refresh failed for another reason than a refused login (`error` gives its code). */
  refreshFailed(error: unknown): Promise<void>;
  /** A token was handed out: refreshes work (again). */
  refreshSucceeded(): Promise<void>;
  /** Resolves once the queued work is done, or after `timeoutMs`. */
  idle(timeoutMs?: number): Promise<void>;
  /** Stop: sends in flight are aborted; resolves once the queue is empty. */
  close(): Promise<void>;
}

interface Pending {
  /** Targets still to reach. */
  targets: NotifyTarget[];
  attempts: number;
  nextTryAt: number;
}

function checkNumber(value: unknown, name: string): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)) {
    throw new TypeError(`"${name}" must be a number > 0`);
  }
}

/**
 * Create a notifier for one profile. Call `check` every `tickMs` from your own loop (the `watch`
 * command and the agent do), and tell it how refreshes go.
 *
 * @example
 * const notifier = createNotifier({
 *   targets: [parseNotifyTarget('ntfy+https://ntfy.sh/my-topic')],
 *   store, profile: 'default', provider: 'schwab',
 * });
 * setInterval(() => void notifier.check(), notifier.tickMs);
 */
export function createNotifier(options: NotifierOptions): Notifier {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('"options" must be an object');
  const { targets, store, profile, provider } = options;
  if (!Array.isArray(targets)) throw new TypeError('"options.targets" must be an array of targets');
  if (typeof store !== 'object' || store === null || typeof store.lock !== 'function') {
    throw new TypeError('"options.store" must be a TokenStore');
  }
  if (typeof profile !== 'string' || profile === '')
    throw new TypeError('"options.profile" must be a string');
  if (typeof provider !== 'string' || provider === '')
    throw new TypeError('"options.provider" must be a string');
  checkNumber(options.failingAfterMs, 'options.failingAfterMs');
  checkNumber(options.timeoutMs, 'options.timeoutMs');
  checkNumber(options.execTimeoutMs, 'options.execTimeoutMs');
  const thresholdsMs = options.thresholdsMs ?? SCHWAB_THRESHOLDS_MS;
  if (!Array.isArray(thresholdsMs)) throw new TypeError('"options.thresholdsMs" must be an array');
  for (const t of thresholdsMs) checkNumber(t, 'options.thresholdsMs');
  const failingAfterMs = options.failingAfterMs ?? 30 * MINUTE;
  const timeoutMs = options.timeoutMs ?? 15 * SECOND;
  const execTimeoutMs = options.execTimeoutMs ?? MINUTE;
  const lockWaitMs = options.lockWaitMs ?? 3 * SECOND;
  const now = options.now ?? Date.now;
  const log: NotifyLog = options.log ?? (() => undefined);
  const loginCommand =
    options.loginCommand ?? `td-token login${profile === 'default' ? '' : ` --profile ${profile}`}`;
  const longestSend = Math.max(
    timeoutMs,
    targets.some((t) => t.kind === 'exec') ? execTimeoutMs : 0,
  );
  /** How long a claim lasts past its holder's next try. */
  const claimMs = longestSend + MINUTE;
  const tickMs = Math.min(MINUTE, Math.max(SECOND, Math.min(failingAfterMs, ...thresholdsMs) / 10));
  const me = randomBytes(6).toString('hex');
  const stop = new AbortController();
  const pending = new Map<string, Pending>();
  let refusedLogin: number | undefined;
  let lastCode: string | undefined;
  let chain: Promise<void> = Promise.resolve();
  let checkQueued = false;

  const say: NotifyLog = (level, event, fields) => {
    try {
      log(level, event, fields);
    } catch {
      // A broken log sink must not stop the notifier.
    }
  };
  const errorText = (err: unknown): string =>
    scrubTargets(err instanceof Error ? err.message : String(err), targets);

  const enqueue = (job: () => Promise<void>): Promise<void> => {
    const run = chain.then(async () => {
      if (stop.signal.aborted) return;
      try {
        await job();
      } catch (err) {
        say('warn', 'notify_error', {
          code: isTdTokenError(err) ? err.code : 'unexpected',
          message: errorText(err),
        });
      }
    });
    chain = run;
    return run;
  };

  /** Under the store's lock: load, change the state, save. Undefined when no record is stored. */
  const update = async (
    change: (record: TokenRecord, state: NotifyState) => boolean,
  ): Promise<{ record: TokenRecord; state: NotifyState } | undefined> => {
    const lock = await store.lock({ waitMs: lockWaitMs, ttlMs: 15 * SECOND });
    try {
      const record = await store.load();
      if (record === undefined) return undefined;
      const state = stateFor(record);
      if (change(record, state)) await lock.save(withState(record, state));
      return { record, state };
    } finally {
      await lock.release();
    }
  };

  const rules = (record: TokenRecord): DueRules => ({
    thresholdsMs,
    failingAfterMs,
    refused: refusedLogin === record.refresh_token_expires_at,
  });

  /** The events due that this process may send now. */
  const mine = (record: TokenRecord, state: NotifyState, t: number) =>
    dueEvents(record, state, t, rules(record)).filter(
      ({ key }) => claimable(state, key, me, t) && (pending.get(key)?.nextTryAt ?? 0) <= t,
    );

  const sendOne = async (target: NotifyTarget, n: Notification): Promise<boolean> => {
    const limit = target.kind === 'exec' ? execTimeoutMs : timeoutMs;
    const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(limit)]);
    try {
      await target.send(n, { signal, timeoutMs: limit });
      say('info', 'notified', { notification: n.event, target: target.display });
      return true;
    } catch (err) {
      say('warn', 'notify_failed', {
        notification: n.event,
        target: target.display,
        error: errorText(err),
      });
      return false;
    }
  };

  const tick = async (given: TokenRecord | undefined, at: number | undefined): Promise<void> => {
    if (targets.length === 0) return;
    const record = given ?? (await store.load());
    if (record === undefined) return;
    if (mine(record, stateFor(record), at ?? now()).length === 0) return;
    // Claim under the lock, on the record as it is now.
    let claimed: ReturnType<typeof mine> = [];
    const fresh = await update((r, state) => {
      const t = at ?? now();
      claimed = mine(r, state, t);
      if (claimed.length === 0) return false;
      state.claims ??= {};
      for (const { key } of claimed) {
        state.claims[key] = {
          by: me,
          until: Math.max(t, pending.get(key)?.nextTryAt ?? 0) + claimMs,
        };
      }
      return true;
    });
    if (fresh === undefined || claimed.length === 0) return;
    // Send outside the lock.
    const reloginUrl = await Promise.resolve(options.reloginUrl?.()).catch(() => undefined);
    const results = new Map<string, NotifyTarget[]>();
    for (const { key, event } of claimed) {
      const t = at ?? now();
      const n = buildNotification({
        event,
        profile,
        provider,
        refreshTokenExpiresAt: fresh.record.refresh_token_expires_at,
        now: t,
        loginCommand,
        failingSince:
          event === 'refresh_recovered' ? fresh.state.recovered_from : fresh.state.failing_since,
        lastErrorCode: fresh.state.failing_code ?? lastCode,
        reloginUrl:
          event === 'login_required' || event === 'refresh_token_expiring' ? reloginUrl : undefined,
      });
      const todo = pending.get(key)?.targets ?? [...targets];
      const ok = await Promise.all(todo.map((target) => sendOne(target, n)));
      results.set(
        key,
        todo.filter((_, i) => !ok[i]),
      );
    }
    if (stop.signal.aborted) return;
    // Record what was sent; keep the claim for what failed, and try again later.
    const t = at ?? now();
    for (const [key, failed] of results) {
      if (failed.length === 0) {
        pending.set(key, { targets: [], attempts: 0, nextTryAt: 0 });
        continue;
      }
      const attempts = (pending.get(key)?.attempts ?? 0) + 1;
      const waitMs = Math.min(30 * MINUTE, tickMs * 2 ** (attempts - 1));
      pending.set(key, { targets: failed, attempts, nextTryAt: t + waitMs });
    }
    await update((_r, state) => {
      state.sent ??= {};
      state.claims ??= {};
      for (const [key, failed] of results) {
        if (failed.length > 0) {
          state.claims[key] = { by: me, until: (pending.get(key)?.nextTryAt ?? t) + claimMs };
          continue;
        }
        delete state.claims[key];
        state.sent[key] = t;
        pending.delete(key);
        if (key === 'refresh_recovered') {
          delete state.sent['refresh_failing'];
          delete state.sent['refresh_recovered'];
          delete state.recovered_from;
        }
      }
      return true;
    });
  };

  return {
    targets,
    tickMs,
    check(record, at) {
      if (checkQueued && record === undefined && at === undefined) return chain;
      checkQueued = true;
      return enqueue(async () => {
        checkQueued = false;
        await tick(record, at);
      });
    },
    loginRequired(record) {
      return enqueue(async () => {
        const stored = record ?? (await store.load());
        if (stored === undefined) return;
        refusedLogin = stored.refresh_token_expires_at;
        await tick(stored, undefined);
      });
    },
    refreshFailed(error) {
      return enqueue(async () => {
        lastCode = isTdTokenError(error) ? error.code : 'unexpected';
        const stored = await store.load();
        if (stored === undefined || targets.length === 0) return;
        if (stateFor(stored).failing_since === undefined) {
          await update((_r, state) => {
            if (state.failing_since !== undefined) return false;
            state.failing_since = now();
            if (lastCode !== undefined) state.failing_code = lastCode;
            return true;
          });
        }
        await tick(undefined, undefined);
      });
    },
    refreshSucceeded() {
      return enqueue(async () => {
        if (targets.length === 0) return;
        const stored = await store.load();
        if (stored === undefined) return;
        if (stateFor(stored).failing_since !== undefined) {
          await update((_r, state) => {
            if (state.failing_since === undefined) return false;
            const announced =
              state.sent?.['refresh_failing'] !== undefined ||
              state.claims?.['refresh_failing'] !== undefined;
            if (announced) state.recovered_from = state.failing_since;
            delete state.failing_since;
            delete state.failing_code;
            if (state.claims) delete state.claims['refresh_failing'];
            return true;
          });
          pending.delete('refresh_failing');
        }
        await tick(undefined, undefined);
      });
    },
    async idle(waitMs = 60 * SECOND) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        chain,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, waitMs);
        }),
      ]);
      clearTimeout(timer);
    },
    async close() {
      stop.abort();
      await chain;
    },
  };
}
