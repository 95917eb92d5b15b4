/**
 * What every command gets and gives back: its input and output streams, environment and working
 * folder as values (so tests can run a command in-process), and an exit code.
 *
 * @internal
 * @module
 */
import type { ParseArgsConfig } from 'node:util';
import type { CommandContext } from './world.js';

/** A command's world. `stdout` is for data, `stderr` for people. */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Whether a person is at a terminal (standard input and error are TTYs). */
  isTTY: boolean;
  /** Aborts on SIGINT / SIGTERM for the long-running commands (`login`, `sandbox`, `watch`). */
  signal?: AbortSignal | undefined;
}

/** Parsed flags by long name, and positional arguments. */
export interface CommandArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** The option table `util.parseArgs` takes. */
export type OptionTable = NonNullable<ParseArgsConfig['options']>;

/** How a command is called and described. */
export interface CommandSpec {
  name: string;
  /** One line for `td-token --help`. */
  summary: string;
  /** The usage line(s), without the leading `usage: `. */
  usage: string;
  /** The command's own flags (the global ones are added by the parser). */
  options: OptionTable;
  /** Help text after the usage line: what it does, its flags, exit codes. */
  help: string;
  /** True when the command runs until stopped and wants SIGINT/SIGTERM as `io.signal`. */
  handlesSignals?: boolean;
}

/**
 * A command: never exits the process; returns the exit code (or throws an error `main` reports).
 * `cli` is its world: the dependencies it reaches, the secrets it has seen, the login command.
 */
export type CommandRun = (io: CliIO, args: CommandArgs, cli: CommandContext) => Promise<number>;

/** What each file in `commands/` exports. */
export interface CommandModule {
  spec: CommandSpec;
  run: CommandRun;
}

/** Exit codes shared by every command. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  loginRequired: 3,
} as const;

/** Write one line for people to stderr. */
export function say(io: CliIO, line: string): void {
  io.stderr.write(`${line}\n`);
}

/** A warning line for people. */
export function warn(io: CliIO, message: string): void {
  io.stderr.write(`td-token: warning: ${message}\n`);
}
