/**
 * How a store turns the record's text into what it keeps, and back. The plain codec keeps the
 * text as is (the seed's `token.json`); an encrypting codec wraps the same text, so every store
 * that writes text can be encrypted without knowing how. `encodeRecord` / `decodeRecord` are the
 * one way every store turns a record into stored text and back.
 *
 * @internal
 * @module
 */
import type { TokenRecord } from '../token.js';
import { parseTokenRecord, serializeTokenRecord, validateTokenRecord } from '../token.js';
import { encryptedWithoutKeyError, isEncryptedRecord } from './envelope.js';

/** Turns the serialized record into the stored text and back. */
export interface RecordCodec {
  /**
   * The stored form of the record's text. `binding` names the place it is written for (the
   * store's file, row or key, which names the profile); an encrypting codec binds the record to
   * it, so that a copy moved elsewhere does not open.
   */
  encode(text: string, binding?: string): string | Promise<string>;
  /**
   * The record's text from its stored form. `source` names where it came from, for errors
   * (`decrypt_failed`, `invalid_token_file`); `binding` is the place it is read for (as in
   * `encode`).
   */
  decode(stored: string, source: string, binding?: string): string | Promise<string>;
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

/**
 * The stored form of `record`: checked against the schema (an `invalid_token_file` error for
 * something that is not a token record), serialized as the seed's JSON, then encoded.
 */
export async function encodeRecord(
  codec: RecordCodec,
  record: TokenRecord,
  binding?: string,
): Promise<string> {
  const checked = validateTokenRecord(record, 'the record to save');
  return codec.encode(serializeTokenRecord(checked), binding);
}

/** The record in `stored`: decoded, then parsed and checked (`source` names it in errors). */
export async function decodeRecord(
  codec: RecordCodec,
  stored: string,
  source: string,
  binding?: string,
): Promise<TokenRecord> {
  return parseTokenRecord(await codec.decode(stored, source, binding), source);
}
