/**
 * Durations on the command line: `300` (seconds), `90s`, `5m`, `1h`.
 *
 * @internal
 * @module
 */
import { ConfigError } from '../errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** Parse a duration flag into ms; `flag` names it in the error. */
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
