/**
 * The test side of the suite-wide secret scan (test/run-suite.mjs): every child process a test
 * starts has its output appended to the file named by `TD_TOKEN_TEST_OUTPUT_LOG`, and gets
 * `TD_TOKEN_SANDBOX_LEDGER` so that a sandbox running inside it records what it issues.
 *
 * Left out of the log, because printing a token is their job: the stdout of `td-token token`,
 * of `td-token export` without `--out`, and of `td-token status --show-token` (and its stderr
 * without `--json`, where the text report goes).
 *
 * Nothing happens when the variables are unset (a bare `vitest run`).
 */
import type { ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';

/** Names the file every child's output is appended to. */
export const OUTPUT_LOG_ENV = 'TD_TOKEN_TEST_OUTPUT_LOG';
/** Names the file the sandbox appends every issued code and token to. */
export const LEDGER_ENV = 'TD_TOKEN_SANDBOX_LEDGER';

const COMMANDS = new Set([
  'login',
  'token',
  'refresh',
  'status',
  'logout',
  'export',
  'watch',
  'sandbox',
  'cert',
  'serve',
  'import',
  'doctor',
]);

/**
 * What a child needs from the audit: the ledger variable, when set. Merge it into the clean
 * environments the harnesses build.
 */
export function auditEnv(): Record<string, string> {
  const ledger = process.env[LEDGER_ENV];
  return ledger ? { [LEDGER_ENV]: ledger } : {};
}

/** Which streams of `td-token ...args` carry tokens by design (and so stay out of the log). */
export function tokenStreams(args: readonly string[]): { stdout: boolean; stderr: boolean } {
  const command = args.find((a) => COMMANDS.has(a));
  const has = (flag: string) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
  switch (command) {
    case 'token':
      return { stdout: true, stderr: false };
    case 'export':
      return { stdout: !has('--out'), stderr: false };
    case 'status':
      return has('--show-token')
        ? { stdout: true, stderr: !has('--json') }
        : { stdout: false, stderr: false };
    default:
      return { stdout: false, stderr: false };
  }
}

/**
 * Append what `child` prints to the output log once it closes, under a header naming it.
 * `skip` leaves out a stream that carries tokens by design.
 */
export function logChildOutput(
  child: ChildProcess,
  label: string,
  skip: { stdout?: boolean; stderr?: boolean } = {},
): void {
  const path = process.env[OUTPUT_LOG_ENV];
  if (!path) return;
  const chunks: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
  for (const name of ['stdout', 'stderr'] as const) {
    if (skip[name]) continue;
    child[name]?.on('data', (chunk: Buffer | string) => {
      chunks[name].push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    });
  }
  child.once('close', () => {
    const parts: Buffer[] = [];
    for (const name of ['stdout', 'stderr'] as const) {
      if (skip[name]) continue;
      parts.push(Buffer.from(`\n--- ${label} (pid ${child.pid ?? '?'}) ${name} ---\n`, 'utf8'));
      parts.push(...chunks[name]);
    }
    parts.push(Buffer.from(`\n--- end of ${label} (pid ${child.pid ?? '?'}) ---\n`, 'utf8'));
    try {
      appendFileSync(path, Buffer.concat(parts));
    } catch {
      // The log is an audit aid; a test must not fail because it could not be written.
    }
  });
}

/** {@link logChildOutput} for `td-token ...args`, leaving out the streams that print tokens. */
export function logCliOutput(child: ChildProcess, args: readonly string[]): void {
  const command = args.find((a) => COMMANDS.has(a)) ?? args[0] ?? '';
  logChildOutput(child, `td-token ${command}`, tokenStreams(args));
}
