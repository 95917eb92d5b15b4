/**
 * Drives many real token-manager processes (fixtures/child.mjs, on the built library) against
 * one sandbox and one shared store.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TokenManagerOptions } from '../../src/manager.js';
import type { Sandbox } from '../../src/sandbox/index.js';
import { SANDBOX_DEFAULT_APPS } from '../../src/sandbox/index.js';
import type { StoreSpec } from '../../src/stores/index.js';
import { logChildOutput } from '../helpers/output-log.js';

const here = dirname(fileURLToPath(import.meta.url));
export const DIST = resolve(here, '../../dist');
const CHILD = join(here, 'fixtures', 'child.mjs');

/** Fail early, with the fix, when the library has not been built. */
export function assertBuilt(): void {
  if (!existsSync(join(DIST, 'manager.js')) || !existsSync(join(DIST, 'stores', 'index.js'))) {
    throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` before these tests');
  }
}

/** The hash the children print instead of a token. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

export interface Answer {
  id: number;
  token?: string;
  error?: string;
  message?: string;
  ms?: number;
  /** When the child began and finished this ask (its Date.now()). */
  startedAt?: number;
  finishedAt?: number;
  /** The child refreshed and saved the token itself (its manager's `refresh` event). */
  refreshed?: boolean;
  /** ... and that refresh renewed the refresh token. */
  renewed?: boolean;
}

export interface Child {
  pid: number;
  process: ChildProcessWithoutNullStreams;
  /** Ask for a token with the clock at `offset` ms from the real one; resolves with the answer. */
  ask(id: number, offset: number): Promise<Answer>;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /**
   * Resolves when the child (started with `stallTokenRequests`) is about to send a request to the
   * token endpoint, which it never sends.
   */
  stalled: Promise<void>;
}

function startChild(env: NodeJS.ProcessEnv, readyTimeoutMs: number): Promise<Child> {
  const child = spawn(process.execPath, [CHILD], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  logChildOutput(child, 'stampede process');
  const exited = new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once('exit', () => done());
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < 8000) stderr += chunk;
  });
  const waiting = new Map<number, (answer: Answer) => void>();
  let onReady: (() => void) | undefined;
  let onStalled: (() => void) | undefined;
  const stalled = new Promise<void>((done) => {
    onStalled = done;
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const message = JSON.parse(line) as Answer & { ready?: boolean; stalled?: boolean };
    if (message.ready) onReady?.();
    else if (message.stalled) onStalled?.();
    else waiting.get(message.id)?.(message);
  });
  return new Promise<Child>((resolveChild, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`a stampede process did not start within ${readyTimeoutMs} ms: ${stderr}`));
    }, readyTimeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`a stampede process exited (${code}) before it was ready: ${stderr}`));
    });
    onReady = () => {
      clearTimeout(timer);
      resolveChild({
        pid: child.pid!,
        process: child,
        exited,
        stalled,
        ask(id, offset) {
          return new Promise<Answer>((done, fail) => {
            const onExit = () => fail(new Error(`process ${child.pid} exited: ${stderr}`));
            child.once('exit', onExit);
            waiting.set(id, (answer) => {
              child.off('exit', onExit);
              waiting.delete(id);
              done(answer);
            });
            child.stdin.write(`${JSON.stringify({ id, offset })}\n`);
          });
        },
      });
    };
  });
}

export interface FleetOptions {
  sandbox: Sandbox;
  flavor: 'tdameritrade' | 'schwab';
  store: StoreSpec;
  manager?: Omit<TokenManagerOptions, 'now' | 'fetch'>;
  /** The children's requests to the token endpoint never leave them (see `Child.stalled`). */
  stallTokenRequests?: boolean;
}

/** Start `count` processes, at most a few at a time (2 cores), each ready for its first ask. */
export async function startFleet(count: number, options: FleetOptions): Promise<Child[]> {
  assertBuilt();
  const app = SANDBOX_DEFAULT_APPS[options.flavor];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TD_STAMPEDE_DIST: DIST,
    TD_STAMPEDE_PROVIDER: JSON.stringify({
      name: options.flavor,
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      redirectUri: app.redirectUris[0],
      authorizeUrl: options.sandbox.authorizeUrl,
      tokenUrl: options.sandbox.tokenUrl,
      apiUrl: options.sandbox.apiUrl,
    }),
    TD_STAMPEDE_STORE: JSON.stringify(options.store),
    TD_STAMPEDE_MANAGER: JSON.stringify({ retry: false, ...options.manager }),
    TD_STAMPEDE_STALL: options.stallTokenRequests ? '1' : '0',
  };
  const children: Child[] = [];
  try {
    for (let i = 0; i < count; i += 8) {
      const batch = Math.min(8, count - i);
      const started = await Promise.allSettled(
        Array.from({ length: batch }, () => startChild(env, 30_000)),
      );
      for (const s of started) if (s.status === 'fulfilled') children.push(s.value);
      const failed = started.find((s) => s.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    }
  } catch (err) {
    await stopFleet(children);
    throw err;
  }
  return children;
}

/** Kill every process by its pid and wait for all to exit. */
export async function stopFleet(children: readonly Child[]): Promise<void> {
  for (const child of children) {
    if (child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGKILL');
    }
  }
  await Promise.all(children.map((c) => c.exited));
}

let nextId = 1;

/** Ask every child for a token at the sandbox's current time, all at once. */
export function askAll(children: readonly Child[], sandbox: Sandbox): Promise<Answer[]> {
  const id = nextId++;
  const offset = sandbox.clock.now() - Date.now();
  return Promise.all(children.map((c) => c.ask(id, offset)));
}
