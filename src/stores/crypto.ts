/**
 * Encryption at rest for the file, SQLite and Redis stores: a {@link RecordCodec} that wraps the
 * record's text in AES-256-GCM.
 *
 * The key comes from one of:
 * - a passphrase, through scrypt (N = 2^17, r = 8, p = 1: 128 MiB, OWASP's minimum) with a
 *   random 16-byte salt, kept in the envelope with the cost parameters. The salt is kept across
 *   saves (every write has a fresh random IV, which is what AES-GCM needs), and the key derived
 *   for it is cached in memory: a process derives once (about 0.3 s), at its first load or save,
 *   and every refresh after that costs no scrypt. A process that reads a record another process
 *   wrote with the same salt derives nothing new either;
 * - a key file: 32 random bytes, raw or as base64, base64url or hex text (see key-file.ts).
 *
 * What is stored, in place of the seed's `token.json` text (one line of JSON):
 * ```json
 * {"td_token_encrypted":2,"alg":"A256GCM","kdf":"scrypt","n":131072,"r":8,"p":1,
 *  "salt":"…","bind":"file:/home/me/.config/td-token/default.json","iv":"…","tag":"…",
 *  "ciphertext":"…"}
 * ```
 * All binary fields are base64url. A key file envelope has `"kdf":"keyfile"` and no salt or
 * cost. The header (version, algorithm, key derivation, its cost and salt) and the record's
 * binding (`bind`: the store's place, which names the profile: `file:<real path>`,
 * `sqlite:<real path>#<profile>`, `redis:<key>`) are authenticated as GCM's additional data, so
 * changing any of them, the IV, the tag or the ciphertext makes decryption fail, and a record
 * copied from one profile's file, row or key to another's is refused (`decrypt_failed`) instead
 * of handing one profile's login to another.
 *
 * Reading:
 * - an envelope that does not decrypt (wrong passphrase or key, or a changed file) is a
 *   `StoreError` `decrypt_failed` naming the store and the fix; nothing is written;
 * - an envelope bound to another place is `decrypt_failed` saying where it was written for;
 * - a version 1 envelope (no binding; written before bindings existed, with N = 2^15 or any
 *   stored cost) is read as it is and rewritten bound, at the new cost, on its next save;
 * - a plain record is refused (`decrypt_failed`, naming the store and the fix): anyone who can
 *   write the folder could otherwise plant a login of their own that the next save encrypts
 *   under the owner's key. Adopting a plain record is an explicit step: log in again, or set
 *   `adoptPlaintext` (it is then read with a warning and encrypted on the next save);
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
import { resolve } from 'node:path';
import { StoreError } from '../errors.js';
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
import { KEY_BYTES, readKeyFile } from './key-file.js';

export {
  ENVELOPE_MARKER,
  encryptedWithoutKeyError,
  isEncryptedRecord,
  KEY_FILE_ENV,
  PASSPHRASE_ENV,
} from './envelope.js';
export { createKeyFile, keyFromKeyFileBytes } from './key-file.js';

/** How a store is encrypted: a passphrase or a key file, not both. */
export interface EncryptionOptions {
  /** A passphrase; the key is derived from it with scrypt. */
  passphrase?: string | undefined;
  /** A file holding 32 random bytes (raw, base64, base64url or hex). */
  keyFile?: string | undefined;
  /**
   * Read a plain (unencrypted) record as it is, with a warning, and encrypt it on the next save,
   * instead of refusing it. For adopting a token file written before encryption was turned on,
   * once; leave it off otherwise (a plain record in an encrypted store may have been planted).
   */
  adoptPlaintext?: boolean | undefined;
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

/**
 * The scrypt cost new envelopes are written with: N = 2^17, r = 8, p = 1 (128 MiB), OWASP's
 * minimum. Envelopes written with another cost (2^15 before) are read with their own.
 */
export const DEFAULT_SCRYPT_COST: Readonly<ScryptCost> = Object.freeze({ N: 2 ** 17, r: 8, p: 1 });

/** The envelope version written: 2 binds the record to its place. */
const ENVELOPE_VERSION = 2;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/**
 * Costs above these are refused (in a stored envelope too), so a planted file cannot make us
 * spend minutes or gigabytes: N * r * p at most 4 times the default's, 128 * N * r bytes of
 * memory at most 256 MiB; and scrypt's own rule N < 2^(16 r), which OpenSSL enforces.
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
  version: 1 | 2;
  kdf: Kdf;
  cost: ScryptCost | undefined;
  salt: Buffer | undefined;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
  /** The salt as stored (base64url), for the header. */
  saltText: string | undefined;
  /** Version 2: the place the record was written for. */
  bind: string | undefined;
}

/**
 * The authenticated data: the header (everything in the envelope but the IV, tag and
 * ciphertext) and, from version 2, the place the record is bound to. Built from the reader's
 * own place, never from the envelope's, so a record moved elsewhere does not decrypt.
 */
function headerAad(
  version: 1 | 2,
  kdf: Kdf,
  cost: ScryptCost | undefined,
  salt: string | undefined,
  bind: string,
): Buffer {
  const parts = ['td-token', `${version}`, 'A256GCM', kdf];
  if (cost !== undefined && salt !== undefined)
    parts.push(`${cost.N}`, `${cost.r}`, `${cost.p}`, salt);
  if (version === 2) parts.push(`bind=${bind}`);
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
    128 * N * r <= MAX_MEMORY &&
    N < 2 ** (16 * r)
  );
}

function costField(obj: Record<string, unknown>, source: string): ScryptCost {
  const { n: N, r, p } = obj;
  if (!isSaneCost(N, r, p)) throw damaged(source, 'has scrypt parameters out of range');
  return { N: N as number, r: r as number, p: p as number };
}

