/**
 * The login flow without a login server: pending logins and `complete(callback)` against the
 * real sandbox (its authorize page approved over HTTPS, its token endpoint answering).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTdTokenError, StoreError } from '../../src/errors.js';
import { createLoginFlow } from '../../src/login/flow.js';
import { createProvider } from '../../src/providers/index.js';
import type { Provider } from '../../src/providers/types.js';
import { SANDBOX_DEFAULT_APPS, type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import type { TokenRecord } from '../../src/token.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';

let sandbox: Sandbox;
let provider: Provider;

beforeAll(async () => {
  sandbox = await startSandbox({ flavor: 'schwab' });
  const app = SANDBOX_DEFAULT_APPS.schwab;
  provider = createProvider('schwab', {
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri: app.redirectUris[0]!,
    authorizeUrl: sandbox.authorizeUrl,
    tokenUrl: sandbox.tokenUrl,
    apiUrl: sandbox.apiUrl,
  });
});

afterAll(async () => {
  await sandbox?.close();
});

describe('createLoginFlow', () => {
  it('completes a callback of a login it started: one exchange, one store, then that state is spent', async () => {
    const stored: TokenRecord[] = [];
    const flow = createLoginFlow(provider, { onToken: async (r) => void stored.push(r) });
    const authorize = flow.start();
    expect(authorize.origin).toBe(new URL(sandbox.authorizeUrl).origin);
    const callback = new URL(await approveInSandbox(authorize));
    sandbox.resetCounters();
    const done = await flow.complete(callback);
    expect(done.kind).toBe('stored');
    expect(stored).toHaveLength(1);
    expect(done.kind === 'stored' && done.record).toBe(stored[0]);
    expect(flow.loggedIn).toBe(stored[0]);
    expect(sandbox.counters().token.authorization_code).toBe(1);
    // The same callback again: its state was spent, nothing is exchanged.
    expect(await flow.complete(callback)).toEqual({ kind: 'refused', code: 'state_mismatch' });
    expect(sandbox.counters().token.authorization_code).toBe(1);
    expect(flow.outcome(new Error('stopped'))).toEqual({ record: stored[0] });
  });

  it('refuses callbacks of no login it started, and forgets a login after its time', async () => {
    let now = 1_000;
    const flow = createLoginFlow(provider, { pendingMs: 60_000, now: () => now });
    const callback = new URL(await approveInSandbox(flow.start()));
    const bare = new URL(callback);
    bare.searchParams.delete('state');
    expect(await flow.complete(bare)).toEqual({ kind: 'refused', code: 'missing_state' });
    const foreign = new URL(callback);
    foreign.searchParams.set('state', 'not-ours');
    expect(await flow.complete(foreign)).toEqual({ kind: 'refused', code: 'state_mismatch' });
    now += 60_000;
    expect(await flow.complete(callback)).toEqual({ kind: 'refused', code: 'state_mismatch' });
    const reason = new Error('stopped');
    expect(flow.outcome(reason)).toEqual({ error: reason });
  });

  it('keeps the newest 32 logins', async () => {
    const flow = createLoginFlow(provider);
    const first = flow.start();
    for (let i = 0; i < 32; i++) flow.start();
    const oldest = new URL(provider.redirectUri);
    oldest.searchParams.set('code', 'x');
    oldest.searchParams.set('state', first.searchParams.get('state')!);
    expect(await flow.complete(oldest)).toEqual({ kind: 'refused', code: 'state_mismatch' });
  });

  it('reports Deny as a failure before sending anything, and remembers it for the outcome', async () => {
    const flow = createLoginFlow(provider);
    const callback = new URL(await approveInSandbox(flow.start(), { deny: true }));
    sandbox.resetCounters();
    const done = await flow.complete(callback);
    expect(done.kind).toBe('failed');
    const error = done.kind === 'failed' ? done.error : undefined;
    expect(isTdTokenError(error, 'access_denied')).toBe(true);
    expect(sandbox.counters().token.authorization_code).toBe(0);
    expect(flow.outcome(new Error('stopped'))).toEqual({ error });
  });

  it('says when the token could not be stored', async () => {
    const failure = new StoreError('store_error', 'the disk is full. free some space');
    const flow = createLoginFlow(provider, {
      onToken: async () => {
        throw failure;
      },
    });
    const callback = new URL(await approveInSandbox(flow.start()));
    expect(await flow.complete(callback)).toEqual({ kind: 'not_stored', error: failure });
    expect(flow.loggedIn).toBeUndefined();
  });

  it('keeps nothing when stopped while the code is being exchanged', async () => {
    const stored: TokenRecord[] = [];
    const running = new AbortController();
    const flow = createLoginFlow(provider, {
      onToken: async (r) => void stored.push(r),
      signal: running.signal,
    });
    const callback = new URL(await approveInSandbox(flow.start()));
    sandbox.faults.inject({ kind: 'delay', ms: 5_000 }, 1);
    try {
      const done = flow.complete(callback);
      await expect.poll(() => sandbox.faults.pending(), { timeout: 5_000 }).toBe(0);
      running.abort();
      expect(await done).toEqual({ kind: 'stopped' });
      expect(stored).toEqual([]);
    } finally {
      sandbox.faults.clear();
    }
  });

  it('checks its arguments', () => {
    expect(() => createLoginFlow(provider, { pendingMs: 0 })).toThrow(
      new TypeError('"options.pendingMs" must be a positive number'),
    );
  });
});
