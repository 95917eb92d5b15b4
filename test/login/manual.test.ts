import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallbackError, isTdTokenError, ProviderError } from '../../src/errors.js';
import { manualLogin } from '../../src/login/manual.js';
import { exchangeAuthorizationCode } from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import type { Provider } from '../../src/providers/types.js';
import { SANDBOX_DEFAULT_APPS, type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';

let sandbox: Sandbox;
let provider: Provider;

beforeAll(async () => {
  sandbox = await startSandbox({ flavor: 'tdameritrade' });
  const app = SANDBOX_DEFAULT_APPS.tdameritrade;
  provider = createProvider('tdameritrade', {
    clientId: app.clientId,
    redirectUri: app.redirectUris[0]!,
    authorizeUrl: sandbox.authorizeUrl,
    tokenUrl: sandbox.tokenUrl,
    apiUrl: sandbox.apiUrl,
  });
});

afterAll(async () => {
  await sandbox?.close();
});

/** Run manualLogin on in-memory streams; `authorizeUrl` resolves once it was printed. */
function start(
  options: { isTTY: boolean; timeoutMs?: number; providerLabel?: string },
  using: Provider = provider,
) {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  let printed: (url: string) => void = () => {};
  const authorizeUrl = new Promise<string>((resolve) => {
    printed = resolve;
  });
  output.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    const match = /^\s+(http\S+)$/m.exec(text);
    if (match?.[1]) printed(match[1]);
  });
  const outcome = manualLogin(using, { input, output, ...options }).then(
    (record) => ({ record, error: undefined as unknown }),
    (error: unknown) => ({ record: undefined, error }),
  );
  return { input, output: () => text, authorizeUrl, outcome };
}

