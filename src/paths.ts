/**
 * Where td-token keeps its files: the user's config folder and what lives in it.
 *
 * - Linux and other Unix: `$XDG_CONFIG_HOME/td-token`, else `~/.config/td-token`
 * - macOS: `$XDG_CONFIG_HOME/td-token` when set, else `~/Library/Preferences/td-token`
 * - Windows: `%APPDATA%\td-token`, else `~\AppData\Roaming\td-token`
 *
 * Inside it: `config.json` (optional settings), `tokens/<profile>.json` (the default file store,
 * one file per profile), `tokens.db` (the default SQLite store), `certs/` (the login server's
 * certificate) and `sandbox/` (the addresses of running `td-token sandbox` processes).
 *
 * @module
 */
import { homedir } from 'node:os';
import { isAbsolute, join, posix, win32 } from 'node:path';

/** The folder name td-token uses inside the platform's config folder. */
export const APP_DIR_NAME = 'td-token';

/** Overrides for tests and for callers that know better than `process`. */
export interface PathOptions {
  /** `process.platform` unless given. */
  platform?: NodeJS.Platform | undefined;
  /** The home folder when the environment names none (`HOME` / `USERPROFILE`). */
  homedir?: string | undefined;
}

function homeOf(env: NodeJS.ProcessEnv, platform: NodeJS.Platform, options: PathOptions): string {
  const fromEnv = platform === 'win32' ? (env['USERPROFILE'] ?? env['HOME']) : env['HOME'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return options.homedir ?? homedir();
}

/**
 * The user's td-token config folder.
 *
 * @example
 * configDir({ XDG_CONFIG_HOME: '/home/ann/.cfg' }) // '/home/ann/.cfg/td-token' on Linux
 */
export function configDir(env: NodeJS.ProcessEnv = process.env, options: PathOptions = {}): string {
  if (typeof env !== 'object' || env === null) throw new TypeError('"env" must be an object');
  const platform = options.platform ?? process.platform;
  const path = platform === 'win32' ? win32 : posix;
  const xdg = env['XDG_CONFIG_HOME'];
  if (platform === 'win32') {
    const appData = env['APPDATA'];
    if (appData !== undefined && appData !== '') return path.join(appData, APP_DIR_NAME);
    return path.join(homeOf(env, platform, options), 'AppData', 'Roaming', APP_DIR_NAME);
  }
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (xdg !== undefined && xdg !== '' && path.isAbsolute(xdg)) return path.join(xdg, APP_DIR_NAME);
  const home = homeOf(env, platform, options);
  if (platform === 'darwin') return path.join(home, 'Library', 'Preferences', APP_DIR_NAME);
  return path.join(home, '.config', APP_DIR_NAME);
}

/**
 * A profile name that is safe as a file name: 1 to 64 letters, digits, `.`, `_`, `-`, starting
 * with a letter or digit and not ending with `.`. (The config file's JSON Schema uses it too.)
 */
export const PROFILE_NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9_-])?$/;

/** True for a profile name that is safe as a file name: letters, digits, `.`, `_`, `-`, up to 64. */
export function isValidProfileName(profile: string): boolean {
  return typeof profile === 'string' && PROFILE_NAME_PATTERN.test(profile);
}

/** The settings file's name inside the config folder. */
export const CONFIG_FILE_NAME = 'config.json';

/** The default SQLite store's file name inside the config folder (one database, a row per profile). */
export const SQLITE_FILE_NAME = 'tokens.db';

/**
 * Where things live inside a given config folder: the default file store of a profile, the
 * default SQLite database, the certificate folder and the settings file.
 */
export const inConfigDir = Object.freeze({
  tokenFile: (dir: string, profile: string): string => join(dir, 'tokens', `${profile}.json`),
  sqliteFile: (dir: string): string => join(dir, SQLITE_FILE_NAME),
  certDir: (dir: string): string => join(dir, 'certs'),
  configFile: (dir: string): string => join(dir, CONFIG_FILE_NAME),
});

/** The default file store for a profile: `<config>/tokens/<profile>.json`. */
export function defaultTokenPath(
  profile: string,
  env: NodeJS.ProcessEnv = process.env,
  options: PathOptions = {},
): string {
  if (typeof profile !== 'string' || !isValidProfileName(profile)) {
    throw new TypeError('"profile" must be a name of letters, digits, ".", "_" or "-"');
  }
  return inConfigDir.tokenFile(configDir(env, options), profile);
}

/** The default SQLite store, shared by all profiles: `<config>/tokens.db`. */
export function defaultSqlitePath(
  env: NodeJS.ProcessEnv = process.env,
  options: PathOptions = {},
): string {
  return inConfigDir.sqliteFile(configDir(env, options));
}

/** The login server's certificate folder: `<config>/certs`. */
export function certDir(env: NodeJS.ProcessEnv = process.env, options: PathOptions = {}): string {
  return inConfigDir.certDir(configDir(env, options));
}

/** The optional settings file: `<config>/config.json`. */
export function configFilePath(
  env: NodeJS.ProcessEnv = process.env,
  options: PathOptions = {},
): string {
  return inConfigDir.configFile(configDir(env, options));
}

/** Resolve `path` against `base` unless it is absolute already; `~/` means the home folder. */
export function resolvePath(
  path: string,
  base: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (path === '~' || path.startsWith('~/')) {
    return join(homeOf(env, process.platform, {}), path.slice(1));
  }
  return isAbsolute(path) ? path : join(base, path);
}
