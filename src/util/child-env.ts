/**
 * The environment td-token gives the processes it starts (a browser opener, a hook command):
 * its own, minus td-token's secrets, so that a passphrase or a client secret never reaches a
 * program that did not need it (and whatever that program starts in turn).
 *
 * @module
 */

/**
 * td-token's environment variables that hold a secret, by name. {@link isSecretEnvName} also
 * catches any other `TD_TOKEN_*` name that says it holds one.
 */
export const SECRET_ENV_NAMES: readonly string[] = [
  'TD_TOKEN_PASSPHRASE',
  'TD_TOKEN_CLIENT_SECRET',
];

/** Words in a `TD_TOKEN_*` name that mark a secret (a `*_FILE` name holds only a path). */
const SECRET_WORDS = /(SECRET|PASSPHRASE|PASSWORD|CREDENTIAL|PRIVATE_KEY|ACCESS_TOKEN|REFRESH)/;

/** The store URL: a secret only when it carries a password (`redis://:pw@host`). */
const STORE_URL_ENV = 'TD_TOKEN_STORE_URL';

/**
 * Whether an environment variable is one of td-token's secrets: a name of
 * {@link SECRET_ENV_NAMES}, or a `TD_TOKEN_*` name holding `SECRET`, `PASSPHRASE`, `PASSWORD`,
 * `CREDENTIAL`, `PRIVATE_KEY`, `ACCESS_TOKEN` or `REFRESH` that is not a `*_FILE` path. Names are
 * compared without case (Windows ignores it).
 *
 * @example
 * isSecretEnvName('TD_TOKEN_PASSPHRASE'); // true
 * isSecretEnvName('TD_TOKEN_PASSPHRASE_FILE'); // false: a path
 */
export function isSecretEnvName(name: string): boolean {
  if (typeof name !== 'string') throw new TypeError('"name" must be a string');
  const upper = name.toUpperCase();
  if (SECRET_ENV_NAMES.includes(upper)) return true;
  if (!upper.startsWith('TD_TOKEN_') || upper.endsWith('_FILE')) return false;
  return SECRET_WORDS.test(upper.slice('TD_TOKEN_'.length));
}

/** Whether a URL carries a user name or password (then it is a secret). */
function carriesCredentials(value: string): boolean {
  try {
    const url = new URL(value);
    return url.username !== '' || url.password !== '';
  } catch {
    // Not a URL td-token could use; it may still hold a password: keep it from children.
    return value.includes('@');
  }
}

/**
 * A copy of `env` without td-token's secrets ({@link isSecretEnvName}, and `TD_TOKEN_STORE_URL`
 * when it carries a password), for `spawn`'s `env` option. `env` itself is not changed.
 *
 * @example
 * spawn('xdg-open', [url], { env: childEnv(process.env), stdio: 'ignore' });
 */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (typeof env !== 'object' || env === null) {
    throw new TypeError('"env" must be an object of environment variables');
  }
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (isSecretEnvName(name)) continue;
    if (name.toUpperCase() === STORE_URL_ENV && carriesCredentials(value)) continue;
    out[name] = value;
  }
  return out;
}
