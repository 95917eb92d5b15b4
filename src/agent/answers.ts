/**
 * What the agent answers besides tokens: the JSON error body `{error, message, fix}` with its
 * status for each td-token error, and the status of a profile (times only, never a token).
 *
 * @module
 */
import { isTdTokenError } from '../errors.js';
import type { TokenRecord } from '../token.js';
import type { ServedProfile } from './profile.js';

/** A JSON error answer. */
export interface ErrorAnswer {
  status: number;
  body: { error: string; message: string; fix: string };
}

/** An error answer of the agent's own (unknown path, method, profile, missing secret). */
export function agentError(
  status: number,
  error: string,
  message: string,
  fix: string,
): ErrorAnswer {
  return { status, body: { error, message, fix } };
}

/** Split a td-token message into what went wrong and the fix (the sentence(s) after the first). */
function splitMessage(text: string): { message: string; fix: string } {
  const at = text.search(/\.\s+[A-Z(']/);
  if (at < 0) return { message: text, fix: '' };
  return { message: text.slice(0, at + 1), fix: text.slice(at + 1).trim() };
}

/** The answer for an error thrown while getting `profile`'s token. */
export function tokenError(err: unknown, profile: string): ErrorAnswer {
  if (isTdTokenError(err)) {
    const { message, fix } = splitMessage(err.message);
    switch (err.code) {
      case 'login_required':
        return agentError(
          503,
          'login_required',
          message,
          fix || `run 'td-token login --profile ${profile}'; the agent picks the new login up`,
        );
      case 'provider_unavailable':
      case 'rate_limited':
        return agentError(
          502,
          err.code,
          message,
          fix || 'the agent keeps retrying with backoff; ask again shortly',
        );
      default:
        return agentError(500, err.code, message, fix || "see the agent's log");
    }
  }
  return agentError(
    500,
    'internal_error',
    'the agent could not get a token',
    "see the agent's log",
  );
}

const SECOND = 1000;

/** The `/v1/status` body of one profile. */
export async function profileStatus(
  served: ServedProfile,
  now: number,
): Promise<Record<string, unknown>> {
  let record: TokenRecord | undefined = served.last;
  if (record === undefined) {
    try {
      record = await served.manager.peek();
    } catch {
      record = undefined;
    }
  }
  const { info } = served;
  return {
    profile: info.name,
    provider: info.provider,
    store_kind: info.storeKind,
    store: info.store,
    has_token: record !== undefined,
    expires_at: record?.expires_at ?? null,
    expires_in: record === undefined ? null : Math.floor((record.expires_at - now) / SECOND),
    refresh_token_expires_at: record?.refresh_token_expires_at ?? null,
    // A person must log in again by then (TD renews inside its window; Schwab never).
    login_required_at: record?.refresh_token_expires_at ?? null,
    login_required: served.loginRequired,
    last_refresh_at: served.lastRefreshAt ?? null,
    refreshes: served.refreshes,
    refresh_failures: served.refreshFailures,
  };
}

/** Why a profile has no usable token now (its error code), or undefined when it has one. */
export async function unhealthyReason(served: ServedProfile): Promise<string | undefined> {
  try {
    await served.token();
    return undefined;
  } catch (err) {
    return isTdTokenError(err) ? err.code : 'internal_error';
  }
}
