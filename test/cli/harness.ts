/**
 * Running the built `td-token` as a real child process, in a temporary home with its own config
 * folder, and logging in to a sandbox the way a person would (through its forms) to get a token
 * file to work on.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuthorizationRequest, exchangeAuthorizationCode } from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import { SANDBOX_DEFAULT_APPS, type Sandbox } from '../../src/sandbox/index.js';
import { serializeTokenRecord, type TokenRecord } from '../../src/token.js';
import { auditEnv, logCliOutput } from '../helpers/output-log.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';

export type Flavor = 'tdameritrade' | 'schwab';

/** The built command line. */
export const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Fail early with the fix when the CLI has not been built. */
export function assertBuilt(): void {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} is missing: run 'npm run build' before these tests`);
  }
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to stdin, which is then closed. */
  input?: string;
  timeoutMs?: number;
}

/** A temporary home: `HOME`, `XDG_CONFIG_HOME` and a working folder, removed by `cleanup()`. */
export interface Home {
  root: string;
  home: string;
  configHome: string;
  /** `<configHome>/td-token` */
  configDir: string;
  cwd: string;
  /** The environment of a clean child: PATH and the folders above, nothing of ours. */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

export async function makeHome(): Promise<Home> {
  const root = await mkdtemp(join(tmpdir(), 'td-token-cli-'));
  const home = join(root, 'home');
  const configHome = join(root, 'config');
  const cwd = join(root, 'work');
  await Promise.all([mkdir(home), mkdir(configHome), mkdir(cwd)]);
  return {
    root,
    home,
    configHome,
    configDir: join(configHome, 'td-token'),
    cwd,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, XDG_CONFIG_HOME: configHome },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/** Run `node dist/cli/main.js ...args` and collect its output and exit code. */
export function runCli(
  args: readonly string[],
  home: Home,
  options: RunOptions = {},
): Promise<CliResult> {
  const env: Record<string, string> = { ...home.env };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: options.cwd ?? home.cwd,
    env: { ...auditEnv(), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  logCliOutput(child, args);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`td-token ${args.join(' ')} did not finish in time; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The flags that point td-token at a sandbox's default app. */
export function sandboxFlags(sandbox: Sandbox, flavor: Flavor): string[] {
  const app = SANDBOX_DEFAULT_APPS[flavor];
  const flags = [
    '--provider',
    flavor,
    '--client-id',
    app.clientId,
    '--redirect-uri',
    app.redirectUris[0] as string,
    '--authorize-url',
    sandbox.authorizeUrl,
    '--token-url',
    sandbox.tokenUrl,
    '--api-url',
    sandbox.apiUrl,
  ];
  if (app.clientSecret !== undefined) flags.push('--client-secret', app.clientSecret);
  return flags;
}

/** The same as environment variables. */
export function sandboxEnv(sandbox: Sandbox, flavor: Flavor): Record<string, string> {
  const app = SANDBOX_DEFAULT_APPS[flavor];
  const env: Record<string, string> = {
    TD_TOKEN_PROVIDER: flavor,
    TD_TOKEN_CLIENT_ID: app.clientId,
    TD_TOKEN_REDIRECT_URI: app.redirectUris[0] as string,
    TD_TOKEN_AUTHORIZE_URL: sandbox.authorizeUrl,
    TD_TOKEN_TOKEN_URL: sandbox.tokenUrl,
    TD_TOKEN_API_URL: sandbox.apiUrl,
  };
  if (app.clientSecret !== undefined) env['TD_TOKEN_CLIENT_SECRET'] = app.clientSecret;
  return env;
}

/** Log in to the sandbox through its forms (the real code grant) and return the record. */
export async function sandboxLogin(sandbox: Sandbox, flavor: Flavor): Promise<TokenRecord> {
  const app = SANDBOX_DEFAULT_APPS[flavor];
  const provider = createProvider(flavor, {
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri: app.redirectUris[0] as string,
    authorizeUrl: sandbox.authorizeUrl,
    tokenUrl: sandbox.tokenUrl,
    apiUrl: sandbox.apiUrl,
  });
  const request = createAuthorizationRequest(provider);
  const callback = await approveInSandbox(request.url);
  return exchangeAuthorizationCode(provider, callback, {
    expectedState: request.state,
    ...(request.codeVerifier === undefined ? {} : { codeVerifier: request.codeVerifier }),
    retry: false,
  });
}

/** Write a token file the way the file store does (0600 in a 0700 folder). */
export async function writeTokenFile(path: string, record: TokenRecord): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, serializeTokenRecord(record), { mode: 0o600 });
  await chmod(path, 0o600);
}

/** Read and parse a token file. */
export async function readTokenFile(path: string): Promise<TokenRecord> {
  return JSON.parse(await readFile(path, 'utf8')) as TokenRecord;
}

/** A running td-token child with its output so far; `stop()` kills it if still running. */
export interface RunningCli {
  child: import('node:child_process').ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolve with the first match of `pattern` in stdout or stderr (as they grow), or reject after `timeoutMs`. */
  waitFor(
    stream: 'stdout' | 'stderr',
    pattern: RegExp,
    timeoutMs?: number,
  ): Promise<RegExpExecArray>;
  exited: Promise<CliResult>;
  stop(): Promise<void>;
}

/** Start `node dist/cli/main.js ...args` and keep its stdin open. */
export function startCli(
  args: readonly string[],
  home: Home,
  options: Omit<RunOptions, 'input'> = {},
): RunningCli {
  const env: Record<string, string> = { ...home.env };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: options.cwd ?? home.cwd,
    env: { ...auditEnv(), ...env },
  });
  logCliOutput(child, args);
  const out = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  const poke = () => {
    for (const w of [...waiters]) w();
  };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out.stdout += d;
    poke();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out.stderr += d;
    poke();
  });
  const exited = new Promise<CliResult>((resolve) => {
    child.once('close', (code, signal) => {
      resolve({ code, signal, stdout: out.stdout, stderr: out.stderr });
      poke();
    });
  });
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    exited,
    waitFor(stream, pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out[stream]);
          if (m) {
            cleanup();
            resolve(m);
          } else if (done) {
            cleanup();
            reject(
              new Error(
                `td-token exited before ${pattern} appeared on ${stream}; stderr: ${out.stderr}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(`${pattern} did not appear on ${stream} in time; stderr: ${out.stderr}`),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
