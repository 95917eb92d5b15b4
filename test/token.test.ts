import { describe, expect, it } from 'vitest';
import { ProviderError, StoreError } from '../src/errors.js';
import {
  assertTokenResponse,
  isAccessTokenFresh,
  isRefreshTokenExpired,
  isRefreshTokenExpiryKnown,
  MAX_TOKEN_LENGTH,
  maskToken,
  parseTokenRecord,
  SEED_FIELDS,
  serializeTokenRecord,
  TOKEN_RECORD_VERSION,
  type TokenRecord,
  tokenRecordFromResponse,
  validateTokenRecord,
} from '../src/token.js';

const DAY = 86_400_000;

/** The seed-era token.json, as its README shows it (comments removed). */
const SEED_TOKEN_JSON = {
  access_token: 'seed-access',
  expires_at: 1639422978915,
  refresh_token: 'seed-refresh',
  refresh_token_expires_at: 1647197178915,
  scope: 'PlaceTrades AccountAccess MoveMoney',
  token_type: 'Bearer',
};

function errorOf(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe('tokenRecordFromResponse', () => {
  it('TD: both lifetimes counted from receipt', () => {
    const record = tokenRecordFromResponse(
      {
        access_token: 'a',
        refresh_token: 'r',
        expires_in: 1800,
        refresh_token_expires_in: 7_776_000,
        scope: 'PlaceTrades',
        token_type: 'Bearer',
      },
      { receivedAt: 1_000, provider: 'tdameritrade' },
    );
    expect(record).toEqual({
      access_token: 'a',
      expires_at: 1_801_000,
      refresh_token: 'r',
      refresh_token_expires_at: 1_000 + 90 * DAY,
      scope: 'PlaceTrades',
      token_type: 'Bearer',
      provider: 'tdameritrade',
      issued_at: 1_000,
      refresh_token_issued_at: 1_000,
      version: TOKEN_RECORD_VERSION,
    });
  });

  it('Schwab: no refresh lifetime given, 7 days from login, kept across refreshes', () => {
    const options = {
      provider: 'schwab',
      defaultRefreshLifetimeMs: 7 * DAY,
      refreshExpiryFixedAtLogin: true,
    };
    const login = tokenRecordFromResponse(
      { access_token: 'a', refresh_token: 'r', expires_in: 1800, scope: 'api', id_token: 'jwt' },
      { receivedAt: 0, ...options },
    );
    expect(login.refresh_token_expires_at).toBe(7 * DAY);
    expect(login).not.toHaveProperty('id_token');
    const next = tokenRecordFromResponse(
      { access_token: 'b', refresh_token: 'r', expires_in: 1800, scope: 'api' },
      { receivedAt: 3 * DAY, previous: login, ...options },
    );
    expect(next.refresh_token_expires_at).toBe(7 * DAY);
    expect(next.refresh_token_issued_at).toBe(0);
    expect(next.expires_at).toBe(3 * DAY + 1_800_000);
  });

  it('a refresh without refresh_token keeps the stored one, its expiry and scope', () => {
    const previous = validateTokenRecord({ ...SEED_TOKEN_JSON }, 'seed');
    const next = tokenRecordFromResponse({ access_token: 'new' }, { receivedAt: 5, previous });
    expect(next.refresh_token).toBe('seed-refresh');
    expect(next.refresh_token_expires_at).toBe(1647197178915);
    expect(next.scope).toBe('PlaceTrades AccountAccess MoveMoney');
    expect(next.expires_at).toBe(5 + 1_800_000);
  });

  it("a refresh keeps what the fleet announced about the login (the 'notifications' field); a login has none", () => {
    const announced = { sent: { expiring_72h: { at: 1 } } };
    const previous = {
      ...validateTokenRecord({ ...SEED_TOKEN_JSON }, 'seed'),
      notifications: announced,
    };
    const next = tokenRecordFromResponse({ access_token: 'new' }, { receivedAt: 5, previous });
    expect((next as unknown as Record<string, unknown>)['notifications']).toEqual(announced);
    const login = tokenRecordFromResponse(
      { access_token: 'a', refresh_token: 'r', expires_in: 1800 },
      { receivedAt: 0 },
    );
    expect(login).not.toHaveProperty('notifications');
  });

  it('no refresh_token and none stored: invalid_response', () => {
    const error = errorOf(() => tokenRecordFromResponse({ access_token: 'a' }, { receivedAt: 0 }));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error.code).toBe('invalid_response');
  });

  it('accepts lifetimes sent as decimal strings', () => {
    const record = tokenRecordFromResponse(
      { access_token: 'a', refresh_token: 'r', expires_in: '60' as never },
      { receivedAt: 0 },
    );
    expect(record.expires_at).toBe(60_000);
  });
});

