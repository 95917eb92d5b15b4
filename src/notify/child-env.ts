/**
 * The environment td-token gives the processes it starts (notification commands, notify-send,
 * the `--on-relogin` command): its own, minus td-token's secrets, so that a command that only
 * says "log in again" never holds the passphrase, the client secret or a notification target's
 * password.
 *
 * @module
 */

/** Variables that hold a secret of td-token's outright. */
const SECRET_NAMES: ReadonlySet<string> = new Set([
  'TD_TOKEN_PASSPHRASE',
  'TD_TOKEN_CLIENT_SECRET',
  'TD_TOKEN_NOTIFY',
]);

/** Variables that hold a URL whose user name or password is a secret when present. */
const URL_NAMES: ReadonlySet<string> = new Set(['TD_TOKEN_STORE_URL']);

/** True when `name` holds one of td-token's secrets (given its `value`). */
export function isSecretVariable(name: string, value: string | undefined): boolean {
  const upper = name.toUpperCase();
  if (SECRET_NAMES.has(upper)) return true;
  // Any other TD_TOKEN_ variable named like a secret (TD_TOKEN_*SECRET*, *PASSWORD*, *PASSPHRASE*).
  if (upper.startsWith('TD_TOKEN_') && /SECRET|PASSWORD|PASSPHRASE(?!_FILE)/.test(upper)) {
    return true;
  }
  if (URL_NAMES.has(upper) && value !== undefined)
    return /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(value);
  return false;
}

/**
 * `env` without td-token's secrets, plus `extra`. Use it for every child process td-token starts.
 *
 * @example
 * spawn(command, { shell: true, env: childEnv(process.env, { TD_TOKEN_EVENT: 'login_required' }) });
 */
export function childEnv(
  env: NodeJS.ProcessEnv,
  extra: Record<string, string> = {},
): Record<string, string> {
  if (typeof env !== 'object' || env === null) throw new TypeError('"env" must be an object');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || isSecretVariable(name, value)) continue;
    out[name] = value;
  }
  return { ...out, ...extra };
}
