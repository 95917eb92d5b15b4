/**
 * The file store: one profile's record as the seed's `token.json`, written atomically, mode 0600,
 * in a 0700 folder created when missing, locked across processes by a lock file beside it.
 *
 * `revision()` is what the token manager's hot path checks on every `getAccessToken()`. It is
 * `fs.statSync` of the token file (inode, size, mtime, ctime: an atomic rename always brings a
 * new inode and new times), cached for `revisionIntervalMs` (default 1 ms). A bare `statSync`
 * costs about 2 µs (some 500 000 a second on one core), which leaves little room for 200 000
 * `getAccessToken()` calls a second once the manager's own work is added; cached for 1 ms the
 * check costs about 40 ns, and another process's write is noticed at most 1 ms late. `load()`
 * records the revision of exactly the version it read (the open file's own stats), and our own
 * saves and clears refresh the cached value at once.
 *
 * @module
 */
import { constants, promises as fsp, realpathSync, type Stats, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { StoreError } from '../errors.js';
import type { TokenRecord } from '../token.js';
import { shellQuote } from '../util/shell.js';
import { ensureFolder, fileStoreError, syncFolder, writeFileAtomic } from './atomic-file.js';
import { decodeRecord, encodeRecord, plainCodec, type RecordCodec } from './codec.js';
import { acquireFileLock, underGuard } from './file-lock.js';
import { looseFileMessage, looseFolderWarning } from './folder-mode.js';
import { isSaveLeftover, sweepLitter } from './litter.js';
import { resolveLockOptions } from './lock-wait.js';
import type { LockOptions, StoreLock, TokenStore } from './types.js';

/** Options for {@link FileStore}. */
export interface FileStoreOptions {
  /**
   * Called with a warning for people, e.g. a token file others can read (naming the `chmod`
   * that fixes it). Default: `process.emitWarning`.
   */
  onWarning?: ((message: string) => void) | undefined;
  /** How the record's text is stored (plain by default; encryption wraps it). */
  codec?: RecordCodec | undefined;
  /** How long `revision()` may reuse its last look at the file, ms (default 1; 0 = always look). */
  revisionIntervalMs?: number | undefined;
}

/**
 * A monotonic clock in ms for the revision cache. `process.uptime()` is monotonic (it is
 * `uv_hrtime` underneath) and, unlike `performance.now()`, loads no `perf_hooks` modules on the
 * start-up path of `td-token token`.
 */
function monotonicMs(): number {
  return process.uptime() * 1000;
}

function revisionOf(s: Stats): string {
  return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
}

/** The largest token file read, bytes: a record is well under 10 KiB; anything bigger is refused. */
export const MAX_TOKEN_FILE_BYTES = 1024 * 1024;

/**
 * Open flags for reading a token file: no blocking on a FIFO (it is then refused by its type),
 * no following a symbolic link (refused too). Both are 0 where the platform has no such flag.
 */
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0);

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Throw for a token file that is not a regular file, or is too large to be a token record. */
function refuseUnusual(path: string, stats: Stats): void {
  if (!stats.isFile()) {
    throw new StoreError(
      'store_error',
      `the token file ${path} is ${kindOf(stats)}, not a regular file. remove it (td-token writes a new one at the next login), or choose another place with --token-file`,
    );
  }
  if (stats.size > MAX_TOKEN_FILE_BYTES) {
    throw new StoreError(
      'invalid_token_file',
      `the token file ${path} is ${stats.size} bytes, far more than any token record (td-token reads at most ${MAX_TOKEN_FILE_BYTES}); it is not a token file. move it away and run 'td-token login', or choose another place with --token-file`,
    );
  }
}

/**
 * The file's text, read into a buffer sized by its stats (`size`), refusing a file that grew
 * past `max` bytes since it was looked at.
 */
async function readAtMost(
  handle: fsp.FileHandle,
  path: string,
  size: number,
  max: number,
): Promise<string> {
  let buffer = Buffer.allocUnsafe(Math.min(size, max) + 1);
  let length = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
    if (bytesRead === 0) break;
    length += bytesRead;
    if (length > max) {
      throw new StoreError(
        'invalid_token_file',
        `the token file ${path} is over ${max} bytes, far more than any token record; it is not a token file. move it away and run 'td-token login', or choose another place with --token-file`,
      );
    }
    if (length === buffer.length) {
      const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 2, max + 1));
      buffer.copy(bigger, 0, 0, length);
      buffer = bigger;
    }
  }
  return buffer.toString('utf8', 0, length);
}

