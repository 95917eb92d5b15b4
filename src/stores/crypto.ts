/**
 * Encryption at rest for the file, SQLite and Redis stores: a {@link RecordCodec} that wraps the
 * record's text in AES-256-GCM.
 *
 * The key comes from one of:
 * - a passphrase, through scrypt (N = 2^15, r = 8, p = 1, 32 MiB of memory) with a random
 *   16-byte salt for every write, kept in the envelope with the cost parameters. The key
 *   derived for a salt is cached in memory, so reading back what this process wrote costs
 *   nothing; a save costs one derivation (about 0.1 to 0.25 s, once per refresh);
 * - a key file: 32 random bytes, raw or as base64, base64url or hex text (see
 *   {@link createKeyFile}).
 *
 * What is stored, in place of the seed's `token.json` text (one line of JSON):
 * ```json
 * {"td_token_encrypted":1,"alg":"A256GCM","kdf":"scrypt","n":32768,"r":8,"p":1,
 *  "salt":"…","iv":"…","tag":"…","ciphertext":"…"}
 * ```
 * All binary fields are base64url. A key file envelope has `"kdf":"keyfile"` and no salt or
 * cost. The header (version, algorithm, key derivation, its cost and salt) is authenticated as
 * GCM's additional data, so changing any of it, the IV, the tag or the ciphertext makes
 * decryption fail.
 *
 * Reading:
 * - an envelope that does not decrypt (wrong passphrase or key, or a changed file) is a
 *   `StoreError` `decrypt_failed` naming the store and the fix; nothing is written;
 * - a plain record (written before encryption was turned on) is read as it is, with a warning
 *   that it will be encrypted on the next save (the next refresh or login);
 * - an envelope read with no key configured (the plain codec) is a `decrypt_failed` error
 *   saying the record is encrypted and how to give the key ({@link encryptedWithoutKeyError}).
 *
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  randomBytes,
  type ScryptOptions,
  scrypt,
} from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, StoreError } from '../errors.js';
import { shellQuote } from '../util/shell.js';
import { ensureFolder, FILE_MODE } from './atomic-file.js';
import type { RecordCodec } from './codec.js';
import {
  ENVELOPE_MARKER,
  envelopeObject,
  isPlainObject,
  KEY_FILE_ENV,
  KEY_FILE_FIX,
  LOST_FIX,
  PASSPHRASE_ENV,
  PASSPHRASE_FIX,
} from './envelope.js';

export {
  ENVELOPE_MARKER,
  encryptedWithoutKeyError,
  isEncryptedRecord,
  KEY_FILE_ENV,
  PASSPHRASE_ENV,
} from './envelope.js';

/** How a store is encrypted: a passphrase or a key file, not both. */
export interface EncryptionOptions {
  /** A passphrase; the key is derived from it with scrypt. */
  passphrase?: string | undefined;
  /** A file holding 32 random bytes (raw, base64, base64url or hex). */
  keyFile?: string | undefined;
}

/** scrypt's cost parameters. */
export interface ScryptCost {
  /** CPU and memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelism. */
  p: number;
}

/** Options of {@link createEncryptingCodec}. */
export interface EncryptingCodecOptions {
  /** Warnings for people (a plain record that will be encrypted, a key file others can read). */
  onWarning?: ((message: string) => void) | undefined;
  /** scrypt cost for new writes (default {@link DEFAULT_SCRYPT_COST}). Reads use the stored cost. */
  scryptCost?: ScryptCost | undefined;
}

/** The scrypt cost new envelopes are written with: N = 2^15, r = 8, p = 1 (32 MiB). */
export const DEFAULT_SCRYPT_COST: Readonly<ScryptCost> = Object.freeze({ N: 2 ** 15, r: 8, p: 1 });

const KEY_BYTES = 32;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/**
 * Costs above these are refused (in a stored envelope too), so a planted file cannot make us
 * spend minutes or gigabytes: N * r * p at most 16 times the default's, 128 * N * r bytes of
 * memory at most 256 MiB.
 */
