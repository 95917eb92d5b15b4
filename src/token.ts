/**
 * The canonical token record, exactly the seed-era `token.json`, and how it is built from a
 * provider's token response.
 *
 * @module
 */
import { ProviderError, StoreError } from './errors.js';

/** The record version this release writes. */
export const TOKEN_RECORD_VERSION = 1;

/**
 * One login's tokens. Written to a file it is the seed-era `output/token.json`: the six seed
 * fields always, the optional extras after them. Times are ms since the epoch (UTC by nature).
 *
 * @example
 * const record: TokenRecord = await manager.getToken();
 * await fetch(url, { headers: { Authorization: `Bearer ${record.access_token}` } });
 * const minutesLeft = (record.expires_at - Date.now()) / 60_000;
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
export interface TokenRecord {
  /** Send as `Authorization: Bearer <access_token>`. */
  access_token: string;
  /** When the access token expires, ms epoch (usually 30 minutes after issue). */
  expires_at: number;
  /** Gets a new access token once the current one expires. */
  refresh_token: string;
  /** When the refresh token expires, ms epoch (90 days TD, 7 days Schwab). */
  refresh_token_expires_at: number;
  /** What the app may do on the user's behalf. */
  scope: string;
  /** Always `Bearer` for both providers. */
  token_type: string;
  /** Which provider issued it (`tdameritrade`, `schwab`, `generic`, ...). */
  provider?: string;
  /** When this access token was received, ms epoch. */
  issued_at?: number;
  /** When this refresh token was received (the browser login, or a TD renewal), ms epoch. */
  refresh_token_issued_at?: number;
  /** Record format version. */
  version?: number;
  /**
   * True when `refresh_token_expires_at` is a guess (90 days from receipt), not a lifetime the
   * server stated or the user configured: a generic server that does not say. The expiry is then
   * unknown: no warning is due and nothing is refused locally; the server decides.
   */
  refresh_token_expiry_assumed?: boolean;
  /**
   * When the token endpoint refused this record's refresh token (revoked, expired, replaced),
   * ms epoch. td-token does not send a refused refresh token again: every process reading the
   * record asks for a login at once, until a login stores a new record without this field.
   */
  refresh_token_refused_at?: number;
}

/** A token endpoint's 200 body, in wire names. Unknown members are kept but unused. */
export interface TokenResponse {
  access_token: string;
  token_type?: string;
  expires_in?: number;
  refresh_token?: string;
  refresh_token_expires_in?: number;
  scope?: string;
  id_token?: string;
  [member: string]: unknown;
}

/** What a provider tells {@link tokenRecordFromResponse} about its lifetimes. */
export interface RecordOptions {
  /** When the response was received, ms epoch. Lifetimes count from here. */
  receivedAt: number;
  /** The stored record this response refreshes, if any. */
  previous?: TokenRecord | undefined;
  /** Provider name written into the record. */
  provider?: string | undefined;
  /** Access lifetime to assume when `expires_in` is absent, in seconds. */
  defaultExpiresInSec?: number | undefined;
  /** Refresh lifetime to assume when `refresh_token_expires_in` is absent, in ms. */
  defaultRefreshLifetimeMs?: number | undefined;
  /**
   * True when `defaultRefreshLifetimeMs` is a guess rather than the provider's documented or the
   * user's configured lifetime: a record whose expiry comes from it is marked
   * `refresh_token_expiry_assumed`.
   */
  refreshLifetimeAssumed?: boolean | undefined;
  /**
   * True where the refresh token's life counts from the browser login and refreshing never
   * extends it (Schwab): a refresh keeps the previous expiry even when the provider gives no
   * lifetime.
   */
  refreshExpiryFixedAtLogin?: boolean | undefined;
  /** The scope asked for, used when the response names none. */
  requestedScope?: string | undefined;
}

/**
 * The six fields of the seed-era `token.json`, in its order: every record has them, and a
 * written record starts with them.
 *
 * @example
 * const seed = Object.fromEntries(SEED_FIELDS.map((field) => [field, record[field]]));
 */
export const SEED_FIELDS = [
  'access_token',
  'expires_at',
  'refresh_token',
  'refresh_token_expires_at',
  'scope',
  'token_type',
] as const;

const EXTRA_NUMBER_FIELDS = [
  'issued_at',
  'refresh_token_issued_at',
  'version',
  'refresh_token_refused_at',
] as const;

