/**
 * Key files for encryption at rest: reading one (a regular file of 32 random bytes, raw or as
 * base64, base64url or hex text, readable by its owner only) and creating one.
 *
 * A key file that is not a regular file (a FIFO would block for ever, a folder or a device is
 * no key) or that other users can read or change is refused at once, with the fix: a key that
 * others can read protects nothing, and one they can change can be swapped for theirs.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { shellQuote } from '../util/shell.js';
import { ensureFolder, FILE_MODE } from './atomic-file.js';
import { KEY_FILE_ENV } from './envelope.js';
import { looseFileMessage } from './folder-mode.js';

/** Bytes in a key. */
export const KEY_BYTES = 32;

/**
 * Open flags for reading a key file: no blocking on a FIFO (refused by its type once open).
 * Links are followed: secret mounts (Kubernetes) are links.
 */
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/**
 * The key in a key file's bytes: exactly 32 raw bytes, or 64 hex digits, or base64 / base64url
 * text of 32 bytes (surrounding white space ignored). Undefined when it is none of these.
 */
export function keyFromKeyFileBytes(bytes: Buffer): Buffer | undefined {
  const text = bytes.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(text)) {
    const key = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  if (bytes.length === KEY_BYTES) return Buffer.from(bytes);
  return undefined;
}

function keyFileCreateHint(path: string): string {
  return `create one: (umask 077; openssl rand -base64 32 > ${shellQuote(path)})`;
}

/**
 * The key in the key file at `path`. Throws a `ConfigError` naming the fix for a missing,
 * unusual, loose or malformed file.
 */
export async function readKeyFile(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    const handle = await fsp.open(path, READ_FLAGS);
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) {
        throw new ConfigError(
          `the encryption key file ${path} is not a regular file (${stats.isFIFO() ? 'a FIFO' : stats.isDirectory() ? 'a folder' : 'a device or socket'}). point --encryption-key-file (or ${KEY_FILE_ENV}) at a file holding 32 random bytes`,
        );
      }
      const loose = looseFileMessage('the encryption key file', path, stats.mode);
      if (loose !== undefined) {
        throw new ConfigError(
          `${loose.replace(' fix it:', ' td-token refuses a key others can read or change. fix it:')}`,
        );
      }
      if (stats.size > 4096) {
        throw new ConfigError(
          `the encryption key file ${path} is too large to be a key (${stats.size} bytes). it must hold 32 random bytes; ${keyFileCreateHint(path)}`,
        );
      }
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ConfigError(
        `the encryption key file ${path} does not exist. ${keyFileCreateHint(path)}, or fix --encryption-key-file (or ${KEY_FILE_ENV})`,
        { cause },
      );
    }
    throw new ConfigError(
      `could not read the encryption key file ${path} (${code ?? String(cause)}). check its permissions`,
      { cause },
    );
  }
  const key = keyFromKeyFileBytes(bytes);
  bytes.fill(0);
  if (key === undefined) {
    throw new ConfigError(
      `the encryption key file ${path} does not hold a key: it must be 32 random bytes, raw or as base64 or hex text. ${keyFileCreateHint(path)}`,
    );
  }
  return key;
}

/**
 * Write a new key file: 32 random bytes as base64 and a newline, mode 0600 (its folder is
 * created 0700 when missing). Refuses to replace an existing file.
 *
 * @param path where to write it.
 * @returns the file's absolute path.
 * @throws ConfigError when the file already exists or cannot be written.
 * @example
 * await createKeyFile('/home/me/.config/td-token/token.key');
 * const store = await createStore({ kind: 'file', path: 'token.json',
 *   encryption: { keyFile: '/home/me/.config/td-token/token.key' } });
 */
export async function createKeyFile(path: string): Promise<string> {
  if (typeof path !== 'string' || path === '') {
    throw new TypeError('"path" must be a non-empty string');
  }
  const absolute = resolve(path);
  await ensureFolder(dirname(absolute));
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(
      absolute,
      constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY,
      FILE_MODE,
    );
    await handle.writeFile(`${randomBytes(KEY_BYTES).toString('base64')}\n`, 'utf8');
    await handle.sync();
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new ConfigError(
        `the key file ${absolute} already exists; td-token never replaces a key (the tokens saved with it would be lost). use it as it is, or choose another path`,
        { cause },
      );
    }
    throw new ConfigError(
      `could not write the key file ${absolute} (${code ?? String(cause)}). check the folder's permissions`,
      { cause },
    );
  } finally {
    await handle?.close();
  }
  return absolute;
}
