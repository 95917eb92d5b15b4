/**
 * A pluggable login step (`--auth-command CMD`): td-token makes the authorization request, runs
 * CMD through the shell with the authorization URL in `TD_TOKEN_AUTH_URL` and on its standard
 * input, and takes the first line of its standard output that is a callback URL (the address
 * the browser was redirected to). CMD can be anything a person wires up: a script that messages
 * them and waits for the answer, a browser automation, a prompt on another machine.
 *
 * CMD runs in a process group of its own, for a bounded time (default 5 minutes); when the time
 * is up, or the login is cancelled, the whole group is stopped. Its standard error goes to ours
 * so it can talk to the person. Its environment is ours without td-token's secrets
 * (`TD_TOKEN_PASSPHRASE`, `TD_TOKEN_CLIENT_SECRET`, see `childEnv`).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { CallbackError, TdTokenError } from '../errors.js';
import {
  cleanPastedText,
  createAuthorizationRequest,
  exchangeAuthorizationCode,
  looksLikeCallbackUrl,
} from '../oauth/index.js';
import type { Provider } from '../providers/types.js';
import type { TokenRecord } from '../token.js';
import { childEnv } from '../util/child-env.js';

/** The variable CMD finds the authorization URL in. */
export const AUTH_URL_ENV = 'TD_TOKEN_AUTH_URL';

/** How long CMD may take by default. */
export const DEFAULT_AUTH_COMMAND_TIMEOUT_MS = 5 * 60_000;

/** The most of CMD's standard output read. */
const MAX_OUTPUT_BYTES = 64 * 1024;

/** How long CMD may keep running after it printed the callback URL before it is stopped. */
const AFTER_URL_GRACE_MS = 1000;

/** How long a stopped CMD gets between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 2000;

/** Options of {@link runAuthCommand}. */
export interface AuthCommandOptions {
  /** The environment CMD starts from (default `process.env`); secrets are removed (`childEnv`). */
  env?: NodeJS.ProcessEnv | undefined;
  cwd?: string | undefined;
  /** Give up after this many ms (default 5 minutes). */
  timeoutMs?: number | undefined;
  /** Where CMD's standard error goes (default ours). */
  stderr?: NodeJS.WritableStream | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Runs `command` with `authorizationUrl` and resolves with the callback URL it printed.
 *
 * @throws CallbackError `missing_code` when CMD ends without printing a callback URL (its exit
 *   status named); TdTokenError `login_timeout` when it takes too long.
 */
export function runAuthCommand(
  command: string,
  authorizationUrl: string,
  options: AuthCommandOptions = {},
): Promise<string> {
  if (typeof command !== 'string' || command.trim() === '') {
    throw new TypeError('"command" must be a non-empty string');
  }
  if (typeof authorizationUrl !== 'string' || !URL.canParse(authorizationUrl)) {
    throw new TypeError('"authorizationUrl" must be a URL');
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_AUTH_COMMAND_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError('"options.timeoutMs" must be a positive number');
  }
  options.signal?.throwIfAborted();
  const posix = process.platform !== 'win32';
  const child = spawn(command, {
    shell: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...childEnv(options.env ?? process.env), [AUTH_URL_ENV]: authorizationUrl },
    cwd: options.cwd,
    detached: posix,
  });
  let exited = false;
  const timers = new Set<NodeJS.Timeout>();
  const kill = (signal: NodeJS.Signals): void => {
    if (exited) return;
    try {
      if (posix && child.pid !== undefined) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // Already gone.
    }
  };
  const later = (fn: () => void, ms: number): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };
  const stop = (): void => {
    kill('SIGTERM');
    later(() => kill('SIGKILL'), STOP_GRACE_MS);
  };
  child.once('close', () => {
    exited = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  });
  child.stdin.on('error', () => undefined);
  child.stdin.end(`${authorizationUrl}\n`);
  child.stderr.pipe(options.stderr ?? process.stderr, { end: false });

  return new Promise<string>((resolve, reject) => {
    let finished = false;
    let output = '';
    let size = 0;
    const finish = (outcome: { url: string } | { error: unknown }): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if ('url' in outcome) {
        if (!exited) later(stop, AFTER_URL_GRACE_MS);
        resolve(outcome.url);
      } else {
        stop();
        reject(outcome.error);
      }
    };
    const timer = setTimeout(() => {
      finish({
        error: new TdTokenError(
          'login_timeout',
          `the --auth-command did not print the callback URL within ${Math.round(timeoutMs / 1000)} s, so it was stopped. make it print the address the browser ended on sooner, or give more time with --timeout`,
        ),
      });
    }, timeoutMs);
    function onAbort(): void {
      finish({ error: options.signal?.reason });
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const takeLines = (final: boolean): void => {
      const lines = output.split(/\r?\n/);
      const rest = final ? '' : (lines.pop() ?? '');
      for (const line of lines) {
        const text = cleanPastedText(line);
        if (text !== '' && looksLikeCallbackUrl(text)) {
          finish({ url: text });
          return;
        }
      }
      output = rest;
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (finished) return;
      size += Buffer.byteLength(chunk);
      if (size > MAX_OUTPUT_BYTES) {
        finish({
          error: new CallbackError(
            'missing_code',
            `the --auth-command printed more than ${MAX_OUTPUT_BYTES / 1024} KiB without a callback URL. make it print only the address the browser ended on`,
          ),
        });
        return;
      }
      output += chunk;
      takeLines(false);
    });
    child.once('error', (error) => {
      exited = true;
      finish({
        error: new CallbackError(
          'missing_code',
          `the --auth-command could not be started (${error.message}). check the command`,
          { cause: error },
        ),
      });
    });
    child.once('close', (code, signal) => {
      exited = true;
      if (finished) return;
      takeLines(true);
      if (finished) return;
      const how = signal === null ? `exit status ${code}` : `signal ${signal}`;
      finish({
        error: new CallbackError(
          'missing_code',
          `the --auth-command ended (${how}) without printing a callback URL. it must print the address the browser was redirected to (starting with https://) on its standard output`,
        ),
      });
    });
  });
}

