/**
 * The notification settings as configuration: `notify` (targets), `notifyBefore` (lead times)
 * and `notifyFailingAfter`, from the flags of `watch` and `refresh`, the environment, `.env` and
 * the config file (a profile's section over the top level), highest first. Only which value wins
 * and where it came from is decided here; `src/notify/cli-options.ts` parses the values. A value
 * may hold a secret (a webhook's path, an SMTP password): no source name and no error here ever
 * shows a value.
 *
 * @module
 */
import type { ConfigFile } from './file.js';
import { fileValue, type Sourced, type ValueSource } from './layers.js';

/** The notification settings. */
export type NotifyKey = 'notify' | 'notifyBefore' | 'notifyFailingAfter';

/** Their flags (of `watch` and `refresh`). */
export const NOTIFY_FLAG_NAMES: Record<NotifyKey, string> = {
  notify: 'notify',
  notifyBefore: 'notify-before',
  notifyFailingAfter: 'notify-failing-after',
};

/** Their environment variables. */
export const NOTIFY_ENV_NAMES: Record<NotifyKey, string> = {
  notify: 'TD_TOKEN_NOTIFY',
  notifyBefore: 'TD_TOKEN_NOTIFY_BEFORE',
  notifyFailingAfter: 'TD_TOKEN_NOTIFY_FAILING_AFTER',
};

/** Their config-file keys, at the top level and in a profile's section. */
export const NOTIFY_FILE_KEYS: readonly NotifyKey[] = [
  'notify',
  'notifyBefore',
  'notifyFailingAfter',
];

/**
 * The notification settings as configured, unparsed. `notify` is a list (repeated flags, a
 * config-file array) or one string of targets separated by spaces or commas (a variable, a
 * config-file string).
 */
export interface NotifyConfig {
  notify: Sourced<string | readonly string[]> | undefined;
  notifyBefore: Sourced<string> | undefined;
  notifyFailingAfter: Sourced<string> | undefined;
}

/** What {@link resolveNotify} reads. */
export interface NotifySources {
  flags: Record<string, unknown>;
  env: Record<string, string | undefined>;
  dotenv: Record<string, string | undefined> | undefined;
  file: ConfigFile | undefined;
  profile: string;
  configFile: string;
}

function fromFlag(
  flags: Record<string, unknown>,
  key: NotifyKey,
): Sourced<string | string[]> | undefined {
  const name = NOTIFY_FLAG_NAMES[key];
  const raw = flags[name];
  const source: ValueSource = { kind: 'flag', name: `--${name}` };
  if (typeof raw === 'string') return { value: raw, source };
  if (Array.isArray(raw)) {
    const values = raw.filter((v): v is string => typeof v === 'string');
    if (values.length === 0) return undefined;
    return { value: key === 'notify' ? values : (values[0] as string), source };
  }
  return undefined;
}

function fromVars(
  vars: Record<string, string | undefined> | undefined,
  key: NotifyKey,
  kind: 'env' | 'dotenv',
): Sourced<string> | undefined {
  const name = NOTIFY_ENV_NAMES[key];
  const raw = vars?.[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  return { value: raw.trim(), source: { kind, name: kind === 'env' ? name : `.env: ${name}` } };
}

function fromFile(
  file: ConfigFile | undefined,
  key: NotifyKey,
  profile: string,
  path: string,
): Sourced<string | readonly string[]> | undefined {
  return fileValue(file, key, profile, path);
}

/**
 * The notification settings, flags > environment > `.env` > config file; each found value's
 * source goes into `sources`.
 */
export function resolveNotify(
  input: NotifySources,
  sources: Partial<Record<NotifyKey, ValueSource>>,
): NotifyConfig {
  const pick = (key: NotifyKey): Sourced<string | readonly string[]> | undefined => {
    const found =
      fromFlag(input.flags, key) ??
      fromVars(input.env, key, 'env') ??
      fromVars(input.dotenv, key, 'dotenv') ??
      fromFile(input.file, key, input.profile, input.configFile);
    if (found !== undefined) sources[key] = found.source;
    return found;
  };
  const single = (key: NotifyKey): Sourced<string> | undefined => {
    const found = pick(key);
    if (found === undefined) return undefined;
    const value = typeof found.value === 'string' ? found.value : found.value.join(',');
    return { value, source: found.source };
  };
  return {
    notify: pick('notify'),
    notifyBefore: single('notifyBefore'),
    notifyFailingAfter: single('notifyFailingAfter'),
  };
}
