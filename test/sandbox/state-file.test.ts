/**
 * `startSandbox({ stateFile })`: the tokens a sandbox issued survive its restart, keep their
 * statuses, are shared with another sandbox on the same file, and are written privately.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Sandbox, type SandboxOptions, startSandbox } from '../../src/sandbox/index.js';
import { basic, loginTokens, postToken, TD_CLIENT_ID } from './support.js';

const DAY = 24 * 60 * 60 * 1000;

let dir: string;
let stateFile: string;
const open: Sandbox[] = [];

async function start(
  flavor: SandboxOptions['flavor'],
  options: Partial<SandboxOptions> = {},
): Promise<Sandbox> {
  const sandbox = await startSandbox({ flavor, stateFile, ...options });
  open.push(sandbox);
  return sandbox;
}

function refresh(sandbox: Sandbox, refreshToken: string): Promise<Response> {
  return sandbox.flavor === 'tdameritrade'
    ? postToken(sandbox, {
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: TD_CLIENT_ID,
        access_type: 'offline',
      })
    : postToken(
        sandbox,
        { grant_type: 'refresh_token', refresh_token: refreshToken },
        { Authorization: basic() },
      );
}

async function apiStatus(sandbox: Sandbox, accessToken: string): Promise<number> {
  const path =
    sandbox.flavor === 'tdameritrade' ? '/v1/accounts' : '/trader/v1/accounts/accountNumbers';
  const response = await fetch(sandbox.apiUrl + path, {
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  await response.body?.cancel();
  return response.status;
}

async function readState(): Promise<{
  refreshTokens: Record<string, { status: string }>;
  accessTokens: Record<string, unknown>;
}> {
  return JSON.parse(await readFile(stateFile, 'utf8'));
}

async function fileTokens(): Promise<{ refresh: string[]; access: string[] }> {
  const state = await readState();
  return { refresh: Object.keys(state.refreshTokens), access: Object.keys(state.accessTokens) };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'td-token-sandbox-state-'));
  stateFile = join(dir, 'nested', 'state.json');
});

afterEach(async () => {
  for (const sandbox of open.splice(0)) await sandbox.close();
  await rm(dir, { recursive: true, force: true });
});

describe('sandbox state file', () => {
  it('keeps Schwab tokens across a restart, in a 0600 file in a 0700 folder', async () => {
    const first = await start('schwab');
    const tokens = await loginTokens(first);
    await first.close();
    expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'nested'))).mode & 0o777).toBe(0o700);

    const second = await start('schwab');
    expect(await apiStatus(second, tokens['access_token'] as string)).toBe(200);
    const refreshed = await refresh(second, tokens['refresh_token'] as string);
    expect(refreshed.status).toBe(200);
    const body = (await refreshed.json()) as Record<string, unknown>;
    await second.close();

    const third = await start('schwab');
    expect(await apiStatus(third, body['access_token'] as string)).toBe(200);
  });

  it('keeps a rotated TD refresh token dead after a restart, and its successor alive', async () => {
    const first = await start('tdameritrade');
    const tokens = await loginTokens(first);
    const renewed = await refresh(first, tokens['refresh_token'] as string);
    expect(renewed.status).toBe(200);
    const next = ((await renewed.json()) as Record<string, unknown>)['refresh_token'] as string;
    await first.close();
    expect((await readState()).refreshTokens[tokens['refresh_token'] as string]).toMatchObject({
      status: 'rotated',
    });

    const second = await start('tdameritrade');
    const old = await refresh(second, tokens['refresh_token'] as string);
    expect(old.status).toBe(400);
    expect(await old.json()).toEqual({ error: 'invalid_grant' });
    expect((await refresh(second, next)).status).toBe(200);
  });

  it('keeps a revoked refresh token revoked after a restart', async () => {
    const first = await start('schwab');
    const tokens = await loginTokens(first);
    first.revokeRefreshToken(tokens['refresh_token'] as string);
    await first.close();
    expect((await readState()).refreshTokens[tokens['refresh_token'] as string]).toMatchObject({
      status: 'revoked',
    });
    const second = await start('schwab');
    expect((await refresh(second, tokens['refresh_token'] as string)).status).toBe(400);
  });

  it('shares tokens with another sandbox running on the same file', async () => {
    const one = await start('schwab');
    const two = await start('schwab');
    const tokens = await loginTokens(one);
    expect(await apiStatus(two, tokens['access_token'] as string)).toBe(200);
    expect((await refresh(two, tokens['refresh_token'] as string)).status).toBe(200);
    // A new login at `two` supersedes the refresh token `one` issued, for `one` too.
    await loginTokens(two);
    expect((await refresh(one, tokens['refresh_token'] as string)).status).toBe(400);
  });

  it('drops tokens long past their expiry when it next writes', async () => {
    const t0 = 1_750_000_000_000;
    const first = await start('schwab', { now: () => t0 });
    const old = await loginTokens(first);
    await first.close();
    const later = await start('schwab', { now: () => t0 + 15 * DAY });
    const fresh = await loginTokens(later);
    expect(await fileTokens()).toEqual({
      refresh: [fresh['refresh_token']],
      access: [fresh['access_token']],
    });
    expect(old['refresh_token']).not.toBe(fresh['refresh_token']);
  });

  it('refuses to start on a corrupt file, naming it and the fix', async () => {
    await loginTokens(await start('schwab'));
    await writeFile(stateFile, '{"version": 1, "flavor": "schwab", "refreshTo');
    await expect(startSandbox({ flavor: 'schwab', stateFile })).rejects.toThrow(
      `sandbox state file ${stateFile} is not valid JSON. delete it to start afresh (the sandbox then forgets the tokens it issued: log in again)`,
    );
  });

  it('refuses a state file of the other flavor', async () => {
    await loginTokens(await start('schwab'));
    await expect(startSandbox({ flavor: 'tdameritrade', stateFile })).rejects.toThrow(
      /holds the tokens of a schwab sandbox, not of this tdameritrade one/,
    );
  });

  it('checks the option', async () => {
    await expect(
      startSandbox({ flavor: 'schwab', stateFile: '' as unknown as string }),
    ).rejects.toThrow(new TypeError('"options.stateFile" must be a non-empty string'));
  });
});