const LIFETIME = (field: string) => `has a ${field} that is not a number of seconds from 1 to 1e9`;

describe('assertTokenResponse', () => {
  it.each([
    [null, 'is not a JSON object'],
    [[], 'is not a JSON object'],
    [{}, 'has no access_token'],
    [{ access_token: '' }, 'has no access_token'],
    [{ access_token: 'a', token_type: 'mac' }, 'has token_type "mac" where Bearer was expected'],
    [{ access_token: 'a', expires_in: -5 }, LIFETIME('expires_in')],
    [{ access_token: 'a', expires_in: '0' }, LIFETIME('expires_in')],
    // Under a second would put the expiry at the moment of receipt (5e-324 s rounds to 0 ms).
    [{ access_token: 'a', expires_in: 5e-324 }, LIFETIME('expires_in')],
    [{ access_token: 'a', expires_in: 0.5 }, LIFETIME('expires_in')],
    [{ access_token: 'a', expires_in: 1e12 }, LIFETIME('expires_in')],
    [{ access_token: 'a', refresh_token_expires_in: 1e300 }, LIFETIME('refresh_token_expires_in')],
    [{ access_token: 'a', refresh_token: 5 }, 'has a refresh_token that is not a string'],
    [{ access_token: 'a', refresh_token: '' }, 'has an empty refresh_token'],
  ])('%j: %s', (body, problem) => {
    const error = errorOf(() => assertTokenResponse(body));
    expect(error.code).toBe('invalid_response');
    expect(error.message).toBe(
      `the token endpoint's answer ${problem}. check that the token URL points at an OAuth 2.0 token endpoint (td-token status shows it)`,
    );
  });

  it('a fractional lifetime gives a whole-millisecond expiry', () => {
    const record = tokenRecordFromResponse(
      { access_token: 'a', refresh_token: 'r', expires_in: 1.0004, refresh_token_expires_in: 2.5 },
      { receivedAt: 1_000_000 },
    );
    expect(record.expires_at).toBe(1_001_000);
    expect(record.refresh_token_expires_at).toBe(1_002_500);
  });

  it('accepts bearer in any case', () => {
    expect(() => assertTokenResponse({ access_token: 'a', token_type: 'bearer' })).not.toThrow();
  });
});

