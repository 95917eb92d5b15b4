/**
 * Turning errors into a line on stderr and an exit code: `td-token: <message>`, no stack (unless
 * `TD_TOKEN_DEBUG` is set), and never a token: any secret the command saw is masked out.
 *
 * @internal
 * @module
 */
import { isTdTokenError, TdTokenError } from '../errors.js';
import { maskToken } from '../token.js';
import { type CliIO, EXIT } from './io.js';
import type { CommandContext } from './world.js';

/** A usage mistake on the command line (exit 2). */
export class UsageError extends TdTokenError {
  declare readonly code: 'invalid_usage';
  /** The help that explains the mistake: the command's own for its flags. */
  readonly helpCommand: string;
  constructor(message: string, helpCommand = 'td-token --help') {
    super('invalid_usage', message);
    this.helpCommand = helpCommand;
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

/**
 * Print `td-token: <message>` (and, for usage errors, where to find help); return the exit code.
 * Every secret the run has seen is masked, and "run 'td-token login'" names this run's login
 * command.
 */
export function reportError(
  io: CliIO,
  err: unknown,
  cli: Pick<CommandContext, 'secrets' | 'loginCommand'>,
): number {
  const code = exitCodeFor(err);
  const list = [...cli.secrets];
  let text = `td-token: ${messageOf(err).split(`'td-token login'`).join(`'${cli.loginCommand}'`)}`;
  if (err instanceof UsageError) text += `\nrun '${err.helpCommand}' for usage`;
  if (!isTdTokenError(err) && io.env['TD_TOKEN_DEBUG']) {
    text += `\n${err instanceof Error ? (err.stack ?? '') : ''}`;
  }
  io.stderr.write(`${scrub(text, list)}\n`);
  return code;
}
