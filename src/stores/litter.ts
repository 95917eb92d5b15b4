/**
 * What killed writers leave beside a token file, and sweeping it.
 *
 * A writer killed mid-save leaves its temporary file (`.token.json.<tag>-<pid>-<hex>.tmp`, mode
 * 0600, holding a token); a locker killed in the microseconds of taking the lock or its guard
 * leaves `token.json.lock.<tag>-<pid>-<hex>.new` or `token.json.lock.guard.<...>.new` (or a guard
 * moved aside, `.stale`). Each name carries its writer's host tag and pid (see host-id.ts), so
 * {@link sweepLitter}, run when the lock is taken, removes a piece of litter when its writer is
 * known dead (same host identity, pid gone) or when it is older than the lock's lifetime (no
 * writer holds one that long). Names of older versions (`.<name>.<hex>.tmp`, no tag or pid) go
 * by age alone.
 *
 * @internal
 * @module
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomHex } from '../util/random.js';
import { hostTag, isProcessAlive } from './host-id.js';

/** The random middle of a temporary file's name: `<host tag>-<pid>-<random hex>`. */
export function litterId(): string {
  return `${hostTag()}-${process.pid}-${randomHex(6)}`;
}

const ID = '(?:([0-9a-f]{8})-([0-9]+)-)?[0-9a-f]+';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The patterns of litter beside the token file `name`: temp files, lock and guard leftovers. */
function litterPatterns(name: string): RegExp[] {
  const n = escapeRegExp(name);
  return [
    new RegExp(`^\\.${n}\\.${ID}\\.tmp$`),
    new RegExp(`^${n}\\.lock\\.${ID}\\.new$`),
    new RegExp(`^${n}\\.lock\\.guard\\.${ID}\\.(?:new|stale)$`),
  ];
}

/** True when `file` (a name in the token file's folder) is a temporary file of a save. */
export function isSaveLeftover(tokenPath: string, file: string): boolean {
  return (litterPatterns(basename(tokenPath))[0] as RegExp).test(file);
}

/**
 * Remove the litter beside `tokenPath` whose writer is dead on this host or that is older than
 * `maxAgeMs`. Best effort: what cannot be looked at or removed is left for the next sweep.
 * Returns how many files were removed.
 */
export async function sweepLitter(
  tokenPath: string,
  maxAgeMs: number,
  now = Date.now(),
): Promise<number> {
  const dir = dirname(tokenPath);
  const patterns = litterPatterns(basename(tokenPath));
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return 0;
  }
  const tag = hostTag();
  let removed = 0;
  for (const name of names) {
    let match: RegExpExecArray | null = null;
    for (const pattern of patterns) {
      match = pattern.exec(name);
      if (match) break;
    }
    if (!match) continue;
    const path = join(dir, name);
    const pid = match[2] === undefined ? undefined : Number(match[2]);
    let stale =
      match[1] === tag && pid !== undefined && pid !== process.pid && !isProcessAlive(pid);
    if (!stale) {
      const stats = await fsp.lstat(path).catch(() => undefined);
      stale = stats?.isFile() === true && now - (stats?.mtimeMs ?? now) > maxAgeMs;
    }
    if (
      stale &&
      (await fsp.rm(path, { force: true }).then(
        () => true,
        () => false,
      ))
    )
      removed++;
  }
  return removed;
}
