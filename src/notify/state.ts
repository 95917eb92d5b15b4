/**
 * What the fleet has announced, kept on the profile's stored token record (field
 * `notifications`, beside the canonical fields), so every process sharing the store sees it:
 * which events were sent, which are being sent and by whom (a claim with an end, taken over
 * once it ends), and since when refreshes have failed.
 *
 * Events of a login (`expiring_*`, `login_required`) belong to one refresh token, known by its
 * end (`login`): a new login starts them afresh. The failure events outlive logins.
 *
 * @module
 */
import { NOTIFICATIONS_FIELD, type TokenRecord } from '../token.js';

/** The record field holding the state (a refresh carries it over: tokenRecordFromResponse). */
export const STATE_FIELD = NOTIFICATIONS_FIELD;

/** A process sending an event until `until` (ms epoch). */
export interface Claim {
  by: string;
  until: number;
}

/** The stored state. */
export interface NotifyState {
  /** `refresh_token_expires_at` of the login the login events belong to. */
  login?: number;
  /** Event key to when it was sent (ms epoch). */
  sent?: Record<string, number>;
  /** Event key to the process sending it. */
  claims?: Record<string, Claim>;
  /** When the current run of failed refreshes began. */
  failing_since?: number;
  /** The last failure's error code. */
  failing_code?: string;
  /** When the run of failures that was announced began: `refresh_recovered` is due. */
  recovered_from?: number;
}

const LOGIN_KEY = /^(expiring_|login_required$)/;

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** The state stored on `record`, as a fresh object (garbage is dropped, never trusted). */
export function readState(record: TokenRecord | undefined): NotifyState {
  const raw = (record as unknown as Record<string, unknown> | undefined)?.[STATE_FIELD];
  const state: NotifyState = {};
  if (typeof raw !== 'object' || raw === null) return state;
  const r = raw as Record<string, unknown>;
  if (isNumber(r['login'])) state.login = r['login'];
  if (typeof r['sent'] === 'object' && r['sent'] !== null) {
    const sent: Record<string, number> = {};
    for (const [k, v] of Object.entries(r['sent'] as object)) if (isNumber(v)) sent[k] = v;
    state.sent = sent;
  }
  if (typeof r['claims'] === 'object' && r['claims'] !== null) {
    const claims: Record<string, Claim> = {};
    for (const [k, v] of Object.entries(r['claims'] as object)) {
      const c = v as Partial<Claim> | null;
      if (c && typeof c.by === 'string' && isNumber(c.until))
        claims[k] = { by: c.by, until: c.until };
    }
    state.claims = claims;
  }
  if (isNumber(r['failing_since'])) state.failing_since = r['failing_since'];
  if (typeof r['failing_code'] === 'string') state.failing_code = r['failing_code'];
  if (isNumber(r['recovered_from'])) state.recovered_from = r['recovered_from'];
  return state;
}

/** The state for `record`'s login: the login events of an earlier login are dropped. */
export function stateFor(record: TokenRecord): NotifyState {
  const state = readState(record);
  if (state.login !== record.refresh_token_expires_at) {
    for (const map of [state.sent, state.claims]) {
      if (map === undefined) continue;
      for (const key of Object.keys(map)) if (LOGIN_KEY.test(key)) delete map[key];
    }
    state.login = record.refresh_token_expires_at;
  }
  return state;
}

/** `record` carrying `state`, every other field as it was. */
export function withState(record: TokenRecord, state: NotifyState): TokenRecord {
  return { ...record, [STATE_FIELD]: state } as TokenRecord;
}

/** `72h`, `90m`, `20s`, `1500ms`: an event key's threshold. */
export function thresholdKey(ms: number): string {
  if (ms % 3_600_000 === 0) return `expiring_${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `expiring_${ms / 60_000}m`;
  if (ms % 1000 === 0) return `expiring_${ms / 1000}s`;
  return `expiring_${ms}ms`;
}

/** What decides which events are due. */
export interface DueRules {
  /** Lead times before the refresh token ends, ms, any order. */
  thresholdsMs: readonly number[];
  failingAfterMs: number;
  /** True when the provider refused this login's refresh token. */
  refused: boolean;
}

/** The events due for `record` at `now` that no one has sent: key and event name. */
export function dueEvents(
  record: TokenRecord,
  state: NotifyState,
  now: number,
  rules: DueRules,
): {
  key: string;
  event: 'refresh_token_expiring' | 'login_required' | 'refresh_failing' | 'refresh_recovered';
}[] {
  const sent = state.sent ?? {};
  const out: ReturnType<typeof dueEvents> = [];
  const left = record.refresh_token_expires_at - now;
  if (left <= 0 || rules.refused) {
    if (sent['login_required'] === undefined)
      out.push({ key: 'login_required', event: 'login_required' });
  } else {
    const crossed = [...rules.thresholdsMs].sort((a, b) => a - b).find((t) => left <= t);
    if (crossed !== undefined) {
      const key = thresholdKey(crossed);
      if (sent[key] === undefined) out.push({ key, event: 'refresh_token_expiring' });
    }
  }
  if (
    state.failing_since !== undefined &&
    now - state.failing_since >= rules.failingAfterMs &&
    sent['refresh_failing'] === undefined
  ) {
    out.push({ key: 'refresh_failing', event: 'refresh_failing' });
  }
  if (state.recovered_from !== undefined && sent['refresh_recovered'] === undefined) {
    out.push({ key: 'refresh_recovered', event: 'refresh_recovered' });
  }
  return out;
}

/** True when `key` is free for process `me` to send at `now` (unclaimed, its own, or the claim ended). */
export function claimable(state: NotifyState, key: string, me: string, now: number): boolean {
  const claim = state.claims?.[key];
  return claim === undefined || claim.by === me || claim.until <= now;
}
