/**
 * The folder half of the mode check on load: a token file's folder that any user can write to
 * lets them replace the token file (or plant one), whatever the file's own mode. A sticky
 * folder (`/tmp`, mode 1777) is fine: there only a file's owner may rename or delete it. A
 * group-writable folder is not reported: with the per-user groups most systems give (umask
 * 002), it is everyday and harmless.
 *
 * @internal
 * @module
 */
import { statSync } from 'node:fs';
import { shellQuote } from './atomic-file.js';

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
