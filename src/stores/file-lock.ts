/**
 * A lock that works across processes through a lock file next to the token file.
 *
 * - Taking it: the lock file is created complete and exclusively (written to a temporary file,
 *   then hard-linked to the lock path, which fails if it exists; where hard links are not
 *   supported, an `O_EXCL` create). It holds `{pid, host, hostId, token, acquiredAt, expiresAt}`,
 *   where `token` is random and identifies this holder, `host` is the hostname (for people) and
 *   `hostId` the host identity (kernel and pid namespace: see host-id.ts).
 * - Waiting: short polls (2 ms doubling to 25 ms, with jitter) until `waitMs`.
 * - Breaking: a lock whose `expiresAt` passed, or whose holder's pid is dead and was recorded with
 *   this process's host identity (same kernel, same pid namespace: its pids mean the same here),
 *   is removed by a waiter; then everyone races to create it again, and exactly one wins. A
 *   holder with another identity (another machine, or a container with its own pid namespace
 *   sharing the folder), or none (an older td-token), is waited out until its lock expires.
 * - Fencing: every change other than creating the lock file (breaking a stale lock, a holder's
 *   save, a release) runs under a short guard (a second lock file, `<lock>.guard`, held for
 *   microseconds). A holder's save checks, under the guard, that the lock file still holds its
 *   token and has not expired, then renames the new token file into place, so a waiter cannot
 *   break the lock between the check and the rename, and a holder that lost its lock cannot
 *   overwrite a newer token.
 *
 * @internal
 * @module
 */
import { constants, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { StoreError } from '../errors.js';
import { shellQuote } from '../util/shell.js';
import { ensureFolder, FILE_MODE, fileStoreError } from './atomic-file.js';
import { hostIdentity, isHolderDead } from './host-id.js';
import { litterId } from './litter.js';
import {
  lockLostError,
  lockTimeoutError,
  newLockToken,
  pollDelayMs,
  type ResolvedLockOptions,
  sleepFor,
} from './lock-wait.js';

/** What a lock file holds. */
export interface FileLockInfo {
  pid: number;
  /** The holder's hostname, for people. */
  host: string;
  /** The holder's host identity (see host-id.ts); missing in lock files of older versions. */
  hostId?: string | undefined;
  token: string;
  acquiredAt: number;
  expiresAt: number;
}

/** A guard older than this is considered abandoned (guards are held for microseconds). */
const GUARD_STALE_MS = 10_000;
/** An unreadable lock file older than this is considered abandoned. */
const UNREADABLE_STALE_MS = 2_000;
/** How long a holder waits for the guard before giving up. */
const GUARD_WAIT_MS = 15_000;

const HOST = hostname();

type ReadResult =
  | { kind: 'missing' }
  | { kind: 'held'; info: FileLockInfo; raw: string }
  | { kind: 'unreadable'; raw: string; mtimeMs: number };

function parseInfo(raw: string): FileLockInfo | undefined {
  try {
    const v = JSON.parse(raw) as Partial<FileLockInfo> | null;
    if (
      v !== null &&
      typeof v === 'object' &&
      Number.isSafeInteger(v.pid) &&
      (v.pid as number) > 0 &&
      typeof v.host === 'string' &&
      typeof v.token === 'string' &&
      typeof v.acquiredAt === 'number' &&
      typeof v.expiresAt === 'number'
    ) {
      if (v.hostId !== undefined && typeof v.hostId !== 'string') v.hostId = undefined;
      return v as FileLockInfo;
    }
  } catch {
    // fall through
  }
  return undefined;
}

async function readLockFile(path: string): Promise<ReadResult> {
  let raw: string;
  let mtimeMs: number;
  try {
    const handle = await fsp.open(path, constants.O_RDONLY);
    try {
      raw = await handle.readFile('utf8');
      mtimeMs = (await handle.stat()).mtimeMs;
    } finally {
      await handle.close();
    }
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw fileStoreError('read the lock file', path, cause);
  }
  const info = parseInfo(raw);
  return info ? { kind: 'held', info, raw } : { kind: 'unreadable', raw, mtimeMs };
}

function isStale(result: ReadResult, now: number, unreadableStaleMs: number): boolean {
  switch (result.kind) {
    case 'missing':
      return false;
    case 'unreadable':
      return now - result.mtimeMs > unreadableStaleMs;
    case 'held':
      return result.info.expiresAt <= now || isHolderDead(result.info.pid, result.info.hostId);
  }
}

/**
 * Create `path` holding `content`, complete from its first moment, only if it does not exist.
 * Returns false when it exists.
 */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const temp = `${path}.${litterId()}.new`;
  await fsp.writeFile(temp, content, { mode: FILE_MODE, flag: 'wx' });
  try {
    await fsp.link(temp, path);
    return true;
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'ENOSYS') {
      throw cause;
    }
  } finally {
    await fsp.rm(temp, { force: true });
  }
  // No hard links here (some network and FAT file systems): exclusive create, then write.
  try {
    await fsp.writeFile(path, content, { mode: FILE_MODE, flag: 'wx' });
    return true;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw cause;
  }
}

