/**
 * The command line's small pure pieces: durations, quoting, the fix command, masking secrets in
 * error lines, exit codes, and the Python token-file shapes for records without every extra.
 */
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/cli/duration.js';
import { toSchwabPy, toTdaApi } from '../../src/cli/export-formats.js';
import { exitCodeFor, scrub, UsageError } from '../../src/cli/failure.js';
import { fixCommand } from '../../src/cli/fix-command.js';
import { shellQuote, timeLeft } from '../../src/cli/format.js';
import { ConfigError, LoginRequiredError, ProviderError } from '../../src/errors.js';
import { maskToken, type TokenRecord } from '../../src/token.js';

describe('parseDuration', () => {
  it.each([
    ['300', 300_000],
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1.5m', 90_000],
    ['250ms', 250],
  ])('%s', (text, ms) => {
    expect(parseDuration(text, '--timeout')).toBe(ms);
  });
  it.each(['', '0', '-1', '5 minutes', 'soon', '1d'])('rejects %o naming the flag', (text) => {
    expect(() => parseDuration(text, '--timeout')).toThrow(ConfigError);
    expect(() => parseDuration(text, '--timeout')).toThrow(
      /^--timeout is ".*", which is not a duration/,
    );
  });
});

describe('fixCommand', () => {
  it('repeats the configuration flags, quoted, with the secret as a variable', () => {
    expect(
      fixCommand('login', {
        profile: 'work',
        'token-file': 'my tokens/t.json',
        'client-secret': 'hunter2',
        force: true,
        json: true,
      }),
    ).toBe(
      `td-token login --client-secret "$TD_TOKEN_CLIENT_SECRET" --token-file 'my tokens/t.json' --profile work`,
    );
    expect(fixCommand('refresh', {})).toBe('td-token refresh');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('errors', () => {
  it('exit codes: 3 login required, 2 usage and configuration, 1 everything else', () => {
    expect(exitCodeFor(new LoginRequiredError('x'))).toBe(3);
    expect(exitCodeFor(new ConfigError('x'))).toBe(2);
    expect(exitCodeFor(new UsageError('x'))).toBe(2);
    expect(exitCodeFor(new ProviderError('provider_unavailable', 'x'))).toBe(1);
    expect(exitCodeFor(new Error('x'))).toBe(1);
  });
  it('scrub masks every known secret', () => {
    const token = 'abcdefghijklmnopqrstuvwxyz0123456789';
    expect(scrub(`bad token ${token} and ${token}`, [token])).toBe(
      `bad token ${maskToken(token)} and ${maskToken(token)}`,
    );
  });
});

describe('timeLeft', () => {
  it('reads naturally both ways', () => {
    expect(timeLeft(1_000 + 29 * 60_000, 1_000)).toBe('in 29 min');
    expect(timeLeft(0, 3 * 3_600_000)).toBe('3 hours ago');
    expect(timeLeft(6.9 * 86_400_000, 0)).toBe('in 6.9 days');
  });
});

describe('Python token files without the record extras', () => {
  const record: TokenRecord = {
    access_token: 'ACCESS',
    expires_at: 1_700_001_800_500,
    refresh_token: 'REFRESH',
    refresh_token_expires_at: 1_700_604_800_000,
    scope: 'api',
    token_type: 'Bearer',
  };
  it('schwab-py: the login time is estimated as 7 days before the refresh token ends', () => {
    expect(toSchwabPy(record)).toEqual({
      creation_timestamp: 1_700_604_800 - 7 * 86_400,
      token: {
        expires_in: 1800,
        token_type: 'Bearer',
        scope: 'api',
        refresh_token: 'REFRESH',
        access_token: 'ACCESS',
        expires_at: 1_700_001_800,
      },
    });
  });
  it('tda-api: 90 days before, and the refresh lifetime from there', () => {
    const file = toTdaApi(record);
    expect(file.creation_timestamp).toBe(1_700_604_800 - 90 * 86_400);
    expect(file.token['refresh_token_expires_in']).toBe(90 * 86_400);
    expect(file.token['expires_at']).toBe(1_700_001_800);
  });
});
