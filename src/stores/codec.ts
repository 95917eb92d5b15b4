/**
 * How a store turns the record's text into what it keeps, and back. The plain codec keeps the
 * text as is (the seed's `token.json`); an encrypting codec wraps the same text, so every store
 * that writes text can be encrypted without knowing how.
 *
 * @internal
 * @module
 */
import { encryptedWithoutKeyError, isEncryptedRecord } from './envelope.js';

/** Turns the serialized record into the stored text and back. */
export interface RecordCodec {
  /** The stored form of the record's text. */
  encode(text: string): string | Promise<string>;
  /**
   * The record's text from its stored form. `source` names where it came from, for errors
   * (`decrypt_failed`, `invalid_token_file`).
   */
  decode(stored: string, source: string): string | Promise<string>;
}

/**
 * Keeps the record's text unchanged. An encrypted record read through it is a `decrypt_failed`
 * error naming the flag or variable that gives the key (not a puzzling schema error).
 */
export const plainCodec: RecordCodec = {
  encode: (text) => text,
  decode: (stored, source) => {
    if (isEncryptedRecord(stored)) throw encryptedWithoutKeyError(stored, source);
    return stored;
  },
};