/** Options of {@link remoteLogin}. */
export interface RemoteLoginOptions extends AuthCommandOptions {
  /** The command to run (see the module note). */
  command: string;
  fetch?: typeof fetch | undefined;
}

/**
 * Logs in through `options.command`: makes the authorization request, runs the command, checks
 * the callback URL it printed against this login's state, and exchanges the code.
 *
 * @example
 * const record = await remoteLogin(provider, { command: './ask-me-on-my-phone.sh' });
 */
export async function remoteLogin(
  provider: Provider,
  options: RemoteLoginOptions,
): Promise<TokenRecord> {
  if (
    typeof provider !== 'object' ||
    provider === null ||
    typeof provider.redirectUri !== 'string'
  ) {
    throw new TypeError('"provider" must be a Provider');
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('"options" must be an object with a command');
  }
  const request = createAuthorizationRequest(provider);
  const callbackUrl = await runAuthCommand(options.command, request.url.href, options);
  const grant: Parameters<typeof exchangeAuthorizationCode>[2] = { expectedState: request.state };
  if (request.codeVerifier !== undefined) grant.codeVerifier = request.codeVerifier;
  if (options.fetch !== undefined) grant.fetch = options.fetch;
  if (options.signal !== undefined) grant.signal = options.signal;
  return exchangeAuthorizationCode(provider, callbackUrl, grant);
}

/** The most read from standard input for `--callback-url -`. */
const MAX_INPUT_BYTES = 64 * 1024;

/**
 * The first non-empty line of `input` (standard input for `--callback-url -`), read to its end
 * (at most 64 KiB); what a paste adds around it (spaces, quotes) is removed.
 *
 * @throws CallbackError `missing_code` when the input is empty or too long.
 */
export async function readCallbackInput(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    if (text.length > MAX_INPUT_BYTES) {
      throw new CallbackError(
        'missing_code',
        'standard input holds more than 64 KiB: give only the address the browser ended on',
      );
    }
  }
  const line = text
    .split(/\r?\n/)
    .map(cleanPastedText)
    .find((l) => l !== '');
  if (line === undefined) {
    throw new CallbackError(
      'missing_code',
      "standard input was empty. paste the address the browser ended on, or give it as --callback-url 'URL'",
    );
  }
  return line;
}
