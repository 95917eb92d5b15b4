/**
 * Running a shell command td-token was given (`exec:` targets, `--on-relogin`): in a process
 * group of its own, with td-token's secrets taken out of its environment, bounded in time, and
 * stopped with whatever it started.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { childEnv } from '../util/child-env.js';

/** How long a stopped command gets between SIGTERM and SIGKILL. */
export const COMMAND_STOP_GRACE_MS = 2000;

/** How a command ended. */
export interface CommandResult {
  code: number | null;
  signal: string | null;
  error?: string;
  /** True when `stop` aborted it. */
  stopped?: boolean;
}

/**
 * Run `command` through the shell in a process group of its own, so that stopping it reaches
 * whatever it started too: SIGKILL after `timeoutMs`; when `stop` aborts, SIGTERM at once and
 * SIGKILL after a grace period. Its environment is this process's minus td-token's secrets
 * ({@link childEnv}), plus `env`; `input`, when given, is written to its stdin.
 */
export function runCommand(
  command: string,
  env: Record<string, string>,
  timeoutMs: number,
  stop: AbortSignal | undefined,
  input?: string,
): Promise<CommandResult> {
  return new Promise((resolve) => {
    if (stop?.aborted) {
      resolve({ code: null, signal: null, stopped: true });
      return;
    }
    const posix = process.platform !== 'win32';
    const child = spawn(command, {
      shell: true,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'ignore'],
      env: childEnv(process.env, env),
      detached: posix,
    });
    if (input !== undefined) {
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(input);
    }
    let stopped = false;
    let grace: NodeJS.Timeout | undefined;
    const kill = (signal: NodeJS.Signals): void => {
      try {
        if (posix && child.pid !== undefined) process.kill(-child.pid, signal);
        else child.kill(signal);
      } catch {
        // Already gone.
      }
    };
    const onStop = (): void => {
      stopped = true;
      kill('SIGTERM');
      grace = setTimeout(() => kill('SIGKILL'), COMMAND_STOP_GRACE_MS);
    };
    const timer = setTimeout(() => kill('SIGKILL'), timeoutMs);
    stop?.addEventListener('abort', onStop, { once: true });
    const done = (result: CommandResult): void => {
      clearTimeout(timer);
      if (grace !== undefined) clearTimeout(grace);
      stop?.removeEventListener('abort', onStop);
      resolve(stopped ? { ...result, stopped } : result);
    };
    child.once('error', (err) => done({ code: null, signal: null, error: err.message }));
    child.once('exit', (code, signal) => {
      // Whatever the command left running in its group goes with it.
      if (stopped) kill('SIGKILL');
      done({ code, signal });
    });
  });
}
