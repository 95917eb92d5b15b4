/**
 * The notification flags of `watch` and `refresh` (and the agent's): `--notify TARGET`
 * (repeatable), `--notify-before 72h,24h,2h` and `--notify-failing-after 30m`, with their
 * variables `TD_TOKEN_NOTIFY`, `TD_TOKEN_NOTIFY_BEFORE` and `TD_TOKEN_NOTIFY_FAILING_AFTER`.
 * Flags win over variables; a flag given replaces the variable as a whole.
 *
 * @internal
 * @module
 */
import { parseDuration } from '../util/duration.js';
import type { OptionTable } from '../cli/io.js';
import { ConfigError } from '../errors.js';
import { SCHWAB_THRESHOLDS_MS, TD_THRESHOLDS_MS } from './notifier.js';
import { type NotifyTarget, parseNotifyTarget, splitNotifyTargets } from './targets.js';

/** The flags, for a command's option table. */
export const NOTIFY_OPTIONS: OptionTable = {
  notify: { type: 'string', multiple: true },
  'notify-before': { type: 'string' },
  'notify-failing-after': { type: 'string' },
};

/** The flags' help lines. */
export const NOTIFY_HELP = `  --notify TARGET    announce the refresh token's end, a needed login, and refreshes failing
                     (and recovering) to TARGET, once per profile however many processes share
                     the store. repeatable; TD_TOKEN_NOTIFY holds several, separated by spaces
                     or commas (an exec: target takes the rest). TARGET is one of:
                       https://HOST/PATH                    a webhook (Slack, Discord, your own): JSON
                       ntfy+https://HOST/TOPIC              an ntfy topic
                       smtps://USER:PASS@HOST:465?to=ADDR   e-mail (smtp://...:587 uses STARTTLS);
                                                            needs: npm install nodemailer
                       exec:COMMAND                         a shell command (TD_TOKEN_EVENT, ... and
                                                            the JSON on stdin)
                       desktop                              notify-send
                     see docs/notifications.md
  --notify-before LIST   when to announce the refresh token's end (TD_TOKEN_NOTIFY_BEFORE;
                     default 72h,24h,2h; TD: 7d,2d)
  --notify-failing-after D   announce refreshes failing this long (TD_TOKEN_NOTIFY_FAILING_AFTER;
                     default 30m)`;

/** What the flags and variables say. */
export interface NotifySettings {
  targets: NotifyTarget[];
  thresholdsMs: number[];
  failingAfterMs: number;
}

/** A duration, also in days (`7d`). */
function duration(value: string, flag: string): number {
  const days = /^\s*(\d+(?:\.\d+)?)\s*d\s*$/.exec(value);
  if (days?.[1] !== undefined) return parseDuration(`${Number(days[1]) * 24}h`, flag);
  return parseDuration(value, flag);
}

function stringsOf(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : undefined;
}

/**
 * Read the notification flags and variables. `canRenew` picks the default lead times (TD's
 * refresh token renews itself, so 7 and 2 days; others 72, 24 and 2 hours).
 *
 * @throws ConfigError for a target or duration that does not parse (the target masked).
 */
export function notifySettings(
  values: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  canRenew: boolean,
): NotifySettings {
  const flags = stringsOf(values['notify']);
  const specs = flags ?? splitNotifyTargets(env['TD_TOKEN_NOTIFY'] ?? '');
  const targets: NotifyTarget[] = [];
  for (const spec of specs) {
    if (spec.trim() === '')
      throw new ConfigError('--notify needs a target. give e.g. --notify desktop');
    targets.push(parseNotifyTarget(spec));
  }
  const beforeText = stringsOf(values['notify-before'])?.[0] ?? env['TD_TOKEN_NOTIFY_BEFORE'];
  const thresholdsMs =
    beforeText === undefined || beforeText.trim() === ''
      ? [...(canRenew ? TD_THRESHOLDS_MS : SCHWAB_THRESHOLDS_MS)]
      : beforeText
          .split(/[\s,]+/)
          .filter((s) => s !== '')
          .map((s) => duration(s, '--notify-before'));
  const failingText =
    stringsOf(values['notify-failing-after'])?.[0] ?? env['TD_TOKEN_NOTIFY_FAILING_AFTER'];
  const failingAfterMs =
    failingText === undefined || failingText.trim() === ''
      ? 30 * 60_000
      : duration(failingText, '--notify-failing-after');
  return { targets, thresholdsMs, failingAfterMs };
}
