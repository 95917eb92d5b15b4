/**
 * What a stored record looks like when it is encrypted, told apart without loading any
 * cryptography: the plain codec needs this on every read, and the `token` command's start-up
 * must stay light. The encryption itself is in `crypto.ts`.
 *
 * @internal
 * @module
 */
import { StoreError } from '../errors.js';

/** The envelope's marker member; its value is the envelope version. */
export const ENVELOPE_MARKER = 'td_token_encrypted';
/** The environment variable holding the passphrase (the CLI takes no passphrase flag). */
export const PASSPHRASE_ENV = 'TD_TOKEN_PASSPHRASE';
/** The environment variable naming a key file. */
export const KEY_FILE_ENV = 'TD_TOKEN_KEY_FILE';

export const PASSPHRASE_FIX = `set ${PASSPHRASE_ENV} (or --passphrase-file) to the passphrase it was saved with`;
export const KEY_FILE_FIX = `point --encryption-key-file (or ${KEY_FILE_ENV}) at the key file it was saved with`;
export const LOST_FIX =
  "if that is lost, the token cannot be recovered: run 'td-token logout', then 'td-token login'";

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The stored text parsed as JSON when it holds the envelope marker; undefined otherwise. */
export function envelopeObject(stored: string): Record<string, unknown> | undefined {
  if (typeof stored !== 'string' || !stored.includes(ENVELOPE_MARKER)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(stored);
  } catch {
    return undefined;
  }
  return isPlainObject(value) && ENVELOPE_MARKER in value ? value : undefined;
}

/**
 * True when `stored` is an encrypted envelope (whatever its state), as opposed to a plain record
 * or text that is neither.
 */
export function isEncryptedRecord(stored: string): boolean {
  return envelopeObject(stored) !== undefined;
}

/**
 * The error for an encrypted record read without a key: which store, and the flag or variable
 * that gives the key (by the envelope's `kdf`, when it says).
 */
export function encryptedWithoutKeyError(stored: string, source: string): StoreError {
  const kdf = envelopeObject(stored)?.['kdf'];
  const how =
    kdf === 'keyfile'
      ? `it was saved with a key file: ${KEY_FILE_FIX}`
      : kdf === 'scrypt'
        ? `it was saved with a passphrase: ${PASSPHRASE_FIX}`
        : `give its passphrase (${PASSPHRASE_ENV} or --passphrase-file) or key file (--encryption-key-file or ${KEY_FILE_ENV})`;
  return new StoreError(
    'decrypt_failed',
    `the token record in ${source} is encrypted, and no passphrase or key file is configured. ${how}`,
  );
}
