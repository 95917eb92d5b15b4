/**
 * Running `td-token` commands inside the test process: `main(argv, io, deps)` with in-memory
 * streams, the temporary home's environment, and a world of the test's choosing (a sandbox
 * started here with its movable clock and fault injection, the sandbox's clock as the command's
 * clock). Fast, and the same code as the built command; the spawn tests keep exit codes, signals,
 * stdout draining and start-up honest.
 */

import { appendFileSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { expect } from 'vitest';
import { main } from '../../src/cli/run.js';
import type { CliDeps } from '../../src/cli/world.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { OUTPUT_LOG_ENV, tokenStreams } from '../helpers/output-log.js';
import type { CliResult, Home, RunOptions } from './harness.js';

/** Options of {@link runInProcess}: the spawn harness's, plus the world. */
export interface InProcessOptions extends RunOptions {
  deps?: Partial<CliDeps>;
}

function collect(stream: PassThrough): () => string {
  let text = '';
  stream.setEncoding('utf8').on('data', (d: string) => {
    text += d;
  });
  return () => text;
}

function logOutput(args: readonly string[], stdout: string, stderr: string): void {
  const path = process.env[OUTPUT_LOG_ENV];
  if (!path) return;
  const skip = tokenStreams(args);
  const label = `td-token ${args.join(' ').slice(0, 40)} (in-process)`;
  let text = '';
  if (!skip.stdout) text += `\n--- ${label} stdout ---\n${stdout}`;
  if (!skip.stderr) text += `\n--- ${label} stderr ---\n${stderr}`;
  try {
    appendFileSync(path, `${text}\n--- end of ${label} ---\n`);
  } catch {
    // The log is an audit aid; a test must not fail because it could not be written.
  }
}

/** Run `td-token ...args` in this process, in `home`, and collect its output and exit code. */
export async function runInProcess(
  args: readonly string[],
  home: Home,
  options: InProcessOptions = {},
): Promise<CliResult> {
  const env: Record<string, string> = { ...home.env };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  const code = await main(
    args,
    {
      stdout,
      stderr,
      stdin: Readable.from(options.input === undefined ? [] : [options.input]),
      env,
      cwd: options.cwd ?? home.cwd,
      isTTY: false,
    },
    options.deps ?? {},
  );
  stdout.end();
  stderr.end();
  await new Promise((resolve) => setImmediate(resolve));
  logOutput(args, out(), err());
  return { code, signal: null, stdout: out(), stderr: err() };
}

/** A world whose clock is the sandbox's (move it with `sandbox.clock.advance`). */
export function sandboxClock(sandbox: Sandbox): Partial<CliDeps> {
  return { now: () => sandbox.clock.now() };
}

/**
 * A world where a command that starts a sandbox for a `sandbox-*` provider gets `sandbox`
 * instead (left running when the command ends), with the sandbox's clock.
 */
export function withSandbox(sandbox: Sandbox): Partial<CliDeps> {
  const kept: Sandbox = Object.create(sandbox, { close: { value: async () => {} } });
  return {
    ...sandboxClock(sandbox),
    startSandbox: async () => ({ sandbox: kept, ownApp: undefined }),
  };
}

/**
 * A refused refresh keeps every stored field as it was (the refresh token above all) and only
 * adds the refusal mark that other processes read.
 */
export function expectKeptAndMarkedRefused(before: string, after: string): void {
  const was = JSON.parse(before) as Record<string, unknown>;
  const now = JSON.parse(after) as Record<string, unknown>;
  expect(now['refresh_token_refused_at']).toEqual(expect.any(Number));
  const { refresh_token_refused_at: _mark, ...rest } = now;
  expect(rest).toEqual(was);
}
