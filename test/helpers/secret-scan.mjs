/**
 * The secret scan: search a test run's output for every code and token the sandbox issued
 * during it (the ledger written through `TD_TOKEN_SANDBOX_LEDGER`).
 *
 * Each secret is searched as it is and in the encodings it could be printed in: percent-encoded
 * (upper and lower case hex) and form-encoded. Not only whole secrets: any run of 31 or more
 * characters of one counts as a leak. To find them fast, every secret's form is cut into
 * 24-character windows every 8 characters (plus its last 24), kept in a map; the output is cut
 * into runs of token characters, and every 24 characters of every run are looked up. A window
 * that two secrets share (the Schwab issuer prefix) is not evidence of either and is dropped.
 * A form of 16 to 23 characters (a made-up test passphrase, say; see test/helpers/ledger.ts) is
 * searched for whole; anything shorter is not searched at all (it would match innocent output).
 *
 * Plain JavaScript so that test/run-suite.mjs can use it without a build.
 */

/** Length of the windows looked up. */
export const WINDOW = 24;
/** Distance between the windows kept of each secret. */
export const STEP = 8;
/** The shortest part of a secret that is always found. */
export const MIN_LEAK = WINDOW + STEP - 1;
/** The shortest secret (or form of one) searched for: shorter ones are left out. */
export const MIN_SECRET = 16;

/** Characters of tokens, codes and their encodings; anything else ends a run. */
const RUN = /[A-Za-z0-9+/=@._%~-]{16,}/g;

/** `abcd…(120 chars)`: never enough of a secret to use. */
export function maskSecret(value) {
  return `${value.slice(0, 4)}…(${value.length} chars)`;
}

/** The ledger's entries, first occurrence of each value: `[{ kind, value }]`. */
export function parseLedger(text) {
  const seen = new Set();
  const entries = [];
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const kind = line.slice(0, space);
    const value = line.slice(space + 1).trim();
    if (value === '' || seen.has(value)) continue;
    seen.add(value);
    entries.push({ kind, value });
  }
  return entries;
}

/** The forms a secret could be printed in. */
export function secretForms(value) {
  const percent = encodeURIComponent(value);
  const lower = percent.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
  const form = new URLSearchParams({ x: value }).toString().slice(2);
  return [...new Set([value, percent, lower, form])];
}

function windowsOf(form) {
  const out = [];
  for (let i = 0; i + WINDOW <= form.length; i += STEP) out.push(form.slice(i, i + WINDOW));
  out.push(form.slice(form.length - WINDOW));
  return out;
}

/**
 * `windows`: window -> index of the one secret it belongs to (-1 when shared); `short`: the first
 * MIN_SECRET characters of each short form -> `[form, index]` pairs.
 */
function indexSecrets(entries) {
  const windows = new Map();
  const short = new Map();
  entries.forEach((entry, index) => {
    for (const form of secretForms(entry.value)) {
      if (form.length < MIN_SECRET) continue;
      if (form.length < WINDOW) {
        const key = form.slice(0, MIN_SECRET);
        short.set(key, [...(short.get(key) ?? []), [form, index]]);
        continue;
      }
      for (const w of windowsOf(form)) {
        const had = windows.get(w);
        if (had === undefined) windows.set(w, index);
        else if (had !== index) windows.set(w, -1);
      }
    }
  });
  return { windows, short };
}

/** Which secret, if any, a run of token characters holds (part of, for a long one). */
function hitIn(run, map) {
  for (let j = 0; j + WINDOW <= run.length; j++) {
    const index = map.windows.get(run.slice(j, j + WINDOW));
    if (index !== undefined && index >= 0) return index;
  }
  if (map.short.size === 0) return undefined;
  for (let j = 0; j + MIN_SECRET <= run.length; j++) {
    const candidates = map.short.get(run.slice(j, j + MIN_SECRET));
    if (candidates === undefined) continue;
    for (const [form, index] of candidates) if (run.startsWith(form, j)) return index;
  }
  return undefined;
}

/** The child process (or the test runner) whose output holds `offset`. */
function whereIn(log, offset) {
  const header = log.lastIndexOf('\n--- ', offset);
  if (header < 0) return 'test runner output';
  const line = log.slice(header + 5, log.indexOf('\n', header + 1));
  return line.startsWith('end of ') ? 'test runner output' : line.replace(/ ---$/, '');
}

/** The line around `offset`, at most 240 characters, with every run holding a secret masked. */
function maskedContext(log, offset, map, entries) {
  const start = Math.max(log.lastIndexOf('\n', offset) + 1, offset - 120);
  let end = log.indexOf('\n', offset);
  if (end < 0 || end > offset + 120) end = Math.min(log.length, offset + 120);
  return log.slice(start, end).replace(/[A-Za-z0-9+/=@._%~-]+/g, (run) => {
    if (run.length < MIN_SECRET) return run;
    const index = hitIn(run, map);
    if (index === undefined) return run;
    const entry = entries[index];
    return `[${entry.kind} ${maskSecret(entry.value)}]`;
  });
}

/**
 * Search `log` (the output, as bytes or text) for the secrets in `ledgerText`.
 *
 * @returns `{ secrets, bytes, leaks }`: how many distinct secrets were issued, how many bytes of
 *   output were searched, and one entry per leaking run `{ kind, masked, where, offset, context }`,
 *   with every secret in `context` masked.
 */
export function scanForLeaks(ledgerText, log) {
  // Bytes read as latin1: one character per byte, so offsets are byte offsets.
  const logText = Buffer.isBuffer(log) ? log.toString('latin1') : log;
  const bytes = Buffer.isBuffer(log) ? log.length : Buffer.byteLength(log, 'utf8');
  const entries = parseLedger(ledgerText);
  const map = indexSecrets(entries);
  const leaks = [];
  for (const match of logText.matchAll(RUN)) {
    const index = hitIn(match[0], map);
    if (index === undefined) continue;
    const entry = entries[index];
    leaks.push({
      kind: entry.kind,
      masked: maskSecret(entry.value),
      where: whereIn(logText, match.index),
      offset: match.index,
      context: maskedContext(logText, match.index, map, entries),
    });
  }
  return { secrets: entries.length, bytes, leaks };
}

/** One leak for people: what, where, and the masked line. */
export function formatLeak(leak) {
  return `  ${leak.kind} ${leak.masked} in ${leak.where} (byte ${leak.offset}):\n    ${leak.context}`;
}
