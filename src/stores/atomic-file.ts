/**
 * Atomic, durable file replacement: a temporary file in the same folder (random name, mode 0600,
 * created exclusively), written, flushed to disk, renamed over the target, and the folder
 * flushed so that the rename itself survives a crash. A reader sees the old file or the new
 * one, never a mix; a failed write leaves the old file as it was and removes the temporary one.
 *
 * Every file td-token writes that holds a secret or a key (token files, exports, certificates'
 * keys, registries) goes through here: {@link writePrivateFile} for a whole file,
 * {@link writeFileAtomic} when a lock must be checked just before the rename.
 *
 * @internal
 * @module
 */
import { constants, promises as fsp } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { StoreError } from '../errors.js';
import { shellQuote } from '../util/shell.js';
import { litterId } from './litter.js';

/** Mode of every file td-token writes: owner read/write only. */
export const FILE_MODE = 0o600;
/** Mode of every folder td-token creates: owner only. */
export const FOLDER_MODE = 0o700;

export { shellQuote } from '../util/shell.js';

/**
 * The fix for a failed file operation, by its error code. Messages never carry file contents.
 */
export function fileErrorFix(code: string | undefined, path: string): string {
  const dir = shellQuote(dirname(path));
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return 'the disk (or your quota) is full: free some space and run the command again';
    case 'EFBIG':
      return 'the file size limit was reached (ulimit -f): raise it and run the command again';
    case 'EROFS':
      return 'the file system is read-only: choose a writable place with --token-file or --store-url';
    case 'EACCES':
    case 'EPERM':
      return `permission denied: check who owns the folder (ls -ld ${dir}) or choose another place with --token-file`;
    case 'ENOTDIR':
    case 'EISDIR':
      return `part of the path is not what it should be (a file where a folder belongs, or the reverse): check ${dir} or choose another place with --token-file`;
    default:
      return 'check the path and the disk, then run the command again';
  }
}

/** A `store_error` naming the path, the operation, the system's reason and the fix. */
export function fileStoreError(action: string, path: string, cause: unknown): StoreError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const reason = code ?? (cause instanceof Error ? cause.message : String(cause));
  return new StoreError(
    'store_error',
    `could not ${action} ${path} (${reason}). ${fileErrorFix(code, path)}`,
    { cause },
  );
}

/**
 * Create `dir` and any missing parents with mode 0700. Folders that already exist (the user's
 * home, the working folder) are left as they are.
 */
export async function ensureFolder(dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true, mode: FOLDER_MODE });
  } catch (cause) {
    throw fileStoreError('create the folder', dir, cause);
  }
}

/** Flush a folder's entries (a rename or an unlink) to disk; a no-op where folders cannot be opened. */
export async function syncFolder(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, constants.O_RDONLY);
    await handle.sync();
  } catch (cause) {
    // Windows cannot open or flush folders; some file systems refuse fsync on them.
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') {
      throw cause;
    }
  } finally {
    await handle?.close();
  }
}

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * Runs after the temporary file is on disk and just before the rename; throwing cancels the
   * write (the temporary file is removed, the old file stays). Used to check a lock.
   */
  beforeRename?: () => void | Promise<void>;
  /** Runs after the rename (still before the folder is flushed), e.g. to release a guard. */
  afterRename?: () => void | Promise<void>;
  /** What the file is, for errors (default `the token file`). */
  what?: string | undefined;
  /** The file's mode (default 0600); only a file that holds no secret may be given more. */
  mode?: number | undefined;
}

/**
 * Replace `path` with `data`, atomically and durably, mode 0600 (or `options.mode`), and return the new file's inode
 * number. The folder must exist. Errors
 * from the file system are `store_error`s naming the path and the fix; errors thrown by
 * `beforeRename` pass through unchanged.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<{ ino: number }> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${litterId()}.tmp`);
  let handle: fsp.FileHandle | undefined;
  let stage = 'write';
  let ino = 0;
  try {
    handle = await fsp.open(
      temp,
      constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY,
      FILE_MODE,
    );
    if (options.mode !== undefined && options.mode !== FILE_MODE) await handle.chmod(options.mode);
    await handle.writeFile(data, typeof data === 'string' ? 'utf8' : undefined);
    await handle.sync();
    ino = (await handle.stat()).ino;
    await handle.close();
    handle = undefined;
    stage = 'check';
    await options.beforeRename?.();
    stage = 'write';
    try {
      await fsp.rename(temp, path);
    } finally {
      await options.afterRename?.();
    }
  } catch (cause) {
    if (handle) await handle.close().catch(() => undefined);
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    if (stage === 'check') throw cause;
    throw fileStoreError(`write ${options.what ?? 'the token file'}`, path, cause);
  }
  try {
    await syncFolder(dir);
  } catch (cause) {
    throw fileStoreError('flush to disk the folder of', path, cause);
  }
  return { ino };
}

/**
 * Write a file that holds a secret or a key: its folder created (0700) when missing, then the
 * file replaced atomically and durably, mode 0600 (see {@link writeFileAtomic}). A failure is a
 * `store_error` naming the path and the fix; the old file, if any, stays as it was.
 *
 * @param path where the file goes (a relative path is taken from the working folder).
 * @param data the file's text (UTF-8) or bytes.
 * @param what what the file is, for errors (default `the file`).
 * @example
 * await writePrivateFile('exports/token.json', JSON.stringify(token));
 */
export async function writePrivateFile(
  path: string,
  data: string | Uint8Array,
  what = 'the file',
): Promise<void> {
  if (typeof path !== 'string' || path === '') {
    throw new TypeError('"path" must be a non-empty string');
  }
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    throw new TypeError('"data" must be a string or a Uint8Array');
  }
  const absolute = resolve(path);
  await ensureFolder(dirname(absolute));
  await writeFileAtomic(absolute, data, { what });
}
