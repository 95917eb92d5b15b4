/**
 * An audit hook: when the environment variable `TD_TOKEN_SANDBOX_LEDGER` names a file, every
 * authorization code, access token and refresh token the sandbox issues is appended to it, one
 * per line as `<kind> <value>`. A test run can then search everything it printed for every
 * secret it handed out (td-token's own suite does, after every run). Off when the variable is
 * unset; never set it outside tests, as the file holds the sandbox's live tokens.
 *
 * @module
 */
import { appendFileSync } from 'node:fs';

/** The environment variable naming the ledger file. */
export const LEDGER_ENV = 'TD_TOKEN_SANDBOX_LEDGER';

/** What the sandbox issues. */
export type IssuedKind = 'code' | 'access_token' | 'refresh_token';

/**
 * Append an issued secret to the ledger, if one is configured, and return it. Appends are
 * single `O_APPEND` writes, so sandboxes in several processes can share one ledger.
 */
export function recordIssued(kind: IssuedKind, value: string): string {
  const path = process.env[LEDGER_ENV];
  if (path !== undefined && path !== '') {
    appendFileSync(path, `${kind} ${value}\n`, { mode: 0o600 });
  }
  return value;
}
