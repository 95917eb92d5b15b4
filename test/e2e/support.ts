/**
 * Running the built `td-token` command as a child process in a throwaway home folder, and
 * driving the sandbox's login pages in Chromium.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { auditEnv, logCliOutput } from '../helpers/output-log.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/** Fail early, and clearly, when the build is missing. */
export function assertBuilt(): void {
  if (!existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run 'npm run build' before the end-to-end tests`);
  }
}

/** An environment with nothing of the user's: home and config inside `dir`. */
export function isolatedEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    LANG: 'C.UTF-8',
    ...extra,
  };
}

/** A child process whose output is collected as it comes. */
export interface Child {
  process: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or 128 + signal number style code for a signal). */
  exit: Promise<number>;
  /** Resolves with the first match of `pattern` on stderr; rejects after `timeoutMs` or on exit. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Kill it if it still runs (afterEach). */
  stop(): Promise<void>;
}

/** Start `node dist/cli/main.js ...args`. */
export function startCli(args: string[], options: { env: NodeJS.ProcessEnv; cwd: string }): Child {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...auditEnv(), ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  logCliOutput(child, args);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
    for (const wake of waiters) wake();
  });
  let exited = false;
  const exit = new Promise<number>((resolveExit) => {
    child.on('close', (code, signal) => {
      exited = true;
      for (const wake of waiters) wake();
      resolveExit(code ?? (signal ? 128 : 1));
    });
  });
  return {
    process: child,
    stdout: () => out,
    stderr: () => err,
    exit,
    waitForStderr(pattern, timeoutMs = 20_000) {
      return new Promise((resolveMatch, reject) => {
        const check = () => {
          const match = pattern.exec(err);
          if (match) {
            done();
            resolveMatch(match);
          } else if (exited) {
            done();
            reject(new Error(`the command exited before printing ${pattern}; stderr:\n${err}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} on stderr within ${timeoutMs} ms; stderr:\n${err}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (!exited) {
        child.kill('SIGKILL');
        await exit;
      }
    },
  };
}

/** Run a command to the end; stdin gets `input` (or is closed at once). */
export async function runCli(
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd: string; input?: string },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = startCli(args, options);
  child.process.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 25_000);
  try {
    const code = await child.exit;
    return { code, stdout: child.stdout(), stderr: child.stderr() };
  } finally {
    clearTimeout(timer);
  }
}

/** On the sandbox's login page: type a user and password and press "Log in". */
export async function signInToSandbox(page: Page): Promise<void> {
  await page.locator('input[name=username]').waitFor();
  await page.fill('input[name=username]', 'e2e-user');
  await page.fill('input[name=password]', 'e2e-password');
  await page.click('button#login, #login');
  await page.locator('#allow').waitFor();
}

/**
 * What a person does: open the address `td-token login` printed (`<origin>/login?secret=...`),
 * sign in to the sandbox, press Allow (or Deny), and wait for the login server's result page.
 */
export async function loginThroughBrowser(
  page: Page,
  loginUrl: string,
  choice: 'allow' | 'deny' = 'allow',
): Promise<void> {
  await page.goto(loginUrl);
  await signInToSandbox(page);
  await page.click(choice === 'allow' ? '#allow' : '#deny');
  await page.locator('#result').waitFor();
}

/** The six fields of the seed-era token.json, in its order. */
export { SEED_FIELDS } from '../../src/token.js';
