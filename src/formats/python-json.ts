/**
 * The token files of two Python libraries (written by `export` and `serve --sync`, read by
 * `import`), so a Python bot can use a login td-token keeps fresh.
 *
 * Both wrap an authlib `OAuth2Token` (the token endpoint's answer plus `expires_at` in whole
 * seconds) in `{ "creation_timestamp": <seconds>, "token": {...} }`:
 * - tda-api: `creation_timestamp` is when the refresh token was issued; tda-api renews it with
 *   `access_type=offline` once it is 85 days old. The token carries TD's `refresh_token_expires_in`.
 * - schwab-py: `creation_timestamp` is the browser login; `easy_client` discards a token older
 *   than 6.5 days. The token has Schwab's fields (no `refresh_token_expires_in`).
 *
 * @internal
 * @module
 */
import { ConfigError } from '../errors.js';
import type { TokenRecord } from '../token.js';

/** The export formats. */
export const EXPORT_FORMATS = ['tda-api', 'schwab-py'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

const DAY_S = 86_400;
const DEFAULT_ACCESS_LIFETIME_S = 1800;

/** The shape both libraries read. */
export interface PythonTokenFile {
  creation_timestamp: number;
  token: Record<string, string | number>;
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

function accessLifetime(record: TokenRecord): number {
  if (record.issued_at !== undefined && record.expires_at > record.issued_at) {
    return Math.round((record.expires_at - record.issued_at) / 1000);
  }
  return DEFAULT_ACCESS_LIFETIME_S;
}

/** When the refresh token was issued, in seconds; estimated from its expiry when not recorded. */
function refreshIssued(record: TokenRecord, lifetimeDays: number): number {
  if (record.refresh_token_issued_at !== undefined) return seconds(record.refresh_token_issued_at);
  return seconds(record.refresh_token_expires_at) - lifetimeDays * DAY_S;
}

/** The record as tda-api's token file. */
export function toTdaApi(record: TokenRecord): PythonTokenFile {
  const created = refreshIssued(record, 90);
  return {
    creation_timestamp: created,
    token: {
      access_token: record.access_token,
      refresh_token: record.refresh_token,
      scope: record.scope,
      expires_in: accessLifetime(record),
      refresh_token_expires_in: Math.max(0, seconds(record.refresh_token_expires_at) - created),
      token_type: record.token_type || 'Bearer',
      expires_at: seconds(record.expires_at),
    },
  };
}

/** The record as schwab-py's token file. */
export function toSchwabPy(record: TokenRecord): PythonTokenFile {
  return {
    creation_timestamp: refreshIssued(record, 7),
    token: {
      expires_in: accessLifetime(record),
      token_type: record.token_type || 'Bearer',
      scope: record.scope,
      refresh_token: record.refresh_token,
      access_token: record.access_token,
      expires_at: seconds(record.expires_at),
    },
  };
}

/** The file's text (JSON and a newline). */
export function exportToken(record: TokenRecord, format: ExportFormat): string {
  const file = format === 'tda-api' ? toTdaApi(record) : toSchwabPy(record);
  return `${JSON.stringify(file, null, 2)}\n`;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * A token record from a schwab-py or tda-api token file's text. The refresh token's expiry is the
 * library's own: schwab-py `creation_timestamp` + 7 days; tda-api `creation_timestamp` +
 * `refresh_token_expires_in` (else 90 days). Throws `invalid_config` naming `source` and the fix.
 */
export function fromPythonTokenFile(
  text: string,
  format: ExportFormat,
  source: string,
): TokenRecord {
  const malformed = (what: string): ConfigError =>
    new ConfigError(
      `${source} is not a ${format} token file (${what}). Give the file the library wrote (its token_path), or log in with 'td-token login'.`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw malformed('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw malformed('not a JSON object');
  const file = parsed as Record<string, unknown>;
  const created = num(file['creation_timestamp']);
  const token = file['token'];
  if (created === undefined) throw malformed('no creation_timestamp');
  if (typeof token !== 'object' || token === null) throw malformed('no token object');
  const t = token as Record<string, unknown>;
  const access = str(t['access_token']);
  const refresh = str(t['refresh_token']);
  const expiresAt = num(t['expires_at']);
  if (access === undefined || refresh === undefined) throw malformed('no access or refresh token');
  if (expiresAt === undefined) throw malformed('no expires_at');
  const refreshLife =
    format === 'tda-api' ? (num(t['refresh_token_expires_in']) ?? 90 * DAY_S) : 7 * DAY_S;
  const expiresIn = num(t['expires_in']) ?? DEFAULT_ACCESS_LIFETIME_S;
  return {
    access_token: access,
    expires_at: Math.round(expiresAt * 1000),
    refresh_token: refresh,
    refresh_token_expires_at: Math.round((created + refreshLife) * 1000),
    scope: str(t['scope']) ?? '',
    token_type: str(t['token_type']) ?? 'Bearer',
    issued_at: Math.round((expiresAt - expiresIn) * 1000),
    refresh_token_issued_at: Math.round(created * 1000),
  };
}
