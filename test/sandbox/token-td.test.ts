import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import {
  json,
  loginCode,
  loginTokens,
  postToken,
  TD_CLIENT_ID,
  TD_KEY,
  TD_REDIRECT,
  tdCodeGrant,
} from './support.js';

const DAY = 24 * 60 * 60 * 1000;
/** A frozen base clock, so that boundaries can be hit to the millisecond. */
const frozen = () => 1_750_000_000_000;

function refresh(
  sandbox: Sandbox,
  refreshToken: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  return postToken(sandbox, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: TD_CLIENT_ID,
    ...extra,
  });
}

async function expectError(response: Response, status: number, error: string): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(await response.json()).toEqual({ error });
}

describe('TD Ameritrade token endpoint', () => {
  let sandbox: Sandbox;
  beforeEach(async () => {
    sandbox = await startSandbox({ flavor: 'tdameritrade', now: frozen });
  });
  afterEach(async () => {
    await sandbox.close();
  });

  it('answers the code grant with the full token body in TD field order', async () => {
    const response = await tdCodeGrant(sandbox, await loginCode(sandbox));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = await json(response);
    expect(Object.keys(body)).toEqual([
      'access_token',
      'refresh_token',
      'scope',
      'expires_in',
      'refresh_token_expires_in',
      'token_type',
    ]);
    expect(body.scope).toBe('PlaceTrades AccountAccess MoveMoney');
    expect(body.expires_in).toBe(1800);
    expect(body.refresh_token_expires_in).toBe(7_776_000);
    expect(body.token_type).toBe('Bearer');
    expect(typeof body.access_token).toBe('string');
    expect(body.refresh_token).toMatch(/[+/=]/);
    expect(body.access_token).not.toBe(body.refresh_token);
  });

  it('accepts the client id with or without the suffix', async () => {
    const bare = await tdCodeGrant(sandbox, await loginCode(sandbox), { client_id: TD_KEY });
    expect(bare.status).toBe(200);
    const suffixed = await tdCodeGrant(sandbox, await loginCode(sandbox), {
      client_id: TD_CLIENT_ID,
    });
    expect(suffixed.status).toBe(200);
  });

  it('answers an unknown client id with 401 invalid_client', async () => {
    const code = await loginCode(sandbox);
    await expectError(
      await tdCodeGrant(sandbox, code, { client_id: 'OTHER' }),
      401,
      'invalid_client',
    );
    await expectError(
      await tdCodeGrant(sandbox, code, { client_id: `${TD_KEY}@amer.oauthap` }),
      401,
      'invalid_client',
    );
    // The failed attempts did not spend the code.
    expect((await tdCodeGrant(sandbox, code)).status).toBe(200);
  });

  it('makes codes single-use', async () => {
    const code = await loginCode(sandbox);
    expect((await tdCodeGrant(sandbox, code)).status).toBe(200);
    await expectError(await tdCodeGrant(sandbox, code), 400, 'invalid_grant');
  });

  it('expires codes after 60 s of sandbox time', async () => {
    const fresh = await loginCode(sandbox);
    const stale = await loginCode(sandbox);
    sandbox.clock.advance(59_999);
    expect((await tdCodeGrant(sandbox, fresh)).status).toBe(200);
    sandbox.clock.advance(1);
    await expectError(await tdCodeGrant(sandbox, stale), 400, 'invalid_grant');
  });

  it('wants the redirect URI used at /auth, and spends the code on a mismatch', async () => {
    const code = await loginCode(sandbox);
    await expectError(
      await tdCodeGrant(sandbox, code, { redirect_uri: `${TD_REDIRECT}/` }),
      400,
      'invalid_grant',
    );
    await expectError(await tdCodeGrant(sandbox, code), 400, 'invalid_grant');
  });

  it('answers a mis-encoded code (decoded twice, or not at all) with invalid_grant', async () => {
    const code = await loginCode(sandbox);
    await expectError(await tdCodeGrant(sandbox, encodeURIComponent(code)), 400, 'invalid_grant');
    await expectError(await tdCodeGrant(sandbox, code.replaceAll('+', ' ')), 400, 'invalid_grant');
    expect((await tdCodeGrant(sandbox, code)).status).toBe(200);
  });

  it('answers missing parameters with invalid_request', async () => {
    const code = await loginCode(sandbox);
    await expectError(
      await tdCodeGrant(sandbox, code, { redirect_uri: undefined }),
      400,
      'invalid_request',
    );
    await expectError(
      await tdCodeGrant(sandbox, code, { client_id: undefined }),
      400,
      'invalid_request',
    );
    await expectError(
      await tdCodeGrant(sandbox, code, { grant_type: undefined }),
      400,
      'invalid_request',
    );
    await expectError(await tdCodeGrant(sandbox, ''), 400, 'invalid_request');
    await expectError(await refresh(sandbox, ''), 400, 'invalid_request');
    await expectError(
      await tdCodeGrant(sandbox, code, { access_type: 'online' }),
      400,
      'invalid_request',
    );
  });

  it('answers an unknown grant type with unsupported_grant_type', async () => {
    await expectError(
      await postToken(sandbox, { grant_type: 'password', client_id: TD_KEY }),
      400,
      'unsupported_grant_type',
    );
  });

  it('answers a JSON body with 400 invalid_request', async () => {
    const code = await loginCode(sandbox);
    const response = await fetch(sandbox.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'authorization_code',
        access_type: 'offline',
        code,
        client_id: TD_CLIENT_ID,
        redirect_uri: TD_REDIRECT,
      }),
    });
    await expectError(response, 400, 'invalid_request');
    expect(sandbox.counters().token.authorization_code).toBe(1);
  });

  it('answers a repeated parameter with invalid_request', async () => {
    const code = await loginCode(sandbox);
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      client_id: TD_KEY,
      redirect_uri: TD_REDIRECT,
    });
    body.append('code', code);
    const response = await fetch(sandbox.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    });
    await expectError(response, 400, 'invalid_request');
  });

  it('answers GET with 405', async () => {
    const response = await fetch(sandbox.tokenUrl);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('by default refuses a refresh token to a code grant without access_type=offline', async () => {
    expect(sandbox.settings.requireAccessTypeOfflineForCodeGrant).toBe(true);
    const response = await tdCodeGrant(sandbox, await loginCode(sandbox), {
      access_type: undefined,
    });
    expect(response.status).toBe(200);
    const without = await json(response);
    expect(Object.keys(without)).toEqual(['access_token', 'scope', 'expires_in', 'token_type']);
    const offline = await json(await tdCodeGrant(sandbox, await loginCode(sandbox)));
    expect(offline).toHaveProperty('refresh_token');
    expect(offline).toHaveProperty('refresh_token_expires_in', 7_776_000);
  });

  it('gives a refresh token without access_type=offline when the setting is turned off', async () => {
    const lenient = await startSandbox({
      flavor: 'tdameritrade',
      settings: { requireAccessTypeOfflineForCodeGrant: false },
    });
    try {
      const withToken = await json(
        await tdCodeGrant(lenient, await loginCode(lenient), { access_type: undefined }),
      );
      expect(withToken).toHaveProperty('refresh_token');
    } finally {
      await lenient.close();
    }
  });

  it('refreshes without access_type: a new access token only, the refresh token keeps working', async () => {
    const tokens = await loginTokens(sandbox);
    const refreshToken = String(tokens.refresh_token);
    const response = await refresh(sandbox, refreshToken);
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(Object.keys(body)).toEqual(['access_token', 'scope', 'expires_in', 'token_type']);
    expect(body.access_token).not.toBe(tokens.access_token);
    expect((await refresh(sandbox, refreshToken, { client_id: TD_KEY })).status).toBe(200);
  });

  it('refreshes with access_type=offline: a new 90-day refresh token, the old one invalidated', async () => {
    const old = String((await loginTokens(sandbox)).refresh_token);
    sandbox.clock.advance(80 * DAY);
    const response = await refresh(sandbox, old, { access_type: 'offline' });
    const body = await json(response);
    expect(Object.keys(body)).toEqual([
      'access_token',
      'refresh_token',
      'scope',
      'expires_in',
      'refresh_token_expires_in',
      'token_type',
    ]);
    expect(body.refresh_token).not.toBe(old);
    expect(body.refresh_token_expires_in).toBe(7_776_000);
    await expectError(await refresh(sandbox, old), 400, 'invalid_grant');
    // The new one lives 90 days from its issue, past the old one's end.
    sandbox.clock.advance(89 * DAY);
    expect((await refresh(sandbox, String(body.refresh_token))).status).toBe(200);
    sandbox.clock.advance(DAY);
    await expectError(await refresh(sandbox, String(body.refresh_token)), 400, 'invalid_grant');
  });

  it('keeps the old refresh token when invalidateOldRefreshTokenOnRenewal is false', async () => {
    const lenient = await startSandbox({
      flavor: 'tdameritrade',
      settings: { invalidateOldRefreshTokenOnRenewal: false },
    });
    try {
      const old = String((await loginTokens(lenient)).refresh_token);
      const renewed = await json(await refresh(lenient, old, { access_type: 'offline' }));
      expect(renewed.refresh_token).not.toBe(old);
      expect((await refresh(lenient, old)).status).toBe(200);
      expect((await refresh(lenient, String(renewed.refresh_token))).status).toBe(200);
    } finally {
      await lenient.close();
    }
  });

  it('expires refresh tokens 90 days after issue', async () => {
    const refreshToken = String((await loginTokens(sandbox)).refresh_token);
    sandbox.clock.advance(90 * DAY - 1);
    expect((await refresh(sandbox, refreshToken)).status).toBe(200);
    sandbox.clock.advance(1);
    await expectError(await refresh(sandbox, refreshToken), 400, 'invalid_grant');
  });

  it('answers a revoked, unknown or other app refresh token with invalid_grant', async () => {
    sandbox.registerApp({ clientId: 'SECONDKEY', redirectUris: [TD_REDIRECT] });
    const refreshToken = String((await loginTokens(sandbox)).refresh_token);
    await expectError(
      await refresh(sandbox, refreshToken, { client_id: 'SECONDKEY' }),
      400,
      'invalid_grant',
    );
    await expectError(await refresh(sandbox, `${refreshToken}x`), 400, 'invalid_grant');
    expect((await refresh(sandbox, refreshToken)).status).toBe(200);
    sandbox.revokeRefreshToken(refreshToken);
    await expectError(await refresh(sandbox, refreshToken), 400, 'invalid_grant');
  });

  it("does not let an app exchange another app's code", async () => {
    sandbox.registerApp({ clientId: 'SECONDKEY', redirectUris: [TD_REDIRECT] });
    const code = await loginCode(sandbox);
    await expectError(
      await tdCodeGrant(sandbox, code, { client_id: 'SECONDKEY' }),
      400,
      'invalid_grant',
    );
  });

  it('honours custom lifetimes', async () => {
    const custom = await startSandbox({
      flavor: 'tdameritrade',
      settings: {
        accessTokenLifetimeSec: 60,
        refreshTokenLifetimeMs: 3_600_000,
        codeLifetimeMs: 1000,
      },
    });
    try {
      const code = await loginCode(custom);
      custom.clock.advance(1000);
      await expectError(await tdCodeGrant(custom, code), 400, 'invalid_grant');
      const body = await loginTokens(custom);
      expect(body.expires_in).toBe(60);
      expect(body.refresh_token_expires_in).toBe(3600);
    } finally {
      await custom.close();
    }
  });

  it('counts token requests by grant and outcome', async () => {
    const tokens = await loginTokens(sandbox);
    await refresh(sandbox, String(tokens.refresh_token));
    await refresh(sandbox, 'nope');
    await postToken(sandbox, { grant_type: 'password', client_id: TD_KEY });
    expect(sandbox.counters().token).toEqual({
      authorization_code: 1,
      refresh_token: 2,
      total: 4,
      ok: 2,
      failed: 2,
    });
    expect(sandbox.counters().authorize).toBe(1);
    sandbox.resetCounters();
    expect(sandbox.counters()).toEqual({
      token: { authorization_code: 0, refresh_token: 0, total: 0, ok: 0, failed: 0 },
      api: 0,
      authorize: 0,
    });
  });
});
