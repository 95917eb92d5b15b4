/**
 * Which processes share this process's pid numbers: the "host identity" a lock records, so that
 * a waiter trusts "the holder's pid is dead" only for a holder whose pids it can see.
 *
 * A hostname is not enough: two containers may share a hostname (and a volume with the token
 * file) while each has its own pid namespace, where pid 7 in one says nothing about pid 7 in the
 * other. On Linux the identity is the kernel's boot id plus the inode of this process's pid
 * namespace (`/proc/self/ns/pid`): two processes share it exactly when they run on the same
 * kernel, in the same pid namespace. Elsewhere (macOS, Windows: no pid namespaces) it is the
 * hostname. When Linux's files cannot be read, the identity is unique to this process, so no
 * other process trusts its pid: its locks are then recovered by their expiry alone.
 *
 * Computed once per process, on first use (a lock taken or judged), never at start-up. The
 * file and SQLite locks judge their holders here ({@link isHolderDead}).
 *
 * @internal
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomHex } from '../util/random.js';

let cached: string | undefined;

function compute(): string {
  if (process.platform !== 'linux') return `host:${hostname()}`;
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pidNamespace = statSync('/proc/self/ns/pid').ino;
    if (boot !== '' && pidNamespace > 0) return `linux:${boot}:pidns:${pidNamespace}`;
  } catch {
    // fall through: no trustworthy identity
  }
  return `unverified:${hostname()}:${process.pid}:${randomHex(8)}`;
}

/**
 * This process's host identity: equal for two processes exactly when one can tell, by
 * `kill(pid, 0)`, whether the other is alive.
 */
export function hostIdentity(): string {
  cached ??= compute();
  return cached;
}

/**
 * True when the holder recorded with `pid` and `hostId` is known to be dead: its host identity is
 * this process's (same kernel, same pid namespace) and no process has that pid. A holder from
 * another identity, or with none recorded, is never judged dead by its pid.
 */
export function isHolderDead(
  pid: number | null | undefined,
  hostId: string | null | undefined,
): boolean {
  if (typeof pid !== 'number' || typeof hostId !== 'string') return false;
  return hostId === hostIdentity() && !isProcessAlive(pid);
}

/** True when a process with this pid exists on this machine (or cannot be checked). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

let cachedTag: string | undefined;

/**
 * A short tag (8 hex digits, FNV-1a of {@link hostIdentity}) that temporary files put in their
 * names with the writer's pid, so that a sweeper can tell a dead writer's litter on this host
 * (same tag, pid gone) from a live one's or another host's.
 */
export function hostTag(): string {
  if (cachedTag === undefined) {
    let hash = 0x811c9dc5;
    for (const char of hostIdentity()) {
      hash ^= char.charCodeAt(0);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    cachedTag = hash.toString(16).padStart(8, '0');
  }
  return cachedTag;
}
