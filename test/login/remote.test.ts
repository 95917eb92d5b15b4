/**
 * `--auth-command` as a library: a real shell command is given the authorization URL (in
 * TD_TOKEN_AUTH_URL and on stdin), logs in to the real sandbox, and prints the callback URL; its
 * environment carries none of td-token's secrets; a command that prints nothing, prints a foreign
 * URL, or takes too long is a clear error, and a slow one is stopped with what it started.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTdTokenError } from '../../src/errors.js';
import { readCallbackInput, remoteLogin, runAuthCommand } from '../../src/login/remote.js';
import { createProvider } from '../../src/providers/index.js';
import type { Provider } from '../../src/providers/types.js';
import { SANDBOX_DEFAULT_APPS, type Sandbox, startSandbox } from '../../src/sandbox/index.js';

const APPROVE = fileURLToPath(new URL('../sandbox/fixtures/approve-command.mjs', import.meta.url));
const COMMAND = `"${process.execPath}" "${APPROVE}"`;

let sandbox: Sandbox;
let provider: Provider;
let root: string;

beforeAll(async () => {
  sandbox = await startSandbox({ flavor: 'schwab' });
  const app = SANDBOX_DEFAULT_APPS.schwab;
  provider = createProvider('schwab', {
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri: app.redirectUris[0] as string,
    authorizeUrl: sandbox.authorizeUrl,
    tokenUrl: sandbox.tokenUrl,
    apiUrl: sandbox.apiUrl,
  });
  root = await mkdtemp(join(tmpdir(), 'td-token-remote-'));
});
afterAll(async () => {
  await sandbox.close();
  await rm(root, { recursive: true, force: true });
});

/** A stream that collects what is written to it. */
function sink(): NodeJS.WritableStream & { text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return Object.assign(stream, { text: () => text });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('remoteLogin', () => {
  it('logs in through the command; it gets the URL both ways and none of our secrets', async () => {
    const report = join(root, 'report.json');
    const stderr = sink();
    const record = await remoteLogin(provider, {
      command: COMMAND,
      env: {
        PATH: process.env['PATH'],
        APPROVE_REPORT: report,
        TD_TOKEN_PASSPHRASE: 'never-in-a-child-1',
        TD_TOKEN_CLIENT_SECRET: 'never-in-a-child-2',
      },
      stderr,
    });
    expect(record.access_token).toMatch(/\S/);
    const seen = JSON.parse(await readFile(report, 'utf8')) as Record<string, unknown>;
    expect(seen['envUrl']).toBe(seen['stdinUrl']);
    expect(String(seen['envUrl']).startsWith(sandbox.authorizeUrl)).toBe(true);
    expect(seen['hasPassphrase']).toBe(false);
    expect(seen['hasClientSecret']).toBe(false);
    expect(stderr.text()).toContain('approve-command: logging in to the sandbox');
  });

  it("a callback of another login (foreign state) is refused and the code isn't sent", async () => {
    sandbox.resetCounters();
    const error = await remoteLogin(provider, {
      command: COMMAND,
      env: {
        PATH: process.env['PATH'],
        APPROVE_PRINT: 'https://127.0.0.1:8182/?code=C0.x%40&state=other',
      },
      stderr: sink(),
    }).catch((e: unknown) => e);
    expect(isTdTokenError(error, 'state_mismatch')).toBe(true);
    expect(sandbox.counters().token.total).toBe(0);
  });

  it('Deny at the provider is reported as a refusal', async () => {
    const error = await remoteLogin(provider, {
      command: COMMAND,
      env: { PATH: process.env['PATH'], APPROVE_DENY: '1' },
      stderr: sink(),
    }).catch((e: unknown) => e);
    expect(isTdTokenError(error, 'access_denied')).toBe(true);
  });
});

describe('runAuthCommand', () => {
  const url = 'https://example.invalid/authorize?state=s';

  it('a command that ends without a callback URL: its exit status is named', async () => {
    const error = await runAuthCommand('echo not a url; exit 3', url, { stderr: sink() }).catch(
      (e: unknown) => e,
    );
    expect(isTdTokenError(error, 'missing_code')).toBe(true);
    expect((error as Error).message).toMatch(
      /ended \(exit status 3\) without printing a callback URL/,
    );
  });

  it('a command that takes too long is stopped with what it started, and says so', async () => {
    const pidFile = join(root, 'pids');
    const started = Date.now();
    const error = await runAuthCommand(`sleep 30 & echo $! > "${pidFile}"; wait`, url, {
      timeoutMs: 500,
      stderr: sink(),
    }).catch((e: unknown) => e);
    expect(isTdTokenError(error, 'login_timeout')).toBe(true);
    expect((error as Error).message).toMatch(/--timeout/);
    expect(Date.now() - started).toBeLessThan(5000);
    const sleeper = Number((await readFile(pidFile, 'utf8')).trim());
    const deadline = Date.now() + 5000;
    while (isAlive(sleeper) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(isAlive(sleeper)).toBe(false);
  });

  it('takes the first callback-looking line as soon as it comes, quotes and all', async () => {
    const started = Date.now();
    const got = await runAuthCommand(
      `echo hello; echo '"https://127.0.0.1:8182/?code=a&state=b"'; sleep 20`,
      url,
      { stderr: sink() },
    );
    expect(got).toBe('https://127.0.0.1:8182/?code=a&state=b');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses bad arguments with TypeErrors', () => {
    expect(() => runAuthCommand('', url)).toThrow(/"command"/);
    expect(() => runAuthCommand('true', 'not a url')).toThrow(/"authorizationUrl"/);
    expect(() => runAuthCommand('true', url, { timeoutMs: 0 })).toThrow(/"options.timeoutMs"/);
  });

  it('readCallbackInput: the first non-empty line, cleaned; empty input is an error', async () => {
    const { Readable } = await import('node:stream');
    expect(
      await readCallbackInput(
        Readable.from(['\n  "https://127.0.0.1:8182/?code=a', '&state=b"\nmore\n']),
      ),
    ).toBe('https://127.0.0.1:8182/?code=a&state=b');
    const empty = await readCallbackInput(Readable.from(['\n \n'])).catch((e: unknown) => e);
    expect(isTdTokenError(empty, 'missing_code')).toBe(true);
  });
});
