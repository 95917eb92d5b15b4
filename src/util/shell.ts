/**
 * Quoting for POSIX shell commands shown to people (the `chmod` or `rm` a message says to run):
 * the one quoter td-token uses.
 *
 * @internal
 * @module
 */

/**
 * Quote one word (a path, a value) for a POSIX shell, only when it needs it: a word of letters,
 * digits and `_@%+=:,./-` is left as it is; anything else is put in single quotes, with each
 * `'` written as `'\''`.
 *
 * @example
 * shellQuote('/home/me/token.json'); // '/home/me/token.json'
 * shellQuote("/home/me/my token's.json"); // "'/home/me/my token'\\''s.json'"
 */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
