/**
 * Durations as people write them: `300` (seconds), `90s`, `5m`, `1h`, and for long ones (a
 * refresh token's lifetime, a notification's lead time) also days, `30d`.
 *
 * @internal
 * @module
 */
import { ConfigError } from '../errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };
const DAY_MS = 86_400_000;

/** Parse a duration into ms; `flag` names it in the error (a flag, a variable, a config key). */
export function parseDuration(value: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?$/.exec(value.trim());
  const amount = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  const unit = UNITS[match?.[2] ?? 's'] ?? 1000;
  const ms = Math.round(amount * unit);
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new ConfigError(
      `${flag} is "${value}", which is not a duration. give seconds (300) or a number with s, m or h (90s, 5m, 1h)`,
    );
  }
  return ms;
}

/** {@link parseDuration}, also in days (`7d`, `30d`). */
export function parseLongDuration(value: string, flag: string): number {
  const days = /^\s*(\d+(?:\.\d+)?)\s*d\s*$/.exec(value);
  if (days?.[1] !== undefined) {
    const ms = Math.round(Number(days[1]) * DAY_MS);
    if (ms > 0) return ms;
  }
  try {
    return parseDuration(value, flag);
  } catch (cause) {
    throw new ConfigError(
      `${flag} is "${value}", which is not a duration. give a number with d, h, m or s (30d, 12h, 90m)`,
      { cause },
    );
  }
}
