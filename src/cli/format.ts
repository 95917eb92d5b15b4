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

/** A local date and time, `2025-03-14 09:26 (UTC+01:00)`-ish, via ISO with the offset. */
export function when(at: number): string {
  const d = new Date(at);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const oh = pad(Math.floor(Math.abs(offset) / 60));
  const om = pad(Math.abs(offset) % 60);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())} (UTC${sign}${oh}:${om})`;
}

/** Quote one word for a POSIX shell when it needs it. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