describe('manualLogin', () => {
  it('prints the authorize URL and exchanges the pasted redirected URL', async () => {
    const run = start({ isTTY: false });
    const url = await run.authorizeUrl;
    expect(url.startsWith(`${sandbox.authorizeUrl}?`)).toBe(true);
    expect(run.output()).toContain('Log in and press Allow');
    expect(run.output()).toContain(provider.redirectUri);
    const callback = await approveInSandbox(url);
    run.input.end(`  "${callback}"  \n`);
    const { record, error } = await run.outcome;
    expect(error).toBeUndefined();
    expect(record?.provider).toBe('tdameritrade');
    expect(record?.refresh_token_expires_at).toBeGreaterThan(Date.now() + 80 * 86_400_000);
    expect(run.output()).not.toContain(record!.access_token);
    expect(run.output()).not.toContain(record!.refresh_token);
    expect(run.output()).not.toContain(new URL(callback).searchParams.get('code')!);
  });

  it('fails at once when input ends without a URL and there is no terminal', async () => {
    const run = start({ isTTY: false, timeoutMs: 60_000 });
    await run.authorizeUrl;
    const startedAt = Date.now();
    run.input.end();
    const { error } = await run.outcome;
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(error).toBeInstanceOf(CallbackError);
    expect((error as Error).message).toMatch(/^standard input ended without the redirected URL/);
    expect((error as Error).message).toContain('pipe the redirected URL');
  });

  it('fails on the first wrong line when there is no terminal, exchanging nothing', async () => {
    sandbox.resetCounters();
    const bad = start({ isTTY: false });
    await bad.authorizeUrl;
    bad.input.write('not a url\n');
    expect(isTdTokenError((await bad.outcome).error, 'missing_code')).toBe(true);

    const foreign = start({ isTTY: false });
    const url = new URL(await foreign.authorizeUrl);
    url.searchParams.set('state', 'someone-elses');
    const callback = await approveInSandbox(url);
    foreign.input.write(`${callback}\n`);
    expect(isTdTokenError((await foreign.outcome).error, 'state_mismatch')).toBe(true);
    expect(sandbox.counters().token.total).toBe(0);
  });

  it('asks again at a terminal after a bad paste', async () => {
    const run = start({ isTTY: true });
    const url = await run.authorizeUrl;
    run.input.write('\n');
    run.input.write('hello\n');
    const foreign = new URL(await approveInSandbox(url));
    foreign.searchParams.set('state', 'tampered');
    run.input.write(`${foreign.href}\n`);
    const callback = await approveInSandbox(url);
    run.input.write(`${callback}\n`);
    const { record, error } = await run.outcome;
    expect(error).toBeUndefined();
    expect(record).toBeDefined();
    expect(run.output()).toContain('that is not the redirected URL');
    expect(run.output()).toContain('state does not match');
    expect(run.output().match(/redirected URL: /g)?.length).toBeGreaterThanOrEqual(3);
  });

  it('gives up at a terminal after too many bad pastes', async () => {
    const run = start({ isTTY: true });
    await run.authorizeUrl;
    for (let i = 0; i < 5; i++) run.input.write(`garbage ${i}\n`);
    const { error } = await run.outcome;
    expect(isTdTokenError(error, 'missing_code')).toBe(true);
  });

  it('reports Deny', async () => {
    const run = start({ isTTY: true });
    const callback = await approveInSandbox(await run.authorizeUrl, { deny: true });
    run.input.write(`${callback}\n`);
    const { error } = await run.outcome;
    expect(isTdTokenError(error, 'access_denied')).toBe(true);
  });

  it('reports a code that was already used', async () => {
    const run = start({ isTTY: false });
    const url = new URL(await run.authorizeUrl);
    const callback = await approveInSandbox(url);
    await exchangeAuthorizationCode(provider, callback, {
      expectedState: url.searchParams.get('state')!,
      retry: false,
    });
    run.input.write(`${callback}\n`);
    const { error } = await run.outcome;
    expect(error).toBeInstanceOf(ProviderError);
  });

  it('gives up after the timeout, even at a terminal that stays open', async () => {
    const run = start({ isTTY: true, timeoutMs: 300 });
    const { error } = await run.outcome;
    expect(isTdTokenError(error, 'login_timeout')).toBe(true);
    expect((error as Error).message).toBe(
      "no redirected URL was given within 300 ms. run 'td-token login --manual' again and paste the URL sooner (--timeout gives more time)",
    );
    run.input.destroy();
  });

  it('names the sandbox, and says its login page opens on this computer only', async () => {
    const run = start({
      isTTY: false,
      timeoutMs: 60_000,
      providerLabel: 'the sandbox (tdameritrade flavor)',
    });
    await run.authorizeUrl;
    run.input.end();
    await run.outcome;
    const host = new URL(sandbox.authorizeUrl).host;
    expect(run.output()).toContain(
      'To log in to the sandbox (tdameritrade flavor) without a local login server:',
    );
    expect(run.output()).toContain(
      `  1. Open this URL in a browser on this computer: the login page is served on ${host}, which only this computer can reach.`,
    );
    expect(run.output()).not.toContain('any machine');
  });

  it("says a real provider's login page opens on any machine", async () => {
    const app = SANDBOX_DEFAULT_APPS.tdameritrade;
    const real = createProvider('tdameritrade', {
      clientId: app.clientId,
      redirectUri: app.redirectUris[0]!,
    });
    const run = start({ isTTY: false, timeoutMs: 60_000 }, real);
    await run.authorizeUrl;
    run.input.end();
    await run.outcome;
    expect(run.output()).toContain('To log in to tdameritrade without a local login server:');
    expect(run.output()).toContain('  1. Open this URL in a browser (on any machine):');
  });

  it('checks its arguments', async () => {
    await expect(
      manualLogin(provider, {
        input: new PassThrough(),
        output: new PassThrough(),
        isTTY: false,
        providerLabel: '',
      }),
    ).rejects.toThrow(new TypeError('"options.providerLabel" must be a non-empty string'));
    await expect(
      manualLogin(provider, {
        input: new PassThrough(),
        output: new PassThrough(),
        isTTY: false,
        timeoutMs: -1,
      }),
    ).rejects.toThrow(new TypeError('"options.timeoutMs" must be a positive number'));
    await expect(
      manualLogin({} as Provider, {
        input: new PassThrough(),
        output: new PassThrough(),
        isTTY: false,
      }),
    ).rejects.toThrow(new TypeError('"provider" must be a Provider'));
  });
});
