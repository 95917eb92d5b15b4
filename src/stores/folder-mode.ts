/**
 * The mode checks on load, for every file that holds a secret (a token file, a token database,
 * a key file) and its folder, with the one message each that names the fix.
 *
 * - The file: one that other users can read or change gets a warning naming `chmod 600` (for a
 *   key file, the caller refuses it instead).
 * - The folder: one that any user can write to lets them replace the file (or plant one),
 *   whatever the file's own mode. A sticky folder (`/tmp`, mode 1777) is fine: there only a
 *   file's owner may rename or delete it. A group-writable folder is not reported: with the
 *   per-user groups most systems give (umask 002), it is everyday and harmless.
 *
 * @internal
 * @module
 */
import { statSync } from 'node:fs';
import { shellQuote } from '../util/shell.js';

/**
 * The message for `path` (described as `what`, e.g. `the token file`) when its `mode` lets
 * other users read or change it; undefined when it does not, or on Windows.
 */
export function looseFileMessage(what: string, path: string, mode: number): string | undefined {
  if (process.platform === 'win32') return undefined;
  const bits = mode & 0o777;
  if ((bits & 0o077) === 0) return undefined;
  return `${what} ${path} can be read or changed by other users (mode ${bits.toString(8).padStart(4, '0')}). fix it: chmod 600 ${shellQuote(path)}`;
}

/**
 * The warning for `dir` when every user can write to it (and it is not sticky);
 * undefined when it is safe, missing, or on Windows.
 */
export function looseFolderWarning(dir: string, what: string): string | undefined {
  if (process.platform === 'win32') return undefined;
  let mode: number;
  try {
    mode = statSync(dir).mode;
  } catch {
    return undefined;
  }
  if ((mode & 0o002) === 0 || (mode & 0o1000) !== 0) return undefined;
  const shown = (mode & 0o7777).toString(8).padStart(4, '0');
  return `the folder ${dir} holding ${what} can be changed by other users (mode ${shown}): they could replace it. fix it: chmod o-w ${shellQuote(dir)}`;
}
