/**
 * What a notification says: the events td-token announces and the payload every target is built
 * from (the webhook's JSON, the e-mail's subject and body, ntfy's title and text).
 *
 * @module
 */

/** The events td-token announces. */
export type NotifyEvent =
  | 'refresh_token_expiring'
  | 'login_required'
  | 'refresh_failing'
  | 'refresh_recovered';

/** One notification, in wire names (it is the webhook's JSON body, without `text`/`content`). */
export interface Notification {
  event: NotifyEvent;
  profile: string;
  provider: string;
  /** When the refresh token ends (ISO time), or null when not known. */
  refresh_token_expires_at: string | null;
  /** Hours left on the refresh token (one decimal, 0 once it ended), or null when not known. */
  hours_left: number | null;
  /** One line for the subject or title. */
  title: string;
  /** What happened, in a sentence or two. */
  message: string;
  /** What a person does about it. */
  fix: string;
  /** The re-login page's one-time link, when one is configured. */
  relogin_url?: string;
}

/** What {@link buildNotification} needs to know. */
export interface NotificationFacts {
  event: NotifyEvent;
  profile: string;
  provider: string;
  refreshTokenExpiresAt?: number | undefined;
  now: number;
  /** The command that logs in again (default `td-token login`, with `--profile` when not default). */
  loginCommand: string;
  /** refresh_failing and refresh_recovered: since when refreshes failed. */
  failingSince?: number | undefined;
  /** refresh_failing: the last failure's error code. */
  lastErrorCode?: string | undefined;
  reloginUrl?: string | undefined;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** `71 hours`, `90 minutes`, `20 seconds`: a span for people, rounded down. */
export function spanText(ms: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (ms >= 2 * HOUR) return plural(Math.floor(ms / HOUR), 'hour');
  if (ms >= 2 * MINUTE) return plural(Math.floor(ms / MINUTE), 'minute');
  return plural(Math.max(0, Math.floor(ms / 1000)), 'second');
}

/** Build the notification for `facts.event`. */
export function buildNotification(facts: NotificationFacts): Notification {
  const { event, profile, provider, now, loginCommand } = facts;
  const expiresAt = facts.refreshTokenExpiresAt;
  const leftMs = expiresAt === undefined ? undefined : Math.max(0, expiresAt - now);
  const who = `profile "${profile}" (${provider})`;
  const ends = expiresAt === undefined ? '' : ` (${new Date(expiresAt).toISOString()})`;
  let title: string;
  let message: string;
  let fix: string;
  switch (event) {
    case 'refresh_token_expiring':
      title = `td-token: log in to ${provider} within ${spanText(leftMs ?? 0)} (profile ${profile})`;
      message = `The refresh token of ${who} ends in ${spanText(leftMs ?? 0)}${ends}. It cannot be renewed without a person: after that, every program using this login stops getting tokens.`;
      fix = `Log in again before then: run '${loginCommand}'.`;
      break;
    case 'login_required':
      title = `td-token: log in to ${provider} now (profile ${profile})`;
      message = `The login of ${who} has ended: the refresh token expired or was refused${ends}. No program using this login gets a token until a person logs in again.`;
      fix = `Log in now: run '${loginCommand}'.`;
      break;
    case 'refresh_failing': {
      const since = facts.failingSince ?? now;
      const code = facts.lastErrorCode === undefined ? '' : ` (last error: ${facts.lastErrorCode})`;
      title = `td-token: refreshing has failed for ${spanText(now - since)} (profile ${profile})`;
      message = `Refreshing the access token of ${who} has kept failing since ${new Date(since).toISOString()}${code}. Programs get no new token once the current one expires.`;
      fix = `td-token keeps retrying on its own. Check the provider's status and this machine's network; 'td-token status' shows what is wrong.`;
      break;
    }
    case 'refresh_recovered': {
      const since = facts.failingSince ?? now;
      title = `td-token: refreshing works again (profile ${profile})`;
      message = `Refreshing the access token of ${who} works again, after failing for ${spanText(now - since)}.`;
      fix = 'Nothing to do.';
      break;
    }
    default:
      throw new TypeError(`"event" must be a notification event, not ${String(event)}`);
  }
  const out: Notification = {
    event,
    profile,
    provider,
    refresh_token_expires_at: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
    hours_left: leftMs === undefined ? null : Math.floor(leftMs / (HOUR / 10)) / 10,
    title,
    message,
    fix,
  };
  if (facts.reloginUrl !== undefined && event !== 'refresh_recovered') {
    out.relogin_url = facts.reloginUrl;
  }
  return out;
}

/** The notification as plain text: message, fix, and the re-login link when there is one. */
export function notificationText(n: Notification): string {
  const lines = [n.message, n.fix];
  if (n.relogin_url !== undefined) lines.push(`Re-login page: ${n.relogin_url}`);
  return lines.join('\n');
}