/**
 * The longest token td-token accepts or stores, in characters (16 KiB). Real access and refresh
 * tokens are a few hundred characters, a JWT a few thousand; a longer one is a broken or hostile
 * server, and would be copied into every request and every save.
 */
export const MAX_TOKEN_LENGTH = 16_384;

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** Longest lifetime accepted from a provider, in seconds (about 31 years). */
const MAX_LIFETIME_SEC = 1e9;

/**
 * A lifetime in seconds a record can be built from: at least one second (a shorter one would
 * round to an expiry at the moment of receipt) and no more than {@link MAX_LIFETIME_SEC}.
 */
function isLifetimeSeconds(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isFinite(value) && value >= 1 && value <= MAX_LIFETIME_SEC
  );
}

function invalidResponse(problem: string): ProviderError {
  return new ProviderError(
    'invalid_response',
    `the token endpoint's answer ${problem}. check that the token URL points at an OAuth 2.0 token endpoint (td-token status shows it)`,
  );
}

/**
 * Check that a parsed 200 body is a token response. Throws `invalid_response` naming the field.
 */
export function assertTokenResponse(body: unknown): asserts body is TokenResponse {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidResponse('is not a JSON object');
  }
  const b = body as Record<string, unknown>;
  if (!isNonEmptyString(b['access_token'])) throw invalidResponse('has no access_token');
  if (b['token_type'] !== undefined && typeof b['token_type'] !== 'string') {
    throw invalidResponse('has a token_type that is not a string');
  }
  if (b['token_type'] !== undefined && String(b['token_type']).toLowerCase() !== 'bearer') {
    // Named only when it looks like a token type, never echoing what could be a token.
    const type = String(b['token_type']);
    const shown = /^[A-Za-z0-9_.-]{1,20}$/.test(type) ? ` "${type}"` : '';
    throw invalidResponse(`has token_type${shown} where Bearer was expected`);
  }
  for (const field of ['expires_in', 'refresh_token_expires_in'] as const) {
    const v = b[field];
    if (v === undefined) continue;
    // Some servers send numbers as strings; accept a plain decimal string.
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (!isLifetimeSeconds(n)) {
      throw invalidResponse(`has a ${field} that is not a number of seconds from 1 to 1e9`);
    }
    b[field] = n;
  }
  for (const field of ['refresh_token', 'scope', 'id_token'] as const) {
    const v = b[field];
    if (v !== undefined && typeof v !== 'string') {
      throw invalidResponse(`has a ${field} that is not a string`);
    }
  }
  if (b['refresh_token'] === '') throw invalidResponse('has an empty refresh_token');
  for (const field of ['access_token', 'refresh_token', 'id_token', 'scope'] as const) {
    const v = b[field];
    if (typeof v === 'string' && v.length > MAX_TOKEN_LENGTH) {
      throw invalidResponse(
        `has a ${field} of ${v.length} characters, more than the ${MAX_TOKEN_LENGTH} td-token accepts`,
      );
    }
  }
}

