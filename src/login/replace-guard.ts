/**
 * Before a login replaces a stored one: a stored login with more than a day left is about to be
 * replaced for every holder of it (a new browser login retires the refresh token the other
 * tools use), and a stored record the configured passphrase or key cannot open (most often a
 * mistyped passphrase) is about to be overwritten under the new key. Either is said first, and
 * asked at a terminal; `--yes` skips the question. Without a terminal, a replacement still
 * proceeds (and says so), but an unreadable record is kept unless `--yes` is given.
 *
 * @module
 */
import { createInterface } from 'node:readline';
import { isTdTokenError, TdTokenError } from '../errors.js';
import type { TokenStore } from '../stores/types.js';
import { timeLeft } from '../util/time.js';

/** A stored login with more than this left is worth a question before it is replaced. */
export const REPLACE_WARNING_MS = 24 * 60 * 60_000;

/** What a new login would replace, when it is worth saying. */
export type Replacement =
  | { kind: 'live'; refreshTokenExpiresAt: number }
  | { kind: 'unreadable'; reason: string };

/**
 * What the store holds that a new login would replace, or undefined when nothing worth a word
 * (nothing stored, little time left, or a record that cannot be read for another reason).
 */
export async function whatLoginReplaces(
  store: TokenStore,
  now: number = Date.now(),
): Promise<Replacement | undefined> {
  try {
    const record = await store.load();
    if (record === undefined) return undefined;
    if (record.refresh_token_expires_at - now > REPLACE_WARNING_MS) {
      return { kind: 'live', refreshTokenExpiresAt: record.refresh_token_expires_at };
    }
    return undefined;
  } catch (error) {
    if (isTdTokenError(error, 'decrypt_failed')) {
      return { kind: 'unreadable', reason: 'the configured passphrase or key file cannot open it' };
    }
    // Anything else (a corrupt file, a store that is down) is the login's to meet and report.
    return undefined;
  }
}

/** How to ask. */
export interface AskOptions {
  /** `--yes`: proceed without asking. */
  yes: boolean;
  /** Whether a person is at a terminal to answer. */
  isTTY: boolean;
  input: NodeJS.ReadableStream;
  /** Where the notice and the question go (standard error). */
  output: NodeJS.WritableStream;
  /** Where the stored login lives, for people. */
  location: string;
  now?: number;
  signal?: AbortSignal | undefined;
}

function ask(question: string, options: AskOptions): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: options.input, output: options.output });
    let answered = false;
    const onAbort = (): void => {
      lines.close();
      reject(options.signal?.reason);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    lines.question(question, (answer) => {
      answered = true;
      options.signal?.removeEventListener('abort', onAbort);
      lines.close();
      resolve(/^\s*y(es)?\s*$/i.test(answer));
    });
    lines.once('close', () => {
      options.signal?.removeEventListener('abort', onAbort);
      if (!answered) resolve(false);
    });
  });
}

/**
 * Says what the login replaces and asks; resolves when it may go on, rejects with a
 * `TdTokenError` when the person said no (`access_denied`) or when an unreadable record would
 * be overwritten with no one to ask and no `--yes` (`decrypt_failed`).
 */
export async function confirmReplacement(
  replacement: Replacement | undefined,
  options: AskOptions,
): Promise<void> {
  if (replacement === undefined) return;
  const say = (line: string): void => {
    options.output.write(`${line}\n`);
  };
  if (replacement.kind === 'live') {
    const left = timeLeft(replacement.refreshTokenExpiresAt, options.now ?? Date.now());
    say(
      `td-token: a login is stored in ${options.location} and its refresh token is good for another ${left.replace(/^in /, '')}.`,
    );
    say(
      'td-token: a new login replaces that refresh token for every holder of this login (other machines, bots and tools using it fail at their next refresh until they get the new one).',
    );
    if (options.yes) return;
    if (!options.isTTY) {
      say('td-token: no terminal to ask in, so going ahead (--yes says so without this notice)');
      return;
    }
    if (await ask('log in anyway and replace it? [y/N] ', options)) return;
    throw new TdTokenError(
      'access_denied',
      "the login was cancelled; the stored login was kept. run 'td-token refresh' to renew the access token without logging in",
    );
  }
  say(
    `td-token: ${options.location} holds a login that ${replacement.reason} (a mistyped passphrase is the usual cause). a new login replaces it, encrypted with the key given now.`,
  );
  if (options.yes) return;
  if (!options.isTTY) {
    throw new TdTokenError(
      'decrypt_failed',
      `the stored login in ${options.location} cannot be opened with the configured passphrase or key, and there is no terminal to ask whether to replace it. give the passphrase it was saved with, or pass --yes to replace it`,
    );
  }
  if (await ask('replace it? [y/N] ', options)) return;
  throw new TdTokenError(
    'decrypt_failed',
    `the login was cancelled; ${options.location} was left as it was. give the passphrase it was saved with (TD_TOKEN_PASSPHRASE or --passphrase-file), then run the command again`,
  );
}