const MAX_LOG2_N = 20;
const MAX_R = 32;
const MAX_P = 16;
const MAX_WORK = 2 ** 22;
const MAX_MEMORY = 256 * 1024 * 1024;
/** Derived keys kept per codec (one per salt seen). */
const KEY_CACHE_SIZE = 8;

type Kdf = 'scrypt' | 'keyfile';

interface Envelope {
  kdf: Kdf;
  cost: ScryptCost | undefined;
  salt: Buffer | undefined;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
  aad: Buffer;
}

/** The authenticated header: everything in the envelope but the IV, tag and ciphertext. */
function headerAad(kdf: Kdf, cost: ScryptCost | undefined, salt: string | undefined): Buffer {
  const parts = ['td-token', '1', 'A256GCM', kdf];
  if (cost !== undefined && salt !== undefined)
    parts.push(`${cost.N}`, `${cost.r}`, `${cost.p}`, salt);
  return Buffer.from(parts.join(':'), 'utf8');
}

function looksLikePlainRecord(stored: string): boolean {
  try {
    return isPlainObject(JSON.parse(stored));
  } catch {
    return false;
  }
}

function damaged(source: string, problem: string): StoreError {
  return new StoreError(
    'invalid_token_file',
    `the encrypted token record in ${source} ${problem}. it was damaged or hand-edited: restore it from a backup, or run 'td-token logout', then 'td-token login'`,
  );
}

function bytesField(
  obj: Record<string, unknown>,
  name: string,
  source: string,
  length?: number,
): Buffer {
  const value = obj[name];
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]*$/.test(value)) {
    throw damaged(source, `has no valid "${name}"`);
  }
  const bytes = Buffer.from(value, 'base64url');
  if (length !== undefined && bytes.length !== length) {
    throw damaged(source, `has a "${name}" of the wrong length`);
  }
  return bytes;
}

/** True for scrypt parameters within the limits above. */
function isSaneCost(N: unknown, r: unknown, p: unknown): boolean {
  if (typeof N !== 'number' || typeof r !== 'number' || typeof p !== 'number') return false;
  return (
    Number.isSafeInteger(N) &&
    Number.isSafeInteger(r) &&
    Number.isSafeInteger(p) &&
    N >= 2 &&
    N <= 2 ** MAX_LOG2_N &&
    (N & (N - 1)) === 0 &&
    r >= 1 &&
    r <= MAX_R &&
    p >= 1 &&
    p <= MAX_P &&
    N * r * p <= MAX_WORK &&
    128 * N * r <= MAX_MEMORY
  );
}

function costField(obj: Record<string, unknown>, source: string): ScryptCost {
  const { n: N, r, p } = obj;
  if (!isSaneCost(N, r, p)) throw damaged(source, 'has scrypt parameters out of range');
  return { N: N as number, r: r as number, p: p as number };
}

function parseEnvelope(obj: Record<string, unknown>, source: string): Envelope {
  if (obj[ENVELOPE_MARKER] !== 1) {
    throw new StoreError(
      'decrypt_failed',
      `the token record in ${source} is encrypted in a format this td-token does not know (version ${JSON.stringify(obj[ENVELOPE_MARKER])}). upgrade td-token`,
    );
  }
  if (obj['alg'] !== 'A256GCM') throw damaged(source, 'names an unknown algorithm');
  const kdf = obj['kdf'];
  if (kdf !== 'scrypt' && kdf !== 'keyfile') throw damaged(source, 'names an unknown key source');
  let cost: ScryptCost | undefined;
  let salt: Buffer | undefined;
  let saltText: string | undefined;
  if (kdf === 'scrypt') {
    cost = costField(obj, source);
    salt = bytesField(obj, 'salt', source);
    if (salt.length < 8 || salt.length > 64)
      throw damaged(source, 'has a salt of the wrong length');
    saltText = obj['salt'] as string;
  }
  return {
    kdf,
    cost,
    salt,
    iv: bytesField(obj, 'iv', source, IV_BYTES),
    tag: bytesField(obj, 'tag', source, TAG_BYTES),
    ciphertext: bytesField(obj, 'ciphertext', source),
    aad: headerAad(kdf, cost, saltText),
  };
}

