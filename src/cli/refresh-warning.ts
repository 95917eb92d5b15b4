/**
 * The warning `token` and `refresh` print when the refresh token's end is near, so that a cron
 * mail or a terminal says so before a re-login is forced.
 *
 * @internal
 * @module
 */
import type { TokenRecord } from '../token.js';
import { timeLeft, when } from './format.js';
import { type CliIO, warn } from './io.js';

/** Warn when fewer than this many hours of the refresh token's life are left. */
export const WARN_REFRESH_HOURS = 48;

/** Print the warning if due; `loginCommand` is the command that fixes it. */
export function warnIfRefreshEnding(
  io: CliIO,
  record: TokenRecord,
  now: number,
  loginCommand: string,
): void {
  const left = record.refresh_token_expires_at - now;
  if (left > WARN_REFRESH_HOURS * 3_600_000) return;
  warn(
    io,
    `the refresh token expires ${timeLeft(record.refresh_token_expires_at, now)} (${when(record.refresh_token_expires_at)}); after that a person must log in. run '${loginCommand}' before then`,
  );
}
