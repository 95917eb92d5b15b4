/**
 * How the login rooms word times for people: a span (`5 minutes`), and a moment as the person's
 * local date and time with the time left, in the terminal's wording.
 *
 * @internal
 * @module
 */
/** A duration for people: `5 minutes`, `90 seconds`, `400 ms`. */
export function describeDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const minutes = ms / 60_000;
  if (minutes >= 1 && Number.isInteger(minutes))
    return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const seconds = Math.round(ms / 100) / 10;
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

/**
 * A moment in this computer's local time, `2025-03-14 09:26 (UTC+01:00)`, worded as the
 * terminal's `when` (src/cli/format.ts) words it.
 */
export function localTime(at: number): string {
  const d = new Date(at);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const oh = pad(Math.floor(Math.abs(offset) / 60));
  const om = pad(Math.abs(offset) % 60);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())} (UTC${sign}${oh}:${om})`;
}