function defaultWarning(message: string): void {
  process.emitWarning(message, 'TdTokenWarning');
}

/**
 * Keeps a token record in a JSON file exactly like the seed's `token.json`.
 *
 * @example
 * const store = new FileStore('/home/me/.config/td-token/default.json');
 * const lock = await store.lock();
 * try {
 *   await lock.save(record);
 * } finally {
 *   await lock.release();
 * }
 */
export class FileStore implements TokenStore {
  readonly kind = 'file' as const;
  /** The token file's absolute path. */
  readonly location: string;
  /** The lock file beside it. */
  readonly lockPath: string;
  readonly #onWarning: (message: string) => void;
  readonly #codec: RecordCodec;
  readonly #interval: number;
  #revisionAt = Number.NEGATIVE_INFINITY;
  #revision = '';
  #warned = new Set<string>();
  #bound: string | undefined;

  constructor(path: string, options: FileStoreOptions = {}) {
    if (typeof path !== 'string' || path === '') {
      throw new TypeError('"path" must be a non-empty string');
    }
    const interval = options.revisionIntervalMs ?? 1;
    if (typeof interval !== 'number' || !(interval >= 0)) {
      throw new TypeError('"options.revisionIntervalMs" must be a non-negative number');
    }
    this.location = resolve(path);
    this.lockPath = `${this.location}.lock`;
    this.#onWarning = options.onWarning ?? defaultWarning;
    this.#codec = options.codec ?? plainCodec;
    this.#interval = interval;
  }

  /**
   * Read and check the token file; undefined when it does not exist. A symbolic link, anything
   * but a regular file (a FIFO, a folder, a device) and a file over {@link MAX_TOKEN_FILE_BYTES}
   * are refused at once, without reading (a FIFO would block, a huge file fill the memory).
   */
  async load(): Promise<TokenRecord | undefined> {
    const path = this.location;
    let text: string;
    let stats: Stats;
    try {
      const handle = await fsp.open(path, READ_FLAGS);
      try {
        stats = await handle.stat();
        refuseUnusual(path, stats);
        text = await readAtMost(handle, path, stats.size, MAX_TOKEN_FILE_BYTES);
      } finally {
        await handle.close();
      }
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        this.#noteOwn(undefined);
        return undefined;
      }
      if (cause instanceof StoreError) throw cause;
      if (code === 'ELOOP' || code === 'EMLINK') await this.#refuseLink();
      throw fileStoreError('read the token file', path, cause);
    }
    this.#checkMode(stats);
    // The revision of exactly the version read (files are only ever replaced, never rewritten).
    this.#revisionAt = monotonicMs();
    this.#revision = revisionOf(stats);
    return decodeRecord(this.#codec, text, path, this.#binding());
  }

