/**
 * Times for people, worded the same on the command line and on the login server's pages: a span
 * (`in 29 min`) and a moment in this computer's local time.
 *
 * @internal
 * @module
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** `in 29 min`, `in 6.9 days`, `3 hours ago`: a span from `now` to `at`, roughly. */
export function timeLeft(at: number, now: number): string {
  const ms = at - now;
  const abs = Math.abs(ms);
  let text: string;
  if (abs < MINUTE) text = `${Math.round(abs / 1000)} s`;
  else if (abs < 2 * HOUR) text = `${Math.round(abs / MINUTE)} min`;
  else if (abs < 2 * DAY) text = `${Math.round((abs / HOUR) * 10) / 10} hours`;
  else text = `${Math.round((abs / DAY) * 10) / 10} days`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** A moment in this computer's local time: `2025-03-14 09:26 (UTC+01:00)`. */
export function localTime(at: number): string {
  const d = new Date(at);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const oh = pad(Math.floor(Math.abs(offset) / 60));
  const om = pad(Math.abs(offset) % 60);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())} (UTC${sign}${oh}:${om})`;
}
