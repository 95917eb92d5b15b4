/**
 * Formatting for people: times left, dates, and shell-quoted commands.
 *
 * @internal
 * @module
 */

const DAY = 86_400_000;

export { timeLeft } from '../util/time.js';

/** Days left, to one decimal (negative once past). */
export function daysLeft(at: number, now: number): number {
  return Math.floor(((at - now) / DAY) * 10) / 10;
}

/** Quote one word for a POSIX shell when it needs it. */
export { shellQuote } from '../util/shell.js';
/** A local date and time, `2025-03-14 09:26 (UTC+01:00)`. */
export { localTime as when } from '../util/time.js';
