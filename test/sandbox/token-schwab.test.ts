import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import {
  basic,
  json,
  loginCode,
  loginTokens,
  postToken,
  SCHWAB_KEY,
  SCHWAB_REDIRECT,
  SCHWAB_SECRET,
  schwabCodeGrant,
} from './support.js';

const DAY = 24 * 60 * 60 * 1000;
const frozen = () => 1_750_000_000_000;
const UNAUTHORIZED = { error: 'invalid_client', error_description: 'Unauthorized' };

function refresh(
  sandbox: Sandbox,
  refreshToken: string,
  extra: Record<string, string> = {},
  headers: Record<string, string> = { Authorization: basic() },
): Promise<Response> {
  return postToken(
    sandbox,
    { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra },
    headers,
  );
}

async function expectBody(response: Response, status: number, body: unknown): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(await response.json()).toEqual(body);
}

/** Reads the JSON nested inside Schwab's error_description string. */
function nestedError(description: string): Record<string, unknown> {
  const match = /^400 Bad Request: "(.*)"$/.exec(description);
  if (match?.[1] === undefined) throw new Error(`not the nested shape: ${description}`);
  return JSON.parse(match[1]) as Record<string, unknown>;
}

async function expectRefreshTokenError(response: Response): Promise<void> {
  expect(response.status).toBe(400);
  const body = await json(response);
  expect(Object.keys(body)).toEqual(['error', 'error_description']);
  expect(body.error).toBe('unsupported_token_type');
  expect(nestedError(String(body.error_description))).toEqual({
    error_description: 'Exception while authenticating refresh token',
    error: 'refresh_token_authentication_error',
  });
}

