/**
 * What every `td-token doctor` check gives back: its name, whether it passed, what it found, and
 * (when it failed) the fix.
 *
 * @module
 */

/** One check's outcome. `fix` is empty when the check passed. */
export interface CheckResult {
  /** A short stable name (`redirect-uri`, `clock`, ...), also the JSON key programs match on. */
  name: string;
  ok: boolean;
  /** What was found, for people. Never a token, secret or passphrase. */
  detail: string;
  /** What to do about it; empty when `ok`. */
  fix: string;
}

/** A passed check. */
export function pass(name: string, detail: string): CheckResult {
  return { name, ok: true, detail, fix: '' };
}

/** A failed check, with its fix. */
export function fail(name: string, detail: string, fix: string): CheckResult {
  return { name, ok: false, detail, fix };
}