  /** Replace the token file atomically. */
  async save(record: TokenRecord): Promise<void> {
    const text = await encodeRecord(this.#codec, record, this.#binding());
    await ensureFolder(dirname(this.location));
    await this.#refuseLink();
    const { ino } = await writeFileAtomic(this.location, text);
    this.#noteOwn(ino);
  }

  /**
   * Replace the token file only while it holds the refresh token `expectedRefreshToken`: read,
   * compare and rename under the lock file's guard, which every save through the lock also
   * takes, so no holder's save lands in between.
   */
  async compareAndSave(expectedRefreshToken: string, record: TokenRecord): Promise<boolean> {
    const text = await encodeRecord(this.#codec, record, this.#binding());
    await ensureFolder(dirname(this.location));
    await this.#refuseLink();
    return underGuard(this.lockPath, async () => {
      const current = await this.load();
      if (current?.refresh_token !== expectedRefreshToken) return false;
      const { ino } = await writeFileAtomic(this.location, text);
      this.#noteOwn(ino);
      return true;
    });
  }

  /** Delete the token file (no error when it is already gone). */
  async clear(): Promise<void> {
    try {
      await fsp.rm(this.location, { force: true });
      await this.#removeLeftovers();
      await syncFolder(dirname(this.location));
    } catch (cause) {
      throw fileStoreError('delete the token file', this.location, cause);
    }
    this.#noteOwn(undefined);
  }

  /** Take the cross-process lock (`<token file>.lock`). */
  async lock(options?: LockOptions): Promise<StoreLock> {
    const resolved = resolveLockOptions(options);
    const held = await acquireFileLock(this.lockPath, this.location, resolved);
    // What killed writers left beside the file: dead on this host, or older than a lock lives.
    await sweepLitter(this.location, resolved.ttlMs).catch(() => undefined);
    return {
      save: async (record) => {
        const text = await encodeRecord(this.#codec, record, this.#binding());
        await ensureFolder(dirname(this.location));
        await this.#refuseLink();
        let releaseGuard: (() => Promise<void>) | undefined;
        const { ino } = await writeFileAtomic(this.location, text, {
          beforeRename: async () => {
            releaseGuard = await held.fence();
          },
          afterRename: async () => {
            await releaseGuard?.();
          },
        });
        this.#noteOwn(ino);
      },
      release: () => held.release(),
    };
  }

  /** Inode, size and times of the token file, looked at most once per `revisionIntervalMs`. */
  revision(): string {
    const now = monotonicMs();
    if (now - this.#revisionAt < this.#interval) return this.#revision;
    this.#revisionAt = now;
    this.#revision = this.#stat();
    return this.#revision;
  }

  /** Nothing to free: the file store holds no handles between calls. */
  async close(): Promise<void> {}

  /**
   * Remove temporary files that writers killed mid-save left beside the token file
   * (`.<name>.<random>.tmp`, mode 0600): they hold tokens, and a logout must leave none behind.
   */
  async #removeLeftovers(): Promise<void> {
    const dir = dirname(this.location);
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (isSaveLeftover(this.location, name)) await fsp.rm(join(dir, name), { force: true });
    }
  }

  /**
   * Refuse a token file that is a symbolic link: a save would replace the link with a file and
   * leave the link's target holding the old token (a stale copy for whatever reads it).
   */
  async #refuseLink(): Promise<void> {
    const stats = await fsp.lstat(this.location).catch(() => undefined);
    if (!stats?.isSymbolicLink()) return;
    const target = await fsp.readlink(this.location).catch(() => undefined);
    const real = target === undefined ? undefined : resolve(dirname(this.location), target);
    throw new StoreError(
      'store_error',
      `the token file ${this.location} is a symbolic link${real ? ` (to ${real})` : ''}; td-token does not follow links for token files, so that a save never lands elsewhere or leaves a stale copy behind. use the real file: point --token-file at it${real ? ` (${shellQuote(real)})` : ''}, or replace the link with the file itself`,
    );
  }

  /**
   * The place an encrypted record is bound to: `file:` and the file's real path (its folder's
   * links resolved, so every way of naming the folder binds alike).
   */
  #binding(): string {
    if (this.#bound === undefined) {
      try {
        this.#bound = `file:${join(realpathSync(dirname(this.location)), basename(this.location))}`;
      } catch {
        return `file:${this.location}`;
      }
    }
    return this.#bound;
  }

  #stat(): string {
    try {
      const s = statSync(this.location, { throwIfNoEntry: false });
      return s ? revisionOf(s) : 'none';
    } catch (error) {
      return `error:${(error as NodeJS.ErrnoException).code ?? 'unknown'}`;
    }
  }

  /**
   * After our own write (`ino` = the file we wrote) or delete (`undefined`): remember what is
   * there now. If it is already someone else's file, remember a value that cannot match, so
   * the next look reports a change instead of hiding theirs.
   */
  #noteOwn(ino: number | undefined): void {
    this.#revisionAt = monotonicMs();
    const s = statSync(this.location, { throwIfNoEntry: false });
    const ours = ino === undefined ? s === undefined : s?.ino === ino;
    const now = s ? revisionOf(s) : 'none';
    this.#revision = ours ? now : `${now}:unseen`;
  }

  #checkMode(stats: Stats): void {
    if (process.platform === 'win32') return;
    const folder = looseFolderWarning(dirname(this.location), 'the token file');
    if (folder !== undefined && !this.#warned.has(folder)) {
      this.#warned.add(folder);
      this.#onWarning(folder);
    }
    const message = looseFileMessage('the token file', this.location, stats.mode);
    if (message === undefined) return;
    const key = `${stats.ino}:${stats.mode & 0o777}`;
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#onWarning(message);
  }
}
