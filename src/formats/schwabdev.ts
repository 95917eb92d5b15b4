/**
 * Schwabdev 4's token database (`tokens_db`, default `~/.schwabdev/tokens.db`): one SQLite table
 * `schwabdev` holding one row (`access_token_issued`, `refresh_token_issued` as ISO 8601 times,
 * `access_token`, `refresh_token`, `id_token`, `expires_in`, `token_type`, `scope`). Only its
 * unencrypted form (no `encryption=` key; encrypted values start with `enc:`).
 *
 * Schwabdev's rules (its `tokens.py`): the access token is taken as issued at
 * `access_token_issued` and good for 30 minutes (`expires_in` is written but not read back);
 * it refreshes under `BEGIN EXCLUSIVE` once fewer than 61 s remain, and first re-reads the row:
 * a newer `access_token_issued` than it knew means another process refreshed, and it takes that
 * token instead. The refresh token lives 7 days from `refresh_token_issued`; with fewer than
 * 60.5 minutes left Schwabdev starts a new browser login. So td-token writes
 * `access_token_issued` = its expiry - 30 min (Schwabdev then never refreshes a token td-token
 * still holds fresh), and `refresh_token_issued` = the refresh token's expiry - 7 days.
 *
 * @module
 */
import { chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import { ensureFolder } from '../stores/atomic-file.js';
import { loadBetterSqlite3 } from '../stores/sqlite.js';
import type { TokenRecord } from '../token.js';

const ACCESS_S = 30 * 60;
const REFRESH_MS = 7 * 24 * 3_600_000;

const SCHEMA = `CREATE TABLE IF NOT EXISTS schwabdev (
  access_token_issued TEXT NOT NULL,
  refresh_token_issued TEXT NOT NULL,
  access_token TEXT NOT NULL,
  refresh_token TEXT NOT NULL,
  id_token TEXT NOT NULL,
  expires_in INTEGER,
  token_type TEXT,
  scope TEXT
)`;

/** Schwabdev writes aware UTC times (`2025-01-02T03:04:05.123456+00:00`). */
function isoUtc(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

/** Replace the row of the database at `path` with `record`, in one transaction (never torn). */
export async function writeSchwabdev(path: string, record: TokenRecord): Promise<void> {
  const Database = await loadBetterSqlite3();
  await ensureFolder(dirname(path));
  const db = new Database(path, { timeout: 30_000 });
  try {
    await chmod(path, 0o600);
    db.exec(SCHEMA);
    const replace = db.transaction((r: TokenRecord) => {
      db.prepare('DELETE FROM schwabdev').run();
      db.prepare(
        'INSERT INTO schwabdev (access_token_issued, refresh_token_issued, access_token, refresh_token, id_token, expires_in, token_type, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(
        isoUtc(r.expires_at - ACCESS_S * 1000),
        isoUtc(r.refresh_token_expires_at - REFRESH_MS),
        r.access_token,
        r.refresh_token,
        '',
        ACCESS_S,
        r.token_type || 'Bearer',
        r.scope || 'api',
      );
    });
    replace.immediate(record);
  } finally {
    db.close();
  }
}

interface Row {
  access_token_issued: string;
  refresh_token_issued: string;
  access_token: string;
  refresh_token: string;
  expires_in: number | null;
  token_type: string | null;
  scope: string | null;
}

function parseTime(text: unknown): number {
  if (typeof text !== 'string') return Number.NaN;
  // A naive time is UTC to Schwabdev.
  const aware = /[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`;
  return Date.parse(aware.replace(/(\.\d{3})\d+/, '$1'));
}

/** The login in Schwabdev's database at `path`. Throws `invalid_config` naming it and the fix. */
export async function readSchwabdev(path: string): Promise<TokenRecord> {
  const Database = await loadBetterSqlite3();
  const bad = (what: string): ConfigError =>
    new ConfigError(
      `${path} is not a usable Schwabdev tokens_db (${what}). Give the tokens_db path your Schwabdev client uses (unencrypted), or log in with 'td-token login'.`,
    );
  let row: Row | undefined;
  try {
    const db = new Database(path, { readonly: true, timeout: 30_000 });
    try {
      row = db.prepare<[], Row>('SELECT * FROM schwabdev LIMIT 1').get();
    } finally {
      db.close();
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw bad('it cannot be read as SQLite with a schwabdev table');
  }
  if (row === undefined) throw bad('it holds no tokens');
  if (row.access_token.startsWith('enc:') || row.refresh_token.startsWith('enc:')) {
    throw bad('its tokens are encrypted');
  }
  if (!row.access_token || !row.refresh_token) throw bad('no access or refresh token');
  const atIssued = parseTime(row.access_token_issued);
  const rtIssued = parseTime(row.refresh_token_issued);
  if (!Number.isFinite(atIssued) || !Number.isFinite(rtIssued)) throw bad('unreadable times');
  const lifetime =
    typeof row.expires_in === 'number' && row.expires_in > 0 ? row.expires_in : ACCESS_S;
  return {
    access_token: row.access_token,
    expires_at: atIssued + lifetime * 1000,
    refresh_token: row.refresh_token,
    refresh_token_expires_at: rtIssued + REFRESH_MS,
    scope: row.scope ?? 'api',
    token_type: row.token_type || 'Bearer',
    issued_at: atIssued,
    refresh_token_issued_at: rtIssued,
  };
}