function decodeJwtPart(part: string | undefined): Record<string, unknown> {
  return JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

describe('Schwab token endpoint', () => {
  let sandbox: Sandbox;
  beforeEach(async () => {
    sandbox = await startSandbox({ flavor: 'schwab', now: frozen });
  });
  afterEach(async () => {
    await sandbox.close();
  });

  it("answers the code grant with Schwab's body: scope api, id_token, no refresh lifetime", async () => {
    const response = await schwabCodeGrant(sandbox, await loginCode(sandbox));
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(Object.keys(body)).toEqual([
      'expires_in',
      'token_type',
      'scope',
      'refresh_token',
      'access_token',
      'id_token',
    ]);
    expect(body.expires_in).toBe(1800);
    expect(body.token_type).toBe('Bearer');
    expect(body.scope).toBe('api');
    expect(body.access_token).toMatch(/^I0\..+@$/);
    expect(body.refresh_token).toMatch(/@$/);
    const parts = String(body.id_token).split('.');
    expect(parts).toHaveLength(3);
    expect(decodeJwtPart(parts[0])).toEqual({ alg: 'HS256', typ: 'JWT' });
    const claims = decodeJwtPart(parts[1]);
    expect(claims.aud).toBe(SCHWAB_KEY);
    expect(claims.sub).toBe('sandbox-user');
    expect(claims.iss).toBe(sandbox.url);
    expect(Number(claims.exp) - Number(claims.iat)).toBe(1800);
  });

  it('wants HTTP Basic with the app key and secret', async () => {
    const code = await loginCode(sandbox);
    await expectBody(await schwabCodeGrant(sandbox, code, {}, {}), 401, UNAUTHORIZED);
    await expectBody(
      await schwabCodeGrant(sandbox, code, {}, { Authorization: basic(SCHWAB_KEY, 'wrong') }),
      401,
      UNAUTHORIZED,
    );
    await expectBody(
      await schwabCodeGrant(sandbox, code, {}, { Authorization: basic('other', SCHWAB_SECRET) }),
      401,
      UNAUTHORIZED,
    );
    await expectBody(
      await schwabCodeGrant(sandbox, code, {}, { Authorization: `Bearer ${SCHWAB_SECRET}` }),
      401,
      UNAUTHORIZED,
    );
    // Credentials in the body instead of the header are not client authentication.
    await expectBody(
      await schwabCodeGrant(
        sandbox,
        code,
        { client_id: SCHWAB_KEY, client_secret: SCHWAB_SECRET },
        {},
      ),
      401,
      UNAUTHORIZED,
    );
    expect((await schwabCodeGrant(sandbox, code)).status).toBe(200);
  });

  it('answers a JSON body with 401 invalid_client', async () => {
    const code = await loginCode(sandbox);
    const response = await fetch(sandbox.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: basic() },
      body: JSON.stringify({
        grant_type: 'authorization_code',
        code,
        redirect_uri: SCHWAB_REDIRECT,
      }),
    });
    await expectBody(response, 401, UNAUTHORIZED);
  });

  it('tolerates an extra matching client_id, refuses a different one', async () => {
    const code = await loginCode(sandbox);
    await expectBody(
      await schwabCodeGrant(sandbox, code, { client_id: 'other' }),
      401,
      UNAUTHORIZED,
    );
    expect((await schwabCodeGrant(sandbox, code, { client_id: SCHWAB_KEY })).status).toBe(200);
  });

  it('makes codes single-use and expires them after 30 s', async () => {
    const code = await loginCode(sandbox);
    expect((await schwabCodeGrant(sandbox, code)).status).toBe(200);
    await expectBody(await schwabCodeGrant(sandbox, code), 400, { error: 'invalid_grant' });
    const fresh = await loginCode(sandbox);
    const stale = await loginCode(sandbox);
    sandbox.clock.advance(29_999);
    expect((await schwabCodeGrant(sandbox, fresh)).status).toBe(200);
    sandbox.clock.advance(1);
    await expectBody(await schwabCodeGrant(sandbox, stale), 400, { error: 'invalid_grant' });
  });

  it('wants the redirect URI used at authorize', async () => {
    const code = await loginCode(sandbox);
    await expectBody(
      await schwabCodeGrant(sandbox, code, { redirect_uri: `${SCHWAB_REDIRECT}/` }),
      400,
      {
        error: 'invalid_grant',
      },
    );
    const other = await loginCode(sandbox);
    await expectBody(await schwabCodeGrant(sandbox, other, { redirect_uri: undefined }), 400, {
      error: 'invalid_request',
    });
  });

  it('answers unknown grants and missing refresh tokens', async () => {
    await expectBody(
      await postToken(sandbox, { grant_type: 'client_credentials' }, { Authorization: basic() }),
      400,
      { error: 'unsupported_grant_type' },
    );
    await expectBody(await refresh(sandbox, ''), 400, { error: 'invalid_request' });
  });

  it('refreshes: new access token, the same refresh token, never extended past 7 days from login', async () => {
    const login = await loginTokens(sandbox);
    const refreshToken = String(login.refresh_token);
    sandbox.clock.advance(3 * DAY);
    const first = await json(await refresh(sandbox, refreshToken));
    expect(first.refresh_token).toBe(refreshToken);
    expect(first.access_token).not.toBe(login.access_token);
    expect(first).not.toHaveProperty('refresh_token_expires_in');
    expect(first.scope).toBe('api');
    expect(String(first.id_token).split('.')).toHaveLength(3);
    sandbox.clock.advance(4 * DAY - 1);
    expect((await refresh(sandbox, refreshToken)).status).toBe(200);
    sandbox.clock.advance(1);
    await expectBody(await refresh(sandbox, refreshToken), 400, {
      error: 'invalid_client',
      error_description: 'refresh token invalid',
    });
  });

  it('invalidates earlier refresh tokens when the app logs in again', async () => {
    const first = String((await loginTokens(sandbox)).refresh_token);
    expect((await refresh(sandbox, first)).status).toBe(200);
    const second = String((await loginTokens(sandbox)).refresh_token);
    expect(second).not.toBe(first);
    await expectRefreshTokenError(await refresh(sandbox, first));
    expect((await refresh(sandbox, second)).status).toBe(200);
  });

  it("does not let a new login of another app invalidate this app's token", async () => {
    sandbox.registerApp({
      clientId: 'OtherKey',
      clientSecret: 'OtherSecret',
      redirectUris: [SCHWAB_REDIRECT],
    });
    const mine = String((await loginTokens(sandbox)).refresh_token);
    const code = await loginCode(sandbox, { client_id: 'OtherKey' });
    const other = await schwabCodeGrant(
      sandbox,
      code,
      {},
      { Authorization: basic('OtherKey', 'OtherSecret') },
    );
    expect(other.status).toBe(200);
    expect((await refresh(sandbox, mine)).status).toBe(200);
    // ...and the other app cannot use it.
    await expectRefreshTokenError(
      await refresh(sandbox, mine, {}, { Authorization: basic('OtherKey', 'OtherSecret') }),
    );
  });

  it('answers unknown and revoked refresh tokens with the nested unsupported_token_type body', async () => {
    await expectRefreshTokenError(await refresh(sandbox, 'no-such-token@'));
    const refreshToken = String((await loginTokens(sandbox)).refresh_token);
    sandbox.revokeRefreshToken(refreshToken);
    await expectRefreshTokenError(await refresh(sandbox, refreshToken));
  });

  it('counts both grants', async () => {
    const tokens = await loginTokens(sandbox);
    await refresh(sandbox, String(tokens.refresh_token));
    await refresh(sandbox, String(tokens.refresh_token));
    expect(sandbox.counters().token).toEqual({
      authorization_code: 1,
      refresh_token: 2,
      total: 3,
      ok: 3,
      failed: 0,
    });
  });
});