/**
 * Build the canonical record from a token response, counting lifetimes from the time of
 * receipt. A response without a `refresh_token` keeps the stored one and its expiry.
 *
 * @example
 * const record = tokenRecordFromResponse(body, { receivedAt: Date.now(), provider: 'schwab',
 *   defaultRefreshLifetimeMs: 7 * 86_400_000, refreshExpiryFixedAtLogin: true });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export function tokenRecordFromResponse(
  response: TokenResponse,
  options: RecordOptions,
): TokenRecord {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('"options" must be an object');
  }
  if (typeof options.receivedAt !== 'number' || !Number.isFinite(options.receivedAt)) {
    throw new TypeError('"receivedAt" must be a number');
  }
  assertTokenResponse(response);
  const { receivedAt, previous } = options;
  const expiresIn = response.expires_in ?? options.defaultExpiresInSec ?? 1800;

  let refreshToken: string;
  let refreshExpiresAt: number;
  let refreshIssuedAt: number | undefined;
  let expiryAssumed = false;
  if (response.refresh_token === undefined) {
    if (!previous) throw invalidResponse('has no refresh_token and none is stored');
    refreshToken = previous.refresh_token;
    refreshExpiresAt = previous.refresh_token_expires_at;
    refreshIssuedAt = previous.refresh_token_issued_at;
    expiryAssumed = previous.refresh_token_expiry_assumed === true;
  } else if (response.refresh_token_expires_in !== undefined) {
    refreshToken = response.refresh_token;
    refreshExpiresAt = receivedAt + Math.round(response.refresh_token_expires_in * 1000);
    refreshIssuedAt = receivedAt;
  } else if (
    previous &&
    (options.refreshExpiryFixedAtLogin || previous.refresh_token === response.refresh_token)
  ) {
    // Schwab: the refresh token lives 7 days from the browser login, whatever refreshing does.
    refreshToken = response.refresh_token;
    refreshExpiresAt = previous.refresh_token_expires_at;
    refreshIssuedAt = previous.refresh_token_issued_at;
    expiryAssumed = previous.refresh_token_expiry_assumed === true;
  } else {
    refreshToken = response.refresh_token;
    refreshExpiresAt = receivedAt + (options.defaultRefreshLifetimeMs ?? 90 * 86_400_000);
    refreshIssuedAt = receivedAt;
    expiryAssumed = options.refreshLifetimeAssumed === true;
  }

  const record: TokenRecord = {
    access_token: response.access_token,
    expires_at: receivedAt + Math.round(expiresIn * 1000),
    refresh_token: refreshToken,
    refresh_token_expires_at: refreshExpiresAt,
    scope: response.scope ?? previous?.scope ?? options.requestedScope ?? '',
    token_type: response.token_type ?? 'Bearer',
  };
  const provider = options.provider ?? previous?.provider;
  if (provider !== undefined) record.provider = provider;
  record.issued_at = receivedAt;
  if (refreshIssuedAt !== undefined) record.refresh_token_issued_at = refreshIssuedAt;
  record.version = TOKEN_RECORD_VERSION;
  if (expiryAssumed) record.refresh_token_expiry_assumed = true;
  // What the fleet already announced about this login (src/notify) outlives a refresh, so a
  // refresh by any process (a library user's manager too) never makes the fleet announce again.
  const announced = (previous as unknown as Record<string, unknown> | undefined)?.[
    NOTIFICATIONS_FIELD
  ];
  if (announced !== undefined) {
    (record as unknown as Record<string, unknown>)[NOTIFICATIONS_FIELD] = announced;
  }
  return record;
}

/** The extra field in which src/notify records what was sent for this login. */
export const NOTIFICATIONS_FIELD = 'notifications';

function checkSource(source: string): void {
  if (typeof source !== 'string') throw new TypeError('"source" must be a string');
}

function checkRecord(record: TokenRecord): void {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new TypeError('"record" must be a TokenRecord');
  }
}

function checkNumber(value: number, name: string): void {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`"${name}" must be a number`);
  }
}

/**
 * Times below this (3 March 1973 in ms, but the year 5138 in seconds) are taken for seconds since
 * the epoch: another tool's token file, or a hand edit. td-token stores ms.
 */
const SECONDS_LOOKALIKE_BELOW = 1e11;

function invalidRecord(source: string, problem: string): StoreError {
  return new StoreError(
    'invalid_token_file',
    `the token record in ${source} ${problem}. it may be truncated or hand-edited: run 'td-token login' to replace it, or restore it from a backup`,
  );
}

/**
 * Check a parsed value against the record's schema. `source` names where it came from (a file
 * path, `sqlite:/path#profile`, `redis://host/key`) for the error message.
 */
export function validateTokenRecord(value: unknown, source: string): TokenRecord {
  checkSource(source);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidRecord(source, 'is not a JSON object');
  }
  const v = value as Record<string, unknown>;
  for (const field of ['access_token', 'refresh_token'] as const) {
    if (!isNonEmptyString(v[field])) throw invalidRecord(source, `has no ${field}`);
  }
  for (const field of ['expires_at', 'refresh_token_expires_at'] as const) {
    const n = v[field];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
      throw invalidRecord(source, `has a ${field} that is not a time in ms since the epoch`);
    }
  }
  for (const field of ['scope', 'token_type'] as const) {
    if (typeof v[field] !== 'string') throw invalidRecord(source, `has no ${field}`);
  }
  for (const field of ['access_token', 'refresh_token', 'scope', 'token_type'] as const) {
    const n = (v[field] as string).length;
    if (n > MAX_TOKEN_LENGTH) {
      throw invalidRecord(
        source,
        `has a ${field} of ${n} characters, more than the ${MAX_TOKEN_LENGTH} td-token accepts`,
      );
    }
  }
  if (v['provider'] !== undefined && typeof v['provider'] !== 'string') {
    throw invalidRecord(source, 'has a provider that is not a string');
  }
  const assumed = v['refresh_token_expiry_assumed'];
  if (assumed !== undefined && typeof assumed !== 'boolean') {
    throw invalidRecord(source, 'has a refresh_token_expiry_assumed that is not true or false');
  }
  for (const field of EXTRA_NUMBER_FIELDS) {
    const n = v[field];
    if (n !== undefined && (typeof n !== 'number' || !Number.isFinite(n))) {
      throw invalidRecord(source, `has a ${field} that is not a number`);
    }
  }
  return v as unknown as TokenRecord;
}

