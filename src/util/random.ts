/**
 * Random names and ids for files and locks, from the Web Crypto API: `node:crypto` (some twenty
 * internal modules) is then loaded the first time one is needed, not by every start of
 * `td-token token`, which takes no lock and writes nothing.
 *
 * @internal
 * @module
 */

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes: number): string {
  const buffer = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buffer);
  return Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength).toString('hex');
}
