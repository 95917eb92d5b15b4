/**
 * A refresh token the provider refused is never sent again: not by the process that was refused
 * (one POST, then `login_required` at once), and not by another process reading the same store,
 * which finds the refusal in the record (`refresh_token_refused_at`). A new login clears it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTdTokenError, LoginRequiredError } from '../../src/errors.js';
import { TokenManager } from '../../src/manager.js';
import type { Provider } from '../../src/providers/types.js';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { FileStore } from '../../src/stores/index.js';
import { SEED_FIELDS, type TokenRecord } from '../../src/token.js';
import { advanceTo, MINUTE, sandboxLogin, sandboxProvider } from './setup.js';

let sandbox: Sandbox;
let provider: Provider;
let root = '';

beforeAll(async () => {
  sandbox = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
  provider = sandboxProvider(sandbox, 'schwab');
  root = await mkdtemp(join(tmpdir(), 'td-token-refused-'));
});
afterAll(async () => {
  await sandbox?.close();
  if (root !== '') await rm(root, { recursive: true, force: true });
});

function manager(path: string): TokenManager {
  return new TokenManager(provider, new FileStore(path), { now: sandbox.clock.now, retry: false });
}

function refreshPosts(): number {
  return sandbox.counters().token.refresh_token;
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

let seq = 0;
async function loggedIn(): Promise<{ path: string; login: TokenRecord }> {
  seq += 1;
  const path = join(root, `case-${seq}`, 'token.json');
  const login = await sandboxLogin(sandbox, provider);
  const m = manager(path);
  await m.saveLogin(login);
  await m.close();
  return { path, login };
}

describe('a refused refresh token', () => {
  it('is sent once: later calls in the process, and another process on the store, answer login_required without a POST', async () => {
    const { path, login } = await loggedIn();
    sandbox.revokeRefreshToken(login.refresh_token);
    advanceTo(sandbox, login.expires_at); // the access token is due
    sandbox.resetCounters();

    const before = sandbox.clock.now();
    const first = manager(path);
    const events: LoginRequiredError[] = [];
    first.on('login-required', (e) => events.push(e));
    const refused = await failure(first.getAccessToken());
    expect(refused).toBeInstanceOf(LoginRequiredError);
    expect(refreshPosts()).toBe(1);

    for (let i = 0; i < 5; i++) {
      const again = await failure(first.getAccessToken());
      expect(isTdTokenError(again, 'login_required')).toBe(true);
      expect((again as Error).message).toMatch(
        /refused the refresh token in .*td-token does not send a refused refresh token again\. run 'td-token login' to log in again$/,
      );
      expect((again as Error).message).not.toContain(login.refresh_token);
    }
    const forced = await failure(first.refresh({ force: true }));
    expect(isTdTokenError(forced, 'login_required')).toBe(true);
    expect(refreshPosts()).toBe(1);
    expect(events.length).toBe(7);

    // The store holds every canonical field, unchanged, and the refusal.
    const stored = JSON.parse(await readFile(path, 'utf8')) as TokenRecord;
    for (const field of SEED_FIELDS) {
      expect(stored[field]).toEqual(login[field]);
    }
    expect(stored.refresh_token_refused_at).toBeGreaterThanOrEqual(before);
    expect(stored.refresh_token_refused_at).toBeLessThanOrEqual(sandbox.clock.now());

    // Another process (its own store handle, no memory of the refusal) does not ask either.
    const second = manager(path);
    const other = await failure(second.getAccessToken());
    expect(isTdTokenError(other, 'login_required')).toBe(true);
    expect((other as Error).message).toContain(
      new Date(stored.refresh_token_refused_at!).toISOString(),
    );
    expect(await failure(second.refresh({ force: true }))).toBeInstanceOf(LoginRequiredError);
    expect(refreshPosts()).toBe(1);

    // A new login stores a new refresh token: both refresh through it again.
    const fresh = await sandboxLogin(sandbox, provider);
    await second.saveLogin(fresh);
    const record = await first.refresh({ force: true });
    expect(record.access_token).not.toBe(fresh.access_token);
    expect(record.refresh_token_refused_at).toBeUndefined();
    expect(JSON.parse(await readFile(path, 'utf8')).refresh_token_refused_at).toBeUndefined();
    expect(refreshPosts()).toBe(2);
    await first.close();
    await second.close();
  });

  it('a login that hands back the refused refresh token in this process is trusted again', async () => {
    const { path, login } = await loggedIn();
    advanceTo(sandbox, sandbox.clock.now() + 31 * MINUTE);
    sandbox.revokeRefreshToken(login.refresh_token);
    const m = manager(path);
    expect(await failure(m.getAccessToken())).toBeInstanceOf(LoginRequiredError);
    const fresh = await sandboxLogin(sandbox, provider);
    await m.saveLogin({ ...fresh });
    expect((await m.getAccessToken()).length).toBeGreaterThan(0);
    await m.close();
  });

  it('a provider outage is not a refusal: the next call asks the provider again', async () => {
    const { path, login } = await loggedIn();
    advanceTo(sandbox, login.expires_at);
    sandbox.resetCounters();
    sandbox.faults.inject({ kind: 'status', status: 503 }, 1);
    const m = manager(path);
    expect(isTdTokenError(await failure(m.getAccessToken()), 'provider_unavailable')).toBe(true);
    expect(JSON.parse(await readFile(path, 'utf8')).refresh_token_refused_at).toBeUndefined();
    expect((await m.getAccessToken()).length).toBeGreaterThan(0);
    expect(refreshPosts()).toBe(2);
    await m.close();
  });
});