/**
 * Parse a stored record's text (a token file, a database value). A leading UTF-8 byte order mark
 * (some editors add one) is ignored. Besides {@link validateTokenRecord}'s checks, it refuses
 * times that look like seconds rather than ms since the epoch (0 aside: long expired), and a
 * `version` newer than this release writes.
 *
 * @throws StoreError `invalid_token_file` naming the problem, `source` and the fix.
 * @example
 * const record = parseTokenRecord(await readFile(path, 'utf8'), path);
 */
export function parseTokenRecord(text: string, source: string): TokenRecord {
  if (typeof text !== 'string') throw new TypeError('"text" must be a string');
  checkSource(source);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === '') throw invalidRecord(source, 'is empty');
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (cause) {
    throw new StoreError(
      'invalid_token_file',
      `the token record in ${source} is not valid JSON (truncated or hand-edited?). run 'td-token login' to replace it, or restore it from a backup`,
      { cause },
    );
  }
  const record = validateTokenRecord(value, source);
  for (const field of ['expires_at', 'refresh_token_expires_at'] as const) {
    const n = record[field];
    if (n > 0 && n < SECONDS_LOOKALIKE_BELOW) {
      throw new StoreError(
        'invalid_token_file',
        `the token record in ${source} has a ${field} of ${n}, which looks like seconds since the epoch; td-token stores ms. multiply it by 1000, or run 'td-token login' to replace the record`,
      );
    }
  }
  if (record.version !== undefined && record.version > TOKEN_RECORD_VERSION) {
    throw new StoreError(
      'invalid_token_file',
      `the token record in ${source} has version ${record.version}, newer than the version ${TOKEN_RECORD_VERSION} this td-token writes: a newer td-token saved it. upgrade td-token to the latest release`,
    );
  }
  return record;
}

/**
 * The record as the seed's `token.json`: the six seed fields first, in the seed's order, then
 * the extras, two-space indented, with a final newline.
 */
export function serializeTokenRecord(record: TokenRecord): string {
  checkRecord(record);
  const ordered: Record<string, unknown> = {};
  for (const field of SEED_FIELDS) ordered[field] = record[field];
  for (const [key, value] of Object.entries(record)) {
    if (!(key in ordered) && value !== undefined) ordered[key] = value;
  }
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** True while the access token stays valid for at least `marginMs` more. */
export function isAccessTokenFresh(record: TokenRecord, now: number, marginMs = 0): boolean {
  checkRecord(record);
  checkNumber(now, 'now');
  checkNumber(marginMs, 'marginMs');
  return record.expires_at - marginMs > now;
}

/**
 * True once the refresh token is known to be past its expiry. Never for an assumed expiry
 * ({@link isRefreshTokenExpiryKnown} false): only the server can tell.
 */
export function isRefreshTokenExpired(record: TokenRecord, now: number): boolean {
  checkRecord(record);
  checkNumber(now, 'now');
  if (record.refresh_token_expiry_assumed === true) return false;
  return record.refresh_token_expires_at <= now;
}

/**
 * False when the record's `refresh_token_expires_at` is a placeholder (a generic server that
 * did not say how long its refresh token lives, and no `refreshTokenLifetime` configured): show
 * the expiry as unknown and warn of nothing.
 */
export function isRefreshTokenExpiryKnown(record: TokenRecord): boolean {
  checkRecord(record);
  return record.refresh_token_expiry_assumed !== true;
}

/** A token shortened for people to read: never enough of it to use. */
export function maskToken(token: string): string {
  if (typeof token !== 'string') throw new TypeError('"token" must be a string');
  if (token.length <= 8) return '****';
  return `${token.slice(0, 4)}…(${token.length} chars)`;
}
