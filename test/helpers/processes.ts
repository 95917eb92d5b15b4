/**
 * Real child processes for tests: spawn a Node script (or any command), collect its stdout,
 * stderr and exit, wait for a line it prints, and kill it by pid on cleanup.
 *
 * @example
 * const child = spawnNode('fixtures/worker.mjs', ['--n', '3']);
 * const ready = await child.waitForLine((line) => line.includes('"ready"'), 5000);
 * const result = await child.exited;
 * // in afterEach/afterAll: await stopAll();
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { basename } from 'node:path';
import { logChildOutput } from './output-log.js';

/** How a process ended and what it printed. */
export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running child process. */
export interface Spawned {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything printed to stdout so far. */
  stdout(): string;
  /** Everything printed to stderr so far. */
  stderr(): string;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ProcessResult>;
  /**
   * Resolves with the first stdout line (already printed or to come) that matches; rejects if
   * the process exits first or `timeoutMs` passes.
   */
  waitForLine(match: RegExp | ((line: string) => boolean), timeoutMs: number): Promise<string>;
  /** Send a signal to the process by its pid (default SIGKILL); harmless once it has exited. */
  kill(signal?: NodeJS.Signals): void;
  /** Kill (SIGKILL) and wait for the exit. */
  stop(): Promise<ProcessResult>;
}

/** Options for {@link spawnProcess}. */
export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed. Default: stdin closed at once. */
  input?: string;
  /** Keep stdin open (for scripts driven line by line). */
  keepStdinOpen?: boolean;
  /** Kill the process (SIGKILL) if it runs longer than this, ms. Default 60 000. */
  timeoutMs?: number;
  /** Leave it out of {@link stopAll} (for servers a test file stops itself). */
  untracked?: boolean;
}

const running = new Set<Spawned>();

/** Spawn any command with arguments. Tracked until it exits; see {@link stopAll}. */
export function spawnProcess(
  command: string,
  args: readonly string[] = [],
  options: SpawnOptions = {},
): Spawned {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // For the suite's secret scan; the label names the program, never its arguments.
  const script = args[0] !== undefined && /\.[cm]?js$/.test(args[0]) ? ` ${basename(args[0])}` : '';
  logChildOutput(child, `${basename(command)}${script}`);
  let out = '';
  let err = '';
  const lineWaiters = new Set<(line: string) => void>();
  let partial = '';
  const lines: string[] = [];
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    let index = partial.indexOf('\n');
    while (index >= 0) {
      const line = partial.slice(0, index);
      partial = partial.slice(index + 1);
      lines.push(line);
      for (const waiter of [...lineWaiters]) waiter(line);
      index = partial.indexOf('\n');
    }
  });
  child.stderr?.on('data', (chunk: string) => {
    err += chunk;
  });
  child.stdin?.on('error', () => undefined);
  if (options.input !== undefined) child.stdin?.end(options.input);
  else if (!options.keepStdinOpen) child.stdin?.end();

  const timeoutMs = options.timeoutMs ?? 60_000;
  const exited = new Promise<ProcessResult>((resolve) => {
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      running.delete(spawned);
      resolve({ code, signal, stdout: out, stderr: err });
    };
    const timer = setTimeout(() => {
      err += `\n[killed after ${timeoutMs} ms]`;
      spawned.kill('SIGKILL');
    }, timeoutMs);
    child.once('close', finish);
    child.once('error', (error) => {
      err += `\n[${error.message}]`;
      finish(null, null);
    });
  });

  const spawned: Spawned = {
    pid: child.pid ?? -1,
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLine(match, waitMs) {
      const test = typeof match === 'function' ? match : (line: string) => match.test(line);
      const already = lines.find(test);
      if (already !== undefined) return Promise.resolve(already);
      return new Promise<string>((resolve, reject) => {
        const cleanup = () => {
          clearTimeout(timer);
          lineWaiters.delete(onLine);
        };
        const onLine = (line: string) => {
          if (!test(line)) return;
          cleanup();
          resolve(line);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching line within ${waitMs} ms; stdout: ${out} stderr: ${err}`));
        }, waitMs);
        lineWaiters.add(onLine);
        exited.then((result) => {
          if (!lineWaiters.has(onLine)) return;
          cleanup();
          reject(
            new Error(
              `the process exited (${result.code ?? result.signal}) before printing a matching line; stdout: ${out} stderr: ${err}`,
            ),
          );
        });
      });
    },
    kill(signal = 'SIGKILL') {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(child.pid, signal);
      } catch {
        // already gone
      }
    },
    async stop() {
      spawned.kill('SIGKILL');
      return exited;
    },
  };
  if (child.pid !== undefined && !options.untracked) running.add(spawned);
  return spawned;
}

/** Spawn `node <script> ...args` with this process's Node.js. */
export function spawnNode(
  script: string,
  args: readonly string[] = [],
  options: SpawnOptions = {},
): Spawned {
  return spawnProcess(process.execPath, [script, ...args], options);
}

/** Run `node <script> ...args` to the end. */
export function runNode(
  script: string,
  args: readonly string[] = [],
  options: SpawnOptions = {},
): Promise<ProcessResult> {
  return spawnNode(script, args, options).exited;
}

/** Kill (SIGKILL, by pid) every process spawned here that is still running, and wait for them. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}
