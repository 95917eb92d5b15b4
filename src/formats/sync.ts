/**
 * `--sync FORMAT:PATH`: other libraries' token stores kept in step with td-token's login, written
 * at start and after every new access token. JSON files (schwab-py, tda-api) are replaced
 * atomically (0600, temp file, fsync, rename), Schwabdev's database in one SQLite transaction,
 * so a reader never sees a torn file.
 *
 * @module
 */
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import { ensureFolder, writeFileAtomic } from '../stores/atomic-file.js';
import type { TokenRecord } from '../token.js';
import { exportToken } from './python-json.js';
import { writeSchwabdev } from './schwabdev.js';

/** The formats `--sync` and `import --from` know. */
export const SYNC_FORMATS = ['schwab-py', 'tda-api', 'schwabdev'] as const;
export type SyncFormat = (typeof SYNC_FORMATS)[number];

/** One `--sync` target. */
export interface SyncTarget {
  format: SyncFormat;
  path: string;
}

/** Parse `FORMAT:PATH` (the path resolved by `resolvePath`). */
export function parseSyncTarget(text: string, resolvePath: (p: string) => string): SyncTarget {
  const at = text.indexOf(':');
  const format = text.slice(0, at);
  const path = text.slice(at + 1);
  if (at < 0 || !(SYNC_FORMATS as readonly string[]).includes(format) || path.trim() === '') {
    throw new ConfigError(
      `--sync is "${text}". Use FORMAT:PATH with FORMAT one of ${SYNC_FORMATS.join(', ')}, e.g. --sync schwab-py:~/bot/token.json.`,
    );
  }
  return { format: format as SyncFormat, path: resolvePath(path) };
}

/** Write `record` to `target`. */
export async function writeSyncTarget(target: SyncTarget, record: TokenRecord): Promise<void> {
  if (target.format === 'schwabdev') {
    await writeSchwabdev(target.path, record);
    return;
  }
  await ensureFolder(dirname(target.path));
  await writeFileAtomic(target.path, exportToken(record, target.format));
}

/**
 * A writer that rewrites every target with each record it is given, one write at a time and in
 * order (a slow write never lets an older record land after a newer one), and a record whose
 * access token it already wrote is skipped. Failures are logged, never thrown: the token keeper
 * goes on.
 */
export function createSyncWriter(
  targets: readonly SyncTarget[],
  log: (line: Record<string, unknown>) => void,
  profile: string,
): (record: TokenRecord) => void {
  let chain = Promise.resolve();
  let last: string | undefined;
  return (record) => {
    if (record.access_token === last) return;
    last = record.access_token;
    chain = chain.then(async () => {
      for (const target of targets) {
        const where = { profile, format: target.format, path: target.path };
        try {
          await writeSyncTarget(target, record);
          log({
            time: new Date().toISOString(),
            level: 'info',
            event: 'synced',
            ...where,
            expiresAt: new Date(record.expires_at).toISOString(),
          });
        } catch (err) {
          log({
            time: new Date().toISOString(),
            level: 'error',
            event: 'sync_failed',
            ...where,
            message: err instanceof Error ? err.message : String(err),
          });
        }
      }
    });
  };
}