describe('the stored record', () => {
  it("SEED_FIELDS is the seed token.json's six fields, in its order", () => {
    expect(SEED_FIELDS).toEqual(Object.keys(SEED_TOKEN_JSON));
    expect(SEED_FIELDS).toEqual([
      'access_token',
      'expires_at',
      'refresh_token',
      'refresh_token_expires_at',
      'scope',
      'token_type',
    ]);
  });

  it('the seed token.json parses as is', () => {
    const record = parseTokenRecord(JSON.stringify(SEED_TOKEN_JSON), 'output/token.json');
    expect(record).toEqual(SEED_TOKEN_JSON);
  });

  it('serializes in the seed field order, extras after, with a final newline', () => {
    const record: TokenRecord = {
      version: 1,
      provider: 'tdameritrade',
      token_type: 'Bearer',
      scope: 's',
      refresh_token_expires_at: 1_700_000_000_002,
      refresh_token: 'r',
      expires_at: 1_700_000_000_001,
      access_token: 'a',
    };
    const text = serializeTokenRecord(record);
    expect(Object.keys(JSON.parse(text))).toEqual([...SEED_FIELDS, 'version', 'provider']);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).toContain('\n  "access_token": "a",\n');
    expect(parseTokenRecord(text, 'x')).toEqual(record);
  });

  it.each([
    ['', 'is empty'],
    ['{"access_token": "a", "expi', 'is not valid JSON (truncated or hand-edited?)'],
    ['[]', 'is not a JSON object'],
    [JSON.stringify({ ...SEED_TOKEN_JSON, refresh_token: '' }), 'has no refresh_token'],
    [
      JSON.stringify({ ...SEED_TOKEN_JSON, expires_at: '2021-12-13' }),
      'has a expires_at that is not a time in ms since the epoch',
    ],
    [JSON.stringify({ ...SEED_TOKEN_JSON, scope: undefined }), 'has no scope'],
    [JSON.stringify({ ...SEED_TOKEN_JSON, provider: 3 }), 'has a provider that is not a string'],
    [
      JSON.stringify({ ...SEED_TOKEN_JSON, issued_at: 'x' }),
      'has a issued_at that is not a number',
    ],
  ])('a corrupt record (%s) names the source and the fix', (text, problem) => {
    const error = errorOf(() => parseTokenRecord(text, '/home/u/.config/td-token/token.json'));
    expect(error).toBeInstanceOf(StoreError);
    expect(error.code).toBe('invalid_token_file');
    expect(error.message).toContain(
      `the token record in /home/u/.config/td-token/token.json ${problem}`,
    );
    expect(error.message).toMatch(
      /run 'td-token login' to replace it, or restore it from a backup$/,
    );
  });
});

describe('freshness and masking', () => {
  const record = validateTokenRecord(
    { ...SEED_TOKEN_JSON, expires_at: 10_000, refresh_token_expires_at: 50_000 },
    't',
  );

  it('access token freshness with a margin', () => {
    expect(isAccessTokenFresh(record, 9_999)).toBe(true);
    expect(isAccessTokenFresh(record, 10_000)).toBe(false);
    expect(isAccessTokenFresh(record, 5_000, 5_000)).toBe(false);
    expect(isAccessTokenFresh(record, 4_999, 5_000)).toBe(true);
  });

  it('refresh token expiry', () => {
    expect(isRefreshTokenExpired(record, 49_999)).toBe(false);
    expect(isRefreshTokenExpired(record, 50_000)).toBe(true);
  });

  it('masks tokens so they cannot be used', () => {
    expect(maskToken('short')).toBe('****');
    const masked = maskToken('abcdefghijklmnopqrstuvwxyz');
    expect(masked).toBe('abcd…(26 chars)');
    expect(masked).not.toContain('efgh');
  });
});

