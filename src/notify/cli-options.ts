/**
 * The notification flags of `watch` and `refresh` (and the agent's): `--notify TARGET`
 * (repeatable), `--notify-before 72h,24h,2h` and `--notify-failing-after 30m`, with their
 * variables `TD_TOKEN_NOTIFY`, `TD_TOKEN_NOTIFY_BEFORE` and `TD_TOKEN_NOTIFY_FAILING_AFTER`,
 * and below them the resolved configuration's `notify`, `notifyBefore` and `notifyFailingAfter`
 * (from `.env` or the config file). Flags win over variables, variables over the configuration;
 * a value given replaces the lower ones as a whole.
 *
 * @internal
 * @module
 */
import type { OptionTable } from '../cli/io.js';
import { describeSource, type ValueSource } from '../config/layers.js';
import type { NotifyConfig } from '../config/notify.js';
import { ConfigError, isTdTokenError } from '../errors.js';
import { parseLongDuration } from '../util/duration.js';
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
const duration = parseLongDuration;

/** A value and the name of where it came from, for errors. */
interface Given<T> {
  value: T;
  /** Undefined for a flag or variable (their errors name them already). */
  source: ValueSource | undefined;
}

/** The first of: the flag, the variable, the configuration's value. */
function given<T>(
  flag: T | undefined,
  variable: T | undefined,
  configured: { value: T; source: ValueSource } | undefined,
): Given<T> | undefined {
  if (flag !== undefined) return { value: flag, source: undefined };
  if (variable !== undefined) return { value: variable, source: undefined };
  return configured;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Run `parse`; a configured value's error also names where it came from (never the value). */
function from<T>(source: ValueSource | undefined, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (source === undefined || !isTdTokenError(err)) throw err;
    throw new ConfigError(`${describeSource(source)}: ${err.message}`, { cause: err });
  }
}

function stringsOf(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : undefined;
}

/**
 * Read the notification flags and variables, and below them `config` (the resolved
 * configuration's notification settings, from `.env` or the config file). `canRenew` picks the
 * default lead times (TD's refresh token renews itself, so 7 and 2 days; others 72, 24 and 2
 * hours).
 *
 * @throws ConfigError for a target or duration that does not parse (the target masked).
 */
export function notifySettings(
  values: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  canRenew: boolean,
  config?: { notify: NotifyConfig } | undefined,
): NotifySettings {
  const configured = config?.notify;
  const specsGiven = given<string | readonly string[]>(
    stringsOf(values['notify']),
    nonEmpty(env['TD_TOKEN_NOTIFY']),
    configured?.notify,
  );
  const specs =
    specsGiven === undefined
      ? []
      : typeof specsGiven.value === 'string'
        ? splitNotifyTargets(specsGiven.value)
        : specsGiven.value;
  const targets: NotifyTarget[] = [];
  for (const spec of specs) {
    if (spec.trim() === '')
      throw new ConfigError('--notify needs a target. give e.g. --notify desktop');
    targets.push(from(specsGiven?.source, () => parseNotifyTarget(spec)));
  }
  const before = given(
    stringsOf(values['notify-before'])?.[0],
    nonEmpty(env['TD_TOKEN_NOTIFY_BEFORE']),
    configured?.notifyBefore,
  );
  const beforeName =
    before?.source === undefined ? '--notify-before' : describeSource(before.source);
  const thresholdsMs =
    before === undefined || before.value.trim() === ''
      ? [...(canRenew ? TD_THRESHOLDS_MS : SCHWAB_THRESHOLDS_MS)]
      : before.value
          .split(/[\s,]+/)
          .filter((s) => s !== '')
          .map((s) => duration(s, beforeName));
  const failing = given(
    stringsOf(values['notify-failing-after'])?.[0],
    nonEmpty(env['TD_TOKEN_NOTIFY_FAILING_AFTER']),
    configured?.notifyFailingAfter,
  );
  const failingName =
    failing?.source === undefined ? '--notify-failing-after' : describeSource(failing.source);
  const failingAfterMs =
    failing === undefined || failing.value.trim() === ''
      ? 30 * 60_000
      : duration(failing.value, failingName);
  return { targets, thresholdsMs, failingAfterMs };
}