function parseEnvelope(obj: Record<string, unknown>, source: string): Envelope {
  const version = obj[ENVELOPE_MARKER];
  if (version !== 1 && version !== 2) {
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
  const bind = obj['bind'];
  if (version === 2 && (typeof bind !== 'string' || bind.length > 4096)) {
    throw damaged(source, 'has no valid "bind"');
  }
  return {
    version,
    kdf,
    cost,
    salt,
    saltText,
    bind: version === 2 ? (bind as string) : undefined,
    iv: bytesField(obj, 'iv', source, IV_BYTES),
    tag: bytesField(obj, 'tag', source, TAG_BYTES),
    ciphertext: bytesField(obj, 'ciphertext', source),
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

function checkCost(cost: ScryptCost): ScryptCost {
  if (typeof cost !== 'object' || cost === null || !isSaneCost(cost.N, cost.r, cost.p)) {
    throw new TypeError(
      '"options.scryptCost" must be {N, r, p}: N a power of two below 2^(16 r), N * r * p at most 2^22, 128 * N * r bytes at most 256 MiB',
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
  const adoptPlaintext = encryption.adoptPlaintext === true;
  const onWarning =
    options.onWarning ?? ((message: string) => process.emitWarning(message, 'TdTokenWarning'));
  const cost = checkCost(options.scryptCost ?? DEFAULT_SCRYPT_COST);
  const keyFilePath = keyFile === undefined ? undefined : resolve(keyFile);
  const kdf: Kdf = passphrase === undefined ? 'keyfile' : 'scrypt';
  const warnedPlain = new Set<string>();

  let fileKey: Promise<Buffer> | undefined;
  const keyFromFile = (): Promise<Buffer> => {
    fileKey ??= readKeyFile(keyFilePath as string).catch((err: unknown) => {
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
  // The salt new writes use: the one last read or written at the configured cost, so that a
  // refresh derives nothing (a fresh IV per write is what AES-GCM needs, not a fresh salt).
  let writeSalt: Buffer | undefined;
  const sameCost = (c: ScryptCost | undefined): boolean =>
    c !== undefined && c.N === cost.N && c.r === cost.r && c.p === cost.p;

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

  const plainRecord = (stored: string, source: string): string => {
    if (!looksLikePlainRecord(stored)) return stored; // garbage: the record parser reports it
    if (!adoptPlaintext) {
      throw new StoreError(
        'decrypt_failed',
        `the token record in ${source} is not encrypted, but encryption is configured, so td-token refuses it: anyone who can write there could have planted it. if it is yours (saved before encryption was turned on), replace it with an encrypted one by logging in again: 'td-token login' (a program can adopt it once with the adoptPlaintext option)`,
      );
    }
    if (!warnedPlain.has(source)) {
      warnedPlain.add(source);
      onWarning(
        `the token record in ${source} is not encrypted; it will be encrypted on the next save (the next refresh or login)`,
      );
    }
    return stored;
  };

  return {
    async encode(text: string, binding = ''): Promise<string> {
      let key: Buffer;
      let header: Record<string, unknown>;
      let aad: Buffer;
      if (kdf === 'scrypt') {
        writeSalt ??= randomBytes(SALT_BYTES);
        const salt = writeSalt;
        const saltText = salt.toString('base64url');
        key = await keyFromPassphrase(salt, cost);
        header = { kdf, n: cost.N, r: cost.r, p: cost.p, salt: saltText };
        aad = headerAad(ENVELOPE_VERSION, kdf, cost, saltText, binding);
      } else {
        key = await keyFromFile();
        header = { kdf };
        aad = headerAad(ENVELOPE_VERSION, kdf, undefined, undefined, binding);
      }
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad);
      const ciphertext = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
      const envelope = {
        [ENVELOPE_MARKER]: ENVELOPE_VERSION,
        alg: 'A256GCM',
        ...header,
        bind: binding,
        iv: iv.toString('base64url'),
        tag: cipher.getAuthTag().toString('base64url'),
        ciphertext: ciphertext.toString('base64url'),
      };
      return `${JSON.stringify(envelope)}\n`;
    },

    async decode(stored: string, source: string, binding = ''): Promise<string> {
      const obj = envelopeObject(stored);
      if (obj === undefined) return plainRecord(stored, source);
      const envelope = parseEnvelope(obj, source);
      if (envelope.kdf !== kdf) throw wrongKey(source, envelope.kdf);
      if (envelope.bind !== undefined && envelope.bind !== binding) {
        throw new StoreError(
          'decrypt_failed',
          `the token record in ${source} was encrypted for another place (${envelope.bind || 'none named'}) and copied or moved here; td-token refuses it, so that one profile's login cannot be planted in another's. if you moved it yourself, move it back; otherwise log in again: 'td-token login'`,
        );
      }
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
      const aad = headerAad(
        envelope.version,
        envelope.kdf,
        envelope.cost,
        envelope.saltText,
        binding,
      );
      let text: string;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, envelope.iv, {
          authTagLength: TAG_BYTES,
        });
        decipher.setAAD(aad);
        decipher.setAuthTag(envelope.tag);
        text = Buffer.concat([decipher.update(envelope.ciphertext), decipher.final()]).toString(
          'utf8',
        );
      } catch {
        throw wrongKey(source, envelope.kdf);
      }
      // Opened with this passphrase: its salt serves the next writes when its cost is current.
      if (envelope.kdf === 'scrypt' && sameCost(envelope.cost)) writeSalt = envelope.salt;
      return text;
    },
  };
}
