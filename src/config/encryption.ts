/**
 * Encryption at rest as configuration: a key file (`--encryption-key-file`, `TD_TOKEN_KEY_FILE`,
 * `"encryptionKeyFile"`) or a passphrase. The passphrase itself is taken only from the
 * environment (`TD_TOKEN_PASSPHRASE`, or `.env`), never from a flag, where any user could read it
 * in `ps`; or from a file (`--passphrase-file`, `TD_TOKEN_PASSPHRASE_FILE`, `"passphraseFile"`),
 * whose first line is the passphrase. An empty passphrase, and a passphrase file that is not a
 * small regular file only its owner can read, are refused.
 *
 * @module
 */
import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { resolvePath } from '../paths.js';
import type { EncryptionOptions } from '../stores/crypto.js';
import { storeDriver } from '../stores/registry.js';
import type { StoreKind } from '../stores/types.js';
import { shellQuote } from '../util/shell.js';
import {
  describeSource,
  invalid,
  type Lookup,
  PASSPHRASE_ENV,
  rank,
  type Sourced,
  type ValueSource,
} from './layers.js';

/** The most a passphrase file may hold. */
const MAX_PASSPHRASE_FILE_BYTES = 65_536;

/** What {@link resolveEncryption} needs besides the layers. */
export interface EncryptionContext {
  env: NodeJS.ProcessEnv;
  dotenv: Record<string, string> | undefined;
  /** The folder a relative path from `source` resolves against. */
  baseFor: (source: ValueSource) => string;
  warnings: string[];
}

/**
 * The passphrase in a file: its first line (a final newline is not part of it). Opened without
 * blocking and checked on the open handle, so a FIFO or device is refused at once, and a file
 * others can read or change is refused with the `chmod` that fixes it.
 */
async function readPassphraseFile(sourced: Sourced<string>, path: string): Promise<string> {
  const fix = 'give the path of a file holding the passphrase on its first line';
  let text: string;
  let mode: number;
  try {
    const flags = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);
    const handle = await open(path, flags);
    try {
      const info = await handle.stat();
      if (!info.isFile() || info.size > MAX_PASSPHRASE_FILE_BYTES) {
        throw invalid(sourced.source, `names ${path}, which is not a small regular file`, `${fix}`);
      }
      mode = info.mode;
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    throw invalid(
      sourced.source,
      `names ${path}, which cannot be read (${code ?? 'error'})`,
      fix,
      cause,
    );
  }
  const passphrase = text.split(/\r?\n/, 1)[0] ?? '';
  if (passphrase === '') {
    throw invalid(
      sourced.source,
      `names ${path}, whose first line is empty`,
      'put the passphrase on its first line',
    );
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    const shown = (mode & 0o777).toString(8).padStart(4, '0');
    throw invalid(
      sourced.source,
      `names ${path}, which other users can read or change (mode ${shown}), so the passphrase is not secret`,
      `fix it: chmod 600 ${shellQuote(path)}`,
    );
  }
  return passphrase;
}

/** `TD_TOKEN_PASSPHRASE` from the environment, else `.env`; set but empty is an error. */
function passphraseFromEnv(ctx: EncryptionContext): Sourced<string> | undefined {
  for (const [vars, kind, label] of [
    [ctx.env, 'env', PASSPHRASE_ENV],
    [ctx.dotenv ?? {}, 'dotenv', `.env: ${PASSPHRASE_ENV}`],
  ] as const) {
    const raw = vars[PASSPHRASE_ENV];
    if (raw === undefined) continue;
    const source: ValueSource = { kind, name: label };
    if (raw === '') {
      throw invalid(
        source,
        'is set but empty, which would leave the store unencrypted',
        `set it to the passphrase, or remove it (unset ${PASSPHRASE_ENV}) to store tokens unencrypted`,
      );
    }
    // Kept exactly as given: spaces may be part of a passphrase.
    return { value: raw, source };
  }
  return undefined;
}

/**
 * The key file or passphrase to encrypt the store with, and where it came from; undefined for
 * none (or for a store td-token does not encrypt, with a warning).
 *
 * @throws ConfigError when two sources of the same rank disagree, for an empty passphrase, or
 *   for a passphrase file that is unusable.
 */
export async function resolveEncryption(
  lookup: Lookup,
  ctx: EncryptionContext,
  storeKind: StoreKind,
): Promise<{ choice: EncryptionOptions; source: ValueSource } | undefined> {
  const keyFile = lookup('encryptionKeyFile');
  const passphraseFile = lookup('passphraseFile');
  const passphrase = passphraseFromEnv(ctx);
  const candidates = [keyFile, passphraseFile, passphrase].filter(
    (c): c is Sourced<string> => c !== undefined,
  );
  if (candidates.length === 0) return undefined;
  candidates.sort((a, b) => rank(a.source) - rank(b.source));
  const [first, second] = candidates;
  if (first === undefined) return undefined;
  if (second !== undefined && rank(second.source) === rank(first.source)) {
    throw new ConfigError(
      `both ${describeSource(first.source)} and ${describeSource(second.source)} say how to encrypt the store. use one: a passphrase (${PASSPHRASE_ENV} or --passphrase-file) or a key file (--encryption-key-file)`,
    );
  }
  // Which stores can encrypt is the stores' to say (the registry's `encrypts`): file, SQLite and
  // Redis, so a shared Redis never holds a plain refresh token; memory cannot.
  if (storeDriver(storeKind)?.encrypts !== true) {
    ctx.warnings.push(
      `ignoring ${describeSource(first.source)}: the ${storeKind} store keeps nothing at rest to encrypt`,
    );
    return undefined;
  }
  if (first === keyFile) {
    return {
      choice: { keyFile: resolvePath(first.value, ctx.baseFor(first.source), ctx.env) },
      source: first.source,
    };
  }
  if (first === passphraseFile) {
    const path = resolvePath(first.value, ctx.baseFor(first.source), ctx.env);
    return { choice: { passphrase: await readPassphraseFile(first, path) }, source: first.source };
  }
  return { choice: { passphrase: first.value }, source: first.source };
}
