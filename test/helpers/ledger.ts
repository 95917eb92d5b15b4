/**
 * Made-up secrets in the suite's secret scan. The sandbox appends every code and token it issues
 * to the ledger named by `TD_TOKEN_SANDBOX_LEDGER` (src/sandbox/ledger.ts: one `<kind> <value>`
 * line each), and test/run-suite.mjs searches all the output for them. Tokens a test helper
 * invents (records for the store tests) and passphrases the encryption tests use never pass
 * through a sandbox: {@link recordInvented} appends them to the same ledger, so that the scan
 * finds them too.
 *
 * Only values of {@link MIN_INVENTED_LENGTH} characters or more are recorded: shorter ones
 * (`'a'`, `'wrong'`) would turn up in innocent output. Nothing happens when the variable is unset
 * (a bare `vitest run`).
 */
import { appendFileSync } from 'node:fs';
import { LEDGER_ENV } from './output-log.js';

/** The shortest made-up value worth scanning for. */
export const MIN_INVENTED_LENGTH = 16;

/** What a test made up: shown in a leak report as the secret's kind. */
export type InventedKind = 'invented_token' | 'invented_passphrase';

/** Append `value` to the ledger, when one is set and `value` is long enough; return `value`. */
export function recordInvented(kind: InventedKind, value: string): string {
  const path = process.env[LEDGER_ENV];
  if (path && value.length >= MIN_INVENTED_LENGTH && !/[\r\n]/.test(value)) {
    appendFileSync(path, `${kind} ${value}\n`, { mode: 0o600 });
  }
  return value;
}