describe('reading stored records', () => {
  const FILE = '/home/u/.config/td-token/token.json';

  it('ignores a leading UTF-8 byte order mark', () => {
    const text = `\uFEFF${JSON.stringify(SEED_TOKEN_JSON, null, 2)}\n`;
    expect(parseTokenRecord(text, FILE)).toEqual(SEED_TOKEN_JSON);
    // from bytes, as a file read with an editor's BOM gives it
    const bytes = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(JSON.stringify(SEED_TOKEN_JSON)),
    ]);
    expect(parseTokenRecord(bytes.toString('utf8'), FILE)).toEqual(SEED_TOKEN_JSON);
    // a BOM alone is still empty
    expect(errorOf(() => parseTokenRecord('\uFEFF', FILE)).message).toContain(`${FILE} is empty`);
  });

  it.each([
    ['expires_at', 1_639_422_978],
    ['refresh_token_expires_at', 1_647_197_178],
    ['expires_at', 99_999_999_999],
  ] as const)(
    'refuses a %s in seconds (%d): names the field, the file and the fix',
    (field, value) => {
      const text = JSON.stringify({ ...SEED_TOKEN_JSON, [field]: value });
      const error = errorOf(() => parseTokenRecord(text, FILE));
      expect(error).toBeInstanceOf(StoreError);
      expect(error.code).toBe('invalid_token_file');
      expect(error.message).toBe(
        `the token record in ${FILE} has a ${field} of ${value}, which looks like seconds since the epoch; td-token stores ms. multiply it by 1000, or run 'td-token login' to replace the record`,
      );
    },
  );

  it('takes ms from 1e11 on, and 0 (long expired)', () => {
    const text = JSON.stringify({
      ...SEED_TOKEN_JSON,
      expires_at: 1e11,
      refresh_token_expires_at: 0,
    });
    expect(parseTokenRecord(text, FILE)).toMatchObject({
      expires_at: 1e11,
      refresh_token_expires_at: 0,
    });
  });

  it('refuses a version newer than this release writes, saying to upgrade', () => {
    const next = TOKEN_RECORD_VERSION + 1;
    const error = errorOf(() =>
      parseTokenRecord(JSON.stringify({ ...SEED_TOKEN_JSON, version: next }), FILE),
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(error.code).toBe('invalid_token_file');
    expect(error.message).toBe(
      `the token record in ${FILE} has version ${next}, newer than the version ${TOKEN_RECORD_VERSION} this td-token writes: a newer td-token saved it. upgrade td-token to the latest release`,
    );
    const current = { ...SEED_TOKEN_JSON, version: TOKEN_RECORD_VERSION };
    expect(parseTokenRecord(JSON.stringify(current), FILE)).toEqual(current);
  });
});

describe('argument checks', () => {
  const record = validateTokenRecord({ ...SEED_TOKEN_JSON }, 't');
  const body = { access_token: 'a', refresh_token: 'r' };

  it.each([
    [
      'tokenRecordFromResponse without options',
      () => tokenRecordFromResponse(body, undefined as never),
      '"options" must be an object',
    ],
    [
      'tokenRecordFromResponse with null options',
      () => tokenRecordFromResponse(body, null as never),
      '"options" must be an object',
    ],
    [
      'tokenRecordFromResponse without receivedAt',
      () => tokenRecordFromResponse(body, {} as never),
      '"receivedAt" must be a number',
    ],
    [
      'tokenRecordFromResponse with a string receivedAt',
      () => tokenRecordFromResponse(body, { receivedAt: '1' as never }),
      '"receivedAt" must be a number',
    ],
    [
      'tokenRecordFromResponse with NaN',
      () => tokenRecordFromResponse(body, { receivedAt: Number.NaN }),
      '"receivedAt" must be a number',
    ],
    [
      'tokenRecordFromResponse with Infinity',
      () => tokenRecordFromResponse(body, { receivedAt: Number.POSITIVE_INFINITY }),
      '"receivedAt" must be a number',
    ],
    [
      'parseTokenRecord with a Buffer',
      () => parseTokenRecord(Buffer.from('{}') as never, 'x'),
      '"text" must be a string',
    ],
    [
      'parseTokenRecord with undefined',
      () => parseTokenRecord(undefined as never, 'x'),
      '"text" must be a string',
    ],
    [
      'parseTokenRecord without a source',
      () => parseTokenRecord('{}', undefined as never),
      '"source" must be a string',
    ],
    [
      'validateTokenRecord without a source',
      () => validateTokenRecord(record, undefined as never),
      '"source" must be a string',
    ],
    [
      'validateTokenRecord with a number source',
      () => validateTokenRecord(record, 3 as never),
      '"source" must be a string',
    ],
    [
      'serializeTokenRecord with undefined',
      () => serializeTokenRecord(undefined as never),
      '"record" must be a TokenRecord',
    ],
    [
      'serializeTokenRecord with a string',
      () => serializeTokenRecord('{}' as never),
      '"record" must be a TokenRecord',
    ],
    [
      'isAccessTokenFresh with null',
      () => isAccessTokenFresh(null as never, 1),
      '"record" must be a TokenRecord',
    ],
    [
      'isAccessTokenFresh without now',
      () => isAccessTokenFresh(record, undefined as never),
      '"now" must be a number',
    ],
    [
      'isAccessTokenFresh with a Date',
      () => isAccessTokenFresh(record, new Date() as never),
      '"now" must be a number',
    ],
    [
      'isAccessTokenFresh with a string margin',
      () => isAccessTokenFresh(record, 1, '60000' as never),
      '"marginMs" must be a number',
    ],
    [
      'isRefreshTokenExpired with undefined',
      () => isRefreshTokenExpired(undefined as never, 1),
      '"record" must be a TokenRecord',
    ],
    [
      'isRefreshTokenExpired with NaN',
      () => isRefreshTokenExpired(record, Number.NaN),
      '"now" must be a number',
    ],
    ['maskToken with undefined', () => maskToken(undefined as never), '"token" must be a string'],
    ['maskToken with a number', () => maskToken(12345678901 as never), '"token" must be a string'],
  ])('%s: TypeError', (_name, run, message) => {
    const error = errorOf(run);
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe(message);
  });
});

