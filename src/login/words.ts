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

export { localTime } from '../util/time.js';
