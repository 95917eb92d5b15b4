/**
 * Two-step login against the real sandbox: a pending login kept privately in the config folder,
 * completed once from the redirected URL; used twice, expired, another profile's, replaced by a
 * newer start, or started for another app are clear errors.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CallbackError, isTdTokenError } from '../../src/errors.js';
import {
  completePendingLogin,
  PENDING_LOGIN_LIFETIME_MS,
  pendingDir,
  pendingLoginPath,
  startPendingLogin,
} from '../../src/login/pending.js';
import { createProvider } from '../../src/providers/index.js';
import type { Provider } from '../../src/providers/types.js';
import { SANDBOX_DEFAULT_APPS, type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';

let sandbox: Sandbox;
let provider: Provider;
let root: string;
let configDir: string;

function schwab(overrides: { redirectUri?: string } = {}): Provider {
  const app = SANDBOX_DEFAULT_APPS.schwab;
  return createProvider('schwab', {
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri: overrides.redirectUri ?? (app.redirectUris[0] as string),
    authorizeUrl: sandbox.authorizeUrl,
    tokenUrl: sandbox.tokenUrl,
    apiUrl: sandbox.apiUrl,
  });
}

beforeAll(async () => {
  sandbox = await startSandbox({
    flavor: 'schwab',
    apps: [
      {
        ...SANDBOX_DEFAULT_APPS.schwab,
        redirectUris: ['https://127.0.0.1:8182', 'https://127.0.0.1:9443/other'],
      },
    ],
  });
  provider = schwab();
  root = await mkdtemp(join(tmpdir(), 'td-token-pending-'));
});
afterAll(async () => {
  await sandbox.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  configDir = await mkdtemp(join(root, 'config-'));
});

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('startPendingLogin', () => {
  it('keeps the pending login 0600 in a 0700 folder and gives the URL to open', async () => {
    const started = await startPendingLogin(provider, { configDir, profile: 'default' });
    expect(started.url.href.startsWith(sandbox.authorizeUrl)).toBe(true);
    expect(started.path).toBe(pendingLoginPath(configDir, 'default'));
    const saved = JSON.parse(await readFile(started.path, 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({
      profile: 'default',
      provider: 'schwab',
      redirectUri: 'https://127.0.0.1:8182',
      state: started.url.searchParams.get('state'),
    });
    expect(saved['expiresAt']).toBe(started.expiresAt);
    expect(started.expiresAt - (saved['createdAt'] as number)).toBe(PENDING_LOGIN_LIFETIME_MS);
    if (process.platform !== 'win32') {
      expect((await stat(started.path)).mode & 0o777).toBe(0o600);
      expect((await stat(pendingDir(configDir))).mode & 0o777).toBe(0o700);
    }
    // Written atomically: nothing but the file itself is left in the folder.
    expect(await readdir(pendingDir(configDir))).toEqual(['default.json']);
  });

  it('refuses bad arguments with TypeErrors naming them', async () => {
    await expect(startPendingLogin(provider, { configDir, profile: '../x' })).rejects.toThrow(
      /"options.profile"/,
    );
    await expect(startPendingLogin(provider, { configDir: '', profile: 'a' })).rejects.toThrow(
      /"options.configDir"/,
    );
    await expect(startPendingLogin({} as Provider, { configDir, profile: 'a' })).rejects.toThrow(
      /"provider"/,
    );
  });
});

describe('completePendingLogin', () => {
  it('completes once from the redirected URL, then removes the pending login', async () => {
    const started = await startPendingLogin(provider, { configDir, profile: 'default' });
    const callback = await approveInSandbox(started.url);
    const record = await completePendingLogin(provider, callback, {
      configDir,
      profile: 'default',
    });
    expect(record.access_token).toMatch(/\S/);
    expect(record.refresh_token).toMatch(/\S/);
    expect(await readdir(pendingDir(configDir))).toEqual(['default.used']);

    const again = await errorOf(
      completePendingLogin(provider, callback, { configDir, profile: 'default' }),
    );
    expect(again).toBeInstanceOf(CallbackError);
    expect(again.message).toMatch(/was used already/);
    expect(again.message).toMatch(/td-token login --print-url/);
  });

  it('an expired pending login is an error, and is removed', async () => {
    const t0 = Date.now();
    const started = await startPendingLogin(provider, {
      configDir,
      profile: 'default',
      now: () => t0,
    });
    const callback = await approveInSandbox(started.url);
    sandbox.resetCounters();
    const error = await errorOf(
      completePendingLogin(provider, callback, {
        configDir,
        profile: 'default',
        now: () => t0 + PENDING_LOGIN_LIFETIME_MS + 1,
      }),
    );
    expect(isTdTokenError(error, 'login_timeout')).toBe(true);
    expect(error.message).toMatch(/expired .* lasts 10 minutes/);
    expect(await readdir(pendingDir(configDir))).toEqual([]);
    expect(sandbox.counters().token.total).toBe(0);
  });

  it("another profile's callback names that profile; nothing is used", async () => {
    const started = await startPendingLogin(provider, { configDir, profile: 'alice' });
    const callback = await approveInSandbox(started.url);
    const error = await errorOf(
      completePendingLogin(provider, callback, { configDir, profile: 'bob' }),
    );
    expect(error).toBeInstanceOf(CallbackError);
    expect(error.message).toMatch(/belongs to the pending login of profile alice, not bob/);
    expect(error.message).toContain('--profile alice');
    const record = await completePendingLogin(provider, callback, { configDir, profile: 'alice' });
    expect(record.access_token).toMatch(/\S/);
  });

  it('a newer start replaces an older one: the older callback says so', async () => {
    const older = await startPendingLogin(provider, { configDir, profile: 'default' });
    const olderCallback = await approveInSandbox(older.url);
    const newer = await startPendingLogin(provider, { configDir, profile: 'default' });
    const error = await errorOf(
      completePendingLogin(provider, olderCallback, { configDir, profile: 'default' }),
    );
    expect(error.message).toMatch(/older login of profile default, which a newer/);
    const record = await completePendingLogin(provider, await approveInSandbox(newer.url), {
      configDir,
      profile: 'default',
    });
    expect(record.access_token).toMatch(/\S/);
  });

  it('completing with another app or redirect URI is refused before the code is spent', async () => {
    const started = await startPendingLogin(provider, { configDir, profile: 'default' });
    const callback = await approveInSandbox(started.url);
    const other = schwab({ redirectUri: 'https://127.0.0.1:9443/other' });
    const error = await errorOf(
      completePendingLogin(other, callback, { configDir, profile: 'default' }),
    );
    expect(error.message).toMatch(/started for another app or redirect URI/);
    const record = await completePendingLogin(provider, callback, {
      configDir,
      profile: 'default',
    });
    expect(record.access_token).toMatch(/\S/);
  });

  it('two completions at once: exactly one exchanges the code', async () => {
    const started = await startPendingLogin(provider, { configDir, profile: 'default' });
    const callback = await approveInSandbox(started.url);
    sandbox.resetCounters();
    const outcomes = await Promise.allSettled([
      completePendingLogin(provider, callback, { configDir, profile: 'default' }),
      completePendingLogin(provider, callback, { configDir, profile: 'default' }),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const rejected = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(CallbackError);
    expect(sandbox.counters().token.authorization_code).toBe(1);
  });

  it('a callback without state, with no pending login, or refused by the person', async () => {
    const none = await errorOf(
      completePendingLogin(provider, 'https://127.0.0.1:8182/?code=abc', {
        configDir,
        profile: 'default',
      }),
    );
    expect(none.message).toMatch(/carries no state/);
    const missing = await errorOf(
      completePendingLogin(provider, 'https://127.0.0.1:8182/?code=abc&state=xyz', {
        configDir,
        profile: 'default',
      }),
    );
    expect(missing.message).toMatch(/no pending login for profile default/);
    const started = await startPendingLogin(provider, { configDir, profile: 'default' });
    const denied = await approveInSandbox(started.url, { deny: true });
    const error = await errorOf(
      completePendingLogin(provider, denied, { configDir, profile: 'default' }),
    );
    expect(isTdTokenError(error, 'access_denied')).toBe(true);
  });
});