/** Remove `path` only if it still holds `raw`. The caller holds the guard. */
async function removeIfUnchanged(path: string, raw: string): Promise<void> {
  const again = await readLockFile(path);
  if (again.kind !== 'missing' && again.raw === raw) await fsp.rm(path, { force: true });
}

/** The short guard around every change to an existing lock file. */
class Guard {
  readonly #path: string;
  readonly #token = newLockToken();

  constructor(lockPath: string) {
    this.#path = `${lockPath}.guard`;
  }

  async acquire(deadline: number): Promise<void> {
    const content = JSON.stringify({
      pid: process.pid,
      host: HOST,
      hostId: hostIdentity(),
      token: this.#token,
      acquiredAt: Date.now(),
      expiresAt: Date.now() + GUARD_STALE_MS,
    } satisfies FileLockInfo);
    for (let attempt = 0; ; attempt++) {
      try {
        if (await createExclusive(this.#path, content)) return;
      } catch (cause) {
        throw fileStoreError('create the lock guard', this.#path, cause);
      }
      const current = await readLockFile(this.#path);
      if (isStale(current, Date.now(), GUARD_STALE_MS) && current.kind !== 'missing') {
        await this.#breakAbandoned(current.raw);
        continue;
      }
      if (Date.now() >= deadline) {
        throw new StoreError(
          'lock_timeout',
          `the lock guard ${this.#path} stayed taken for too long. if no td-token process is running, delete it: rm ${shellQuote(this.#path)}`,
        );
      }
      await delay(attempt < 20 ? 1 : 5);
    }
  }

  async release(): Promise<void> {
    const current = await readLockFile(this.#path).catch(() => undefined);
    if (current?.kind === 'held' && current.info.token === this.#token) {
      await fsp.rm(this.#path, { force: true });
    }
  }

  /**
   * An abandoned guard (its holder died in the microseconds it held it): move it aside, and
   * delete it if it is the one we judged abandoned, or put it back if someone took it since.
   */
  async #breakAbandoned(raw: string): Promise<void> {
    const aside = `${this.#path}.${litterId()}.stale`;
    try {
      await fsp.rename(this.#path, aside);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw cause;
    }
    const moved = await fsp.readFile(aside, 'utf8').catch(() => raw);
    if (moved !== raw) await fsp.link(aside, this.#path).catch(() => undefined);
    await fsp.rm(aside, { force: true });
  }

  /** Run `fn` holding the guard. */
  async run<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
    await this.acquire(deadline);
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}

/**
 * Run `fn` holding the guard of the lock at `lockPath`: what it changes cannot interleave with a
 * lock holder's fenced save (whose check and rename run under the same guard).
 */
export function underGuard<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  return new Guard(lockPath).run(Date.now() + GUARD_WAIT_MS, fn);
}

/** A lock file this process holds. */
export class HeldFileLock {
  readonly #lockPath: string;
  readonly #token: string;
  readonly #location: string;

  constructor(lockPath: string, token: string, location: string) {
    this.#lockPath = lockPath;
    this.#token = token;
    this.#location = location;
  }

  /** This holder's random token. */
  get token(): string {
    return this.#token;
  }

  /**
   * Take the guard and check that the lock is still ours and unexpired. On success the guard
   * stays held (release it with the returned function); otherwise throws `lock_timeout`
   * (lock lost) with the guard released.
   */
  async fence(): Promise<() => Promise<void>> {
    const guard = new Guard(this.#lockPath);
    await guard.acquire(Date.now() + GUARD_WAIT_MS);
    try {
      const current = await readLockFile(this.#lockPath);
      if (
        current.kind !== 'held' ||
        current.info.token !== this.#token ||
        current.info.expiresAt <= Date.now()
      ) {
        throw lockLostError(this.#location);
      }
    } catch (error) {
      await guard.release();
      throw error;
    }
    return () => guard.release();
  }

  /** Remove the lock file if it is still ours; harmless otherwise. */
  async release(): Promise<void> {
    const guard = new Guard(this.#lockPath);
    await guard.run(Date.now() + GUARD_WAIT_MS, async () => {
      const current = await readLockFile(this.#lockPath);
      if (current.kind === 'held' && current.info.token === this.#token) {
        await fsp.rm(this.#lockPath, { force: true });
      }
    });
  }
}

function describeHolder(result: ReadResult): string | undefined {
  if (result.kind !== 'held') return undefined;
  const { pid, host, expiresAt } = result.info;
  return `pid ${pid} on ${host} until ${new Date(expiresAt).toISOString()}`;
}

/**
 * Take the lock at `lockPath`, waiting and breaking stale locks as described above.
 *
 * @param location names the locked thing in errors (the token file's path).
 */
export async function acquireFileLock(
  lockPath: string,
  location: string,
  options: ResolvedLockOptions,
): Promise<HeldFileLock> {
  const { waitMs, ttlMs, signal } = options;
  signal?.throwIfAborted();
  await ensureFolder(dirname(lockPath));
  const deadline = Date.now() + waitMs;
  const token = newLockToken();
  let last: ReadResult = { kind: 'missing' };
  for (let attempt = 0; ; attempt++) {
    const now = Date.now();
    const info: FileLockInfo = {
      pid: process.pid,
      host: HOST,
      hostId: hostIdentity(),
      token,
      acquiredAt: now,
      expiresAt: now + ttlMs,
    };
    let created: boolean;
    try {
      created = await createExclusive(lockPath, `${JSON.stringify(info)}\n`);
    } catch (cause) {
      throw fileStoreError('create the lock file', lockPath, cause);
    }
    if (created) return new HeldFileLock(lockPath, token, location);

    last = await readLockFile(lockPath);
    if (last.kind === 'missing' || isStale(last, Date.now(), UNREADABLE_STALE_MS)) {
      // Someone released or broke it just now, or it is stale: try again at once, but not forever.
      if (Date.now() > deadline + GUARD_WAIT_MS) {
        throw new StoreError(
          'lock_timeout',
          `could not take the lock on ${location}: its lock file ${lockPath} keeps changing. check that the folder is on a local disk, then try again`,
        );
      }
    }
    if (last.kind === 'missing') continue;
    if (isStale(last, Date.now(), UNREADABLE_STALE_MS)) {
      const stale = last;
      await new Guard(lockPath).run(Math.max(deadline, Date.now() + GUARD_WAIT_MS), async () => {
        // Re-checked under the guard: a holder's save or release cannot run in between.
        if (isStale(await readLockFile(lockPath), Date.now(), UNREADABLE_STALE_MS)) {
          await removeIfUnchanged(lockPath, stale.raw);
        }
      });
      continue;
    }
    const after = Date.now();
    if (after >= deadline) {
      throw lockTimeoutError(location, waitMs, {
        holder: describeHolder(last),
        fix: `try again later, or if none is running, delete ${shellQuote(lockPath)}`,
      });
    }
    await sleepFor(pollDelayMs(attempt, deadline, after), signal);
  }
}