describe('bounds and marks on a record', () => {
  const FILE = '/home/u/.config/td-token/token.json';
  const long = 'x'.repeat(MAX_TOKEN_LENGTH + 1);

  it('a token answer with a token longer than 16 KiB: invalid_response naming the field and the length, never the token', () => {
    for (const field of ['access_token', 'refresh_token', 'id_token'] as const) {
      const error = errorOf(() =>
        assertTokenResponse({ access_token: 'a', refresh_token: 'r', [field]: long }),
      );
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.code).toBe('invalid_response');
      expect(error.message).toContain(`has a ${field} of ${MAX_TOKEN_LENGTH + 1} characters`);
      expect(error.message).not.toContain(long);
    }
    expect(() =>
      assertTokenResponse({ access_token: 'x'.repeat(MAX_TOKEN_LENGTH), refresh_token: 'r' }),
    ).not.toThrow();
  });

  it('a stored record with a token longer than 16 KiB: invalid_token_file', () => {
    for (const field of ['access_token', 'refresh_token'] as const) {
      const error = errorOf(() => validateTokenRecord({ ...SEED_TOKEN_JSON, [field]: long }, FILE));
      expect(error).toBeInstanceOf(StoreError);
      expect(error.code).toBe('invalid_token_file');
      expect(error.message).toContain(`has a ${field} of ${MAX_TOKEN_LENGTH + 1} characters`);
    }
  });

  it('an assumed refresh expiry is unknown: never expired locally; a refusal mark is a number', () => {
    const assumed = { ...SEED_TOKEN_JSON, refresh_token_expiry_assumed: true };
    expect(isRefreshTokenExpiryKnown(assumed)).toBe(false);
    expect(isRefreshTokenExpired(assumed, SEED_TOKEN_JSON.refresh_token_expires_at + DAY)).toBe(
      false,
    );
    expect(isRefreshTokenExpiryKnown(SEED_TOKEN_JSON)).toBe(true);
    expect(isRefreshTokenExpired(SEED_TOKEN_JSON, SEED_TOKEN_JSON.refresh_token_expires_at)).toBe(
      true,
    );
    // Both marks survive a save, after the six seed fields.
    const marked = { ...assumed, refresh_token_refused_at: 1_700_000_000_000 };
    expect(parseTokenRecord(serializeTokenRecord(marked), FILE)).toEqual(marked);
    expect(
      errorOf(() =>
        validateTokenRecord({ ...SEED_TOKEN_JSON, refresh_token_expiry_assumed: 'yes' }, FILE),
      ).message,
    ).toMatch(/refresh_token_expiry_assumed that is not true or false/);
    expect(
      errorOf(() =>
        validateTokenRecord({ ...SEED_TOKEN_JSON, refresh_token_refused_at: 'now' }, FILE),
      ).message,
    ).toMatch(/refresh_token_refused_at that is not a number/);
  });
});
