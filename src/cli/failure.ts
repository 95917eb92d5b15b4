/**
 * Turning errors into a line on stderr and an exit code: `td-token: <message>`, no stack (unless
 * `TD_TOKEN_DEBUG` is set), and never a token: any secret the command saw is masked out.
 *
 * @internal
 * @module
 */
import { isTdTokenError } from '../errors.js';
import { maskToken } from '../token.js';
import { type CliIO, EXIT } from './io.js';

/** Secrets this run has seen (tokens, the client secret); masked in every error line. */
export const knownSecrets = new Set<string>();

/** Remember secrets to mask; empty and missing values are skipped. */
export function rememberSecrets(...values: (string | undefined)[]): void {
  for (const v of values) if (v) knownSecrets.add(v);
}

let loginCommand = 'td-token login';

/**
 * The login command with this run's configuration flags; errors that say "run 'td-token login'"
 * are shown with it, so the fix can be pasted as it is.
 */
export function setLoginCommand(command: string): void {
  loginCommand = command;
}

/** A usage mistake on the command line (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The exit code for an error: 3 when a person must log in, 2 for usage and configuration, else 1. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (isTdTokenError(err, 'login_required')) return EXIT.loginRequired;
  if (isTdTokenError(err, 'invalid_config')) return EXIT.usage;
  return EXIT.failed;
}

/** Mask every known secret in `text`. */
export function scrub(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 6 && out.includes(secret)) out = out.split(secret).join(maskToken(secret));
  }
  return out;
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** Print `td-token: <message>` (and, for usage errors, where to find help); return the exit code. */
export function reportError(
  io: CliIO,
  err: unknown,
  secrets: Iterable<string> = knownSecrets,
): number {
  const code = exitCodeFor(err);
  const list = [...secrets];
  let text = `td-token: ${messageOf(err).split(`'td-token login'`).join(`'${loginCommand}'`)}`;
  if (err instanceof UsageError) text += `\nrun 'td-token --help' for usage`;
  if (!isTdTokenError(err) && !(err instanceof UsageError) && io.env['TD_TOKEN_DEBUG']) {
    text += `\n${err instanceof Error ? (err.stack ?? '') : ''}`;
  }
  io.stderr.write(`${scrub(text, list)}\n`);
  return code;
}