function deriveKey(passphrase: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const options: ScryptOptions = {
    N: cost.N,
    r: cost.r,
    p: cost.p,
    maxmem: 128 * cost.N * cost.r + 4 * 1024 * 1024,
  };
  return new Promise((resolveKey, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => {
      if (err) reject(err);
      else resolveKey(key);
    });
  });
}

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

async function readKeyFile(path: string, onWarning: (message: string) => void): Promise<Buffer> {
  let bytes: Buffer;
  try {
    const handle = await fsp.open(path, 'r');
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) {
        throw new ConfigError(
          `the encryption key file ${path} is not a file. point --encryption-key-file (or ${KEY_FILE_ENV}) at a file holding 32 random bytes`,
        );
      }
      if (process.platform !== 'win32' && (stats.mode & 0o077) !== 0) {
        const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
        onWarning(
          `the encryption key file ${path} can be read or changed by other users (mode ${mode}). fix it: chmod 600 ${shellQuote(path)}`,
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

function checkCost(cost: ScryptCost): ScryptCost {
  if (typeof cost !== 'object' || cost === null || !isSaneCost(cost.N, cost.r, cost.p)) {
    throw new TypeError(
      '"options.scryptCost" must be {N, r, p}: N a power of two, N * r * p at most 2^22, 128 * N * r bytes at most 256 MiB',
    );
  }
  return { N: cost.N, r: cost.r, p: cost.p };
}

/**
 * A codec that encrypts the record's text with AES-256-GCM under a passphrase (scrypt) or a key
 * file, for `FileStore`, `SqliteStore` and `RedisStore` (`codec` option), or through `createStore`'s
 * `encryption`.
 *
 * @param encryption the passphrase or the key file (exactly one).
 * @throws TypeError when neither or both are given, or a value is not a non-empty string.
 * @example
 * const codec = createEncryptingCodec({ passphrase: process.env.TD_TOKEN_PASSPHRASE });
 * const store = new FileStore('token.json', { codec });
 */
export function createEncryptingCodec(
  encryption: EncryptionOptions,
  options: EncryptingCodecOptions = {},
): RecordCodec {
  if (typeof encryption !== 'object' || encryption === null) {
    throw new TypeError('"encryption" must be an object');
  }
  const { passphrase, keyFile } = encryption;
  if (passphrase !== undefined && (typeof passphrase !== 'string' || passphrase === '')) {
    throw new TypeError('"encryption.passphrase" must be a non-empty string');
  }
  if (keyFile !== undefined && (typeof keyFile !== 'string' || keyFile === '')) {
    throw new TypeError('"encryption.keyFile" must be a non-empty string');
  }
  if ((passphrase === undefined) === (keyFile === undefined)) {
    throw new TypeError('"encryption" must have exactly one of "passphrase" and "keyFile"');
  }
  const onWarning =
    options.onWarning ?? ((message: string) => process.emitWarning(message, 'TdTokenWarning'));
  const cost = checkCost(options.scryptCost ?? DEFAULT_SCRYPT_COST);
  const keyFilePath = keyFile === undefined ? undefined : resolve(keyFile);
  const kdf: Kdf = passphrase === undefined ? 'keyfile' : 'scrypt';
  const warnedPlain = new Set<string>();

  let fileKey: Promise<Buffer> | undefined;
  const keyFromFile = (): Promise<Buffer> => {
    fileKey ??= readKeyFile(keyFilePath as string, onWarning).catch((err: unknown) => {
      fileKey = undefined;
      throw err;
    });
    return fileKey;
  };

  // scrypt keys by salt and cost; the newest last.
  const derived = new Map<string, Promise<Buffer>>();
  const keyFromPassphrase = (salt: Buffer, c: ScryptCost): Promise<Buffer> => {
    const id = `${c.N}:${c.r}:${c.p}:${salt.toString('base64url')}`;
    let key = derived.get(id);
    if (key === undefined) {
      key = deriveKey(passphrase as string, salt, c);
      key.catch(() => derived.delete(id));
      derived.set(id, key);
      while (derived.size > KEY_CACHE_SIZE) {
        const oldest = derived.keys().next().value as string;
        derived.delete(oldest);
      }
    }
    return key;
  };

  const wrongKey = (source: string, envelopeKdf: Kdf): StoreError => {
    if (envelopeKdf !== kdf) {
      return new StoreError(
        'decrypt_failed',
        envelopeKdf === 'keyfile'
          ? `the token record in ${source} was encrypted with a key file, but a passphrase is configured. ${KEY_FILE_FIX} (and unset ${PASSPHRASE_ENV})`
          : `the token record in ${source} was encrypted with a passphrase, but a key file is configured. ${PASSPHRASE_FIX} (and drop --encryption-key-file / ${KEY_FILE_ENV})`,
      );
    }
    return new StoreError(
      'decrypt_failed',
      kdf === 'scrypt'
        ? `could not decrypt the token record in ${source}: the passphrase is not the one it was saved with (or the record was changed). ${PASSPHRASE_FIX}; ${LOST_FIX}`
        : `could not decrypt the token record in ${source} with the key file ${keyFilePath}: it was saved with another key (or the record was changed). ${KEY_FILE_FIX}; ${LOST_FIX}`,
    );
  };

  return {
    async encode(text: string): Promise<string> {
      let key: Buffer;
      let header: Record<string, unknown>;
      let aad: Buffer;
      if (kdf === 'scrypt') {
        const salt = randomBytes(SALT_BYTES);
        const saltText = salt.toString('base64url');
        key = await keyFromPassphrase(salt, cost);
        header = { kdf, n: cost.N, r: cost.r, p: cost.p, salt: saltText };
        aad = headerAad(kdf, cost, saltText);
      } else {
        key = await keyFromFile();
        header = { kdf };
        aad = headerAad(kdf, undefined, undefined);
      }
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad);
      const ciphertext = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
      const envelope = {
        [ENVELOPE_MARKER]: 1,
        alg: 'A256GCM',
        ...header,
        iv: iv.toString('base64url'),
        tag: cipher.getAuthTag().toString('base64url'),
        ciphertext: ciphertext.toString('base64url'),
      };
      return `${JSON.stringify(envelope)}\n`;
    },

    async decode(stored: string, source: string): Promise<string> {
      const obj = envelopeObject(stored);
      if (obj === undefined) {
        // A plain record (or garbage, which the record parser reports as such).
        if (!warnedPlain.has(source) && looksLikePlainRecord(stored)) {
          warnedPlain.add(source);
          onWarning(
            `the token record in ${source} is not encrypted; it will be encrypted on the next save (the next refresh or login)`,
          );
        }
        return stored;
      }
      const envelope = parseEnvelope(obj, source);
      if (envelope.kdf !== kdf) throw wrongKey(source, envelope.kdf);
      let key: Buffer;
      if (envelope.kdf === 'scrypt') {
        try {
          key = await keyFromPassphrase(envelope.salt as Buffer, envelope.cost as ScryptCost);
        } catch (cause) {
          throw new StoreError(
            'decrypt_failed',
            `could not derive the key for the token record in ${source} (${(cause as Error).message}). run the command again; if it persists, run 'td-token logout', then 'td-token login'`,
            { cause },
          );
        }
      } else {
        key = await keyFromFile();
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, envelope.iv, {
          authTagLength: TAG_BYTES,
        });
        decipher.setAAD(envelope.aad);
        decipher.setAuthTag(envelope.tag);
        return Buffer.concat([decipher.update(envelope.ciphertext), decipher.final()]).toString(
          'utf8',
        );
      } catch {
        throw wrongKey(source, envelope.kdf);
      }
    },
  };
}
