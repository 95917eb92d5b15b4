/**
 * The token endpoint of each flavor: client authentication, both grants, lifetimes,
 * refresh-token rotation, error bodies, the rate limit, and injected faults.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SandboxContext } from './context.js';
import {
  BodyTooLargeError,
  mediaType,
  methodNotAllowed,
  readBody,
  send,
  sendHtml,
  sendJson,
  sendText,
} from './http.js';
import { accessDeniedPage, providerErrorPage } from './pages.js';
import {
  idToken,
  schwabAccessToken,
  schwabRefreshToken,
  tdAccessToken,
  tdRefreshToken,
} from './secrets.js';
import type { SandboxApp, SandboxFault } from './types.js';

/** An answer the endpoint computed, sent by the caller. */
interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** TD's fixed scope for every token. */
export const TD_SCOPE = 'PlaceTrades AccountAccess MoveMoney';

/** Schwab's fixed scope. */
export const SCHWAB_SCOPE = 'api';

/** Schwab's answer for an invalid or invalidated refresh token: JSON nested in a string. */
export const SCHWAB_REFRESH_TOKEN_ERROR = {
  error: 'unsupported_token_type',
  error_description: `400 Bad Request: "${JSON.stringify({
    error_description: 'Exception while authenticating refresh token',
    error: 'refresh_token_authentication_error',
  })}"`,
} as const;

/** Schwab's answer for a refresh token past its 7 days. */
export const SCHWAB_REFRESH_TOKEN_EXPIRED = {
  error: 'invalid_client',
  error_description: 'refresh token invalid',
} as const;

const SCHWAB_UNAUTHORIZED: Answer = {
  status: 401,
  body: { error: 'invalid_client', error_description: 'Unauthorized' },
};

function oauthError(status: number, error: string): Answer {
  return { status, body: { error } };
}

function rateLimited(retryAfterSec: number): Answer {
  return {
    status: 429,
    body: {
      error: 'rate_limit_exceeded',
      error_description: `Too many requests. Retry after ${retryAfterSec} seconds.`,
    },
    headers: { 'Retry-After': String(retryAfterSec) },
  };
}

/** Parsed request body: the form (undefined when the body is not a form) and its grant. */
interface ParsedBody {
  form: URLSearchParams | undefined;
  grantType: string | undefined;
  duplicate: boolean;
}

function parseBody(req: IncomingMessage, body: Buffer): ParsedBody {
  const text = body.toString('utf8');
  if (mediaType(req) === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams(text);
    const seen = new Set<string>();
    let duplicate = false;
    for (const name of form.keys()) {
      if (seen.has(name)) duplicate = true;
      seen.add(name);
    }
    return { form, grantType: form.get('grant_type') ?? undefined, duplicate };
  }
  // Not a form: still read grant_type from JSON, so counters stay meaningful.
  let grantType: string | undefined;
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json === 'object' && json !== null && 'grant_type' in json) {
      const value = (json as Record<string, unknown>)['grant_type'];
      if (typeof value === 'string') grantType = value;
    }
  } catch {
    // not JSON either
  }
  return { form: undefined, grantType, duplicate: false };
}

/** The app key a request is counted against for the rate limit. */
function rateLimitKey(
  ctx: SandboxContext,
  req: IncomingMessage,
  form: URLSearchParams | undefined,
): string {
  if (ctx.flavor === 'schwab') return basicCredentials(req)?.id ?? '';
  const clientId = form?.get('client_id') ?? '';
  return clientId.endsWith('@AMER.OAUTHAP') ? clientId.slice(0, -'@AMER.OAUTHAP'.length) : clientId;
}

/** Decodes `Authorization: Basic base64(id:secret)`. */
export function basicCredentials(req: IncomingMessage): { id: string; secret: string } | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header);
  if (match === null || match[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/** POST token endpoint. */
export async function handleToken(
  ctx: SandboxContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (req.method !== 'POST') {
    methodNotAllowed(res, 'POST');
    return;
  }
  const counters = ctx.state.counters.token;
  counters.total += 1;
  let body: Buffer;
  try {
    body = await readBody(req);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) throw error;
    counters.failed += 1;
    sendJson(res, 413, { error: 'invalid_request' }, { Connection: 'close' });
    return;
  }
  const parsed = parseBody(req, body);
  if (parsed.grantType === 'authorization_code') counters.authorization_code += 1;
  if (parsed.grantType === 'refresh_token') counters.refresh_token += 1;

  const fault = ctx.faults.take();
  if (fault !== undefined) {
    if (fault.kind !== 'delay') {
      counters.failed += 1;
      answerFault(ctx, fault, req, res);
      return;
    }
    const stillOpen = await ctx.wait(fault.ms);
    if (!stillOpen) return;
  }

  const limit = ctx.rateLimiter.check(
    rateLimitKey(ctx, req, parsed.form),
    ctx.clock.now(),
    ctx.settings.rateLimitPerMinute,
  );
  if (limit.allowed) ctx.stateFile?.pull(ctx.state);
  const answer = limit.allowed
    ? ctx.flavor === 'tdameritrade'
      ? tdToken(ctx, parsed)
      : schwabToken(ctx, req, parsed)
    : rateLimited(limit.retryAfterSec);
  if (answer.status === 200) {
    // Every answer with tokens issued one (and may have rotated or superseded others).
    ctx.stateFile?.push(ctx.state, ctx.clock.now());
    counters.ok += 1;
  } else {
    counters.failed += 1;
  }
  sendJson(res, answer.status, answer.body, answer.headers);
}

function answerFault(
  ctx: SandboxContext,
  fault: Exclude<SandboxFault, { kind: 'delay' }>,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  switch (fault.kind) {
    case 'status': {
      const kind = fault.body ?? (fault.status === 500 ? 'json' : 'text');
      const reason =
        fault.status === 500
          ? 'Internal Server Error'
          : fault.status === 502
            ? 'Bad Gateway'
            : 'Service Unavailable';
      const headers: Record<string, string> =
        fault.retryAfterSec === undefined ? {} : { 'Retry-After': String(fault.retryAfterSec) };
      if (kind === 'json') sendJson(res, fault.status, { error: reason }, headers);
      else sendText(res, fault.status, `${fault.status} ${reason}\n`, headers);
      return;
    }
    case 'html': {
      const page =
        ctx.flavor === 'schwab'
          ? accessDeniedPage(randomBytes(8).toString('hex'))
          : providerErrorPage(ctx.flavor);
      sendHtml(res, fault.status ?? 200, page);
      return;
    }
    case 'malformed-json': {
      const whole = JSON.stringify({
        access_token: randomBytes(24).toString('base64'),
        refresh_token: randomBytes(24).toString('base64'),
        expires_in: ctx.settings.accessTokenLifetimeSec,
        token_type: 'Bearer',
      });
      send(
        res,
        200,
        'application/json;charset=UTF-8',
        whole.slice(0, Math.floor(whole.length / 2)),
      );
      return;
    }
    case 'drop':
      req.socket.destroy();
      return;
    case 'rate-limit': {
      const answer = rateLimited(fault.retryAfterSec);
      sendJson(res, answer.status, answer.body, answer.headers);
      return;
    }
  }
}

/** Issues an access token for `app` and remembers it. */
function issueAccessToken(ctx: SandboxContext, app: SandboxApp, username: string): string {
  const token = ctx.flavor === 'tdameritrade' ? tdAccessToken() : schwabAccessToken();
  ctx.state.accessTokens.set(token, {
    clientId: app.clientId,
    username,
    expiresAt: ctx.clock.now() + ctx.settings.accessTokenLifetimeSec * 1000,
  });
  return token;
}

/** Issues a refresh token living `refreshTokenLifetimeMs` from now. */
function issueRefreshToken(ctx: SandboxContext, app: SandboxApp, username: string): string {
  const token = ctx.flavor === 'tdameritrade' ? tdRefreshToken() : schwabRefreshToken();
  const now = ctx.clock.now();
  ctx.state.refreshTokens.set(token, {
    clientId: app.clientId,
    username,
    issuedAt: now,
    expiresAt: now + ctx.settings.refreshTokenLifetimeMs,
    status: 'active',
  });
  return token;
}

/**
 * Looks up a code for `app` and uses it up. Undefined when it is unknown, used, expired, or
 * another app's. A code found is spent even if the request then fails (redirect URI mismatch).
 */
function takeCode(ctx: SandboxContext, app: SandboxApp, code: string) {
  const entry = ctx.state.codes.get(code);
  if (entry === undefined || entry.used || entry.clientId !== app.clientId) return undefined;
  entry.used = true;
  if (ctx.clock.now() >= entry.expiresAt) return undefined;
  return entry;
}

/**
 * The code grant's checks, the same for both providers: `code` and `redirect_uri` present, the
 * code this app's, unused and unexpired, and issued for that redirect URI. The code's entry, or
 * the error answer.
 */
function redeemCode(ctx: SandboxContext, app: SandboxApp, form: URLSearchParams) {
  const code = form.get('code');
  const redirectUri = form.get('redirect_uri');
  if (code === null || code === '' || redirectUri === null) {
    return oauthError(400, 'invalid_request');
  }
  const entry = takeCode(ctx, app, code);
  if (entry === undefined || entry.redirectUri !== redirectUri) {
    return oauthError(400, 'invalid_grant');
  }
  return entry;
}

// ---------------------------------------------------------------- TD Ameritrade

function tdToken(ctx: SandboxContext, parsed: ParsedBody): Answer {
  const form = parsed.form;
  if (form === undefined || parsed.duplicate) return oauthError(400, 'invalid_request');
  const grantType = form.get('grant_type');
  const clientId = form.get('client_id');
  if (grantType === null || clientId === null || clientId === '') {
    return oauthError(400, 'invalid_request');
  }
  const app = ctx.apps.findForTdToken(clientId);
  if (app === undefined) return oauthError(401, 'invalid_client');
  const accessType = form.get('access_type');
  if (accessType !== null && accessType !== 'offline') return oauthError(400, 'invalid_request');
  const offline = accessType === 'offline';
  const lifetimeSec = ctx.settings.accessTokenLifetimeSec;
  const refreshLifetimeSec = Math.floor(ctx.settings.refreshTokenLifetimeMs / 1000);

  if (grantType === 'authorization_code') {
    const entry = redeemCode(ctx, app, form);
    if ('status' in entry) return entry;
    const accessToken = issueAccessToken(ctx, app, entry.username);
    if (!offline && ctx.settings.requireAccessTypeOfflineForCodeGrant) {
      return {
        status: 200,
        body: {
          access_token: accessToken,
          scope: TD_SCOPE,
          expires_in: lifetimeSec,
          token_type: 'Bearer',
        },
      };
    }
    return {
      status: 200,
      body: {
        access_token: accessToken,
        refresh_token: issueRefreshToken(ctx, app, entry.username),
        scope: TD_SCOPE,
        expires_in: lifetimeSec,
        refresh_token_expires_in: refreshLifetimeSec,
        token_type: 'Bearer',
      },
    };
  }

  if (grantType === 'refresh_token') {
    const refreshToken = form.get('refresh_token');
    if (refreshToken === null || refreshToken === '') return oauthError(400, 'invalid_request');
    const entry = ctx.state.refreshTokens.get(refreshToken);
    if (
      entry === undefined ||
      entry.clientId !== app.clientId ||
      entry.status !== 'active' ||
      ctx.clock.now() >= entry.expiresAt
    ) {
      return oauthError(400, 'invalid_grant');
    }
    const accessToken = issueAccessToken(ctx, app, entry.username);
    if (!offline) {
      return {
        status: 200,
        body: {
          access_token: accessToken,
          scope: TD_SCOPE,
          expires_in: lifetimeSec,
          token_type: 'Bearer',
        },
      };
    }
    const renewed = issueRefreshToken(ctx, app, entry.username);
    if (ctx.settings.invalidateOldRefreshTokenOnRenewal) entry.status = 'rotated';
    return {
      status: 200,
      body: {
        access_token: accessToken,
        refresh_token: renewed,
        scope: TD_SCOPE,
        expires_in: lifetimeSec,
        refresh_token_expires_in: refreshLifetimeSec,
        token_type: 'Bearer',
      },
    };
  }

  return oauthError(400, 'unsupported_grant_type');
}

// ---------------------------------------------------------------- Schwab

function schwabBody(ctx: SandboxContext, app: SandboxApp, username: string, refreshToken: string) {
  const accessToken = issueAccessToken(ctx, app, username);
  const iat = Math.floor(ctx.clock.now() / 1000);
  return {
    expires_in: ctx.settings.accessTokenLifetimeSec,
    token_type: 'Bearer',
    scope: SCHWAB_SCOPE,
    refresh_token: refreshToken,
    access_token: accessToken,
    id_token: idToken(ctx.idTokenKey, {
      iss: ctx.origin(),
      sub: username,
      aud: app.clientId,
      iat,
      exp: iat + ctx.settings.accessTokenLifetimeSec,
    }),
  };
}

function schwabToken(ctx: SandboxContext, req: IncomingMessage, parsed: ParsedBody): Answer {
  const form = parsed.form;
  if (form === undefined) return SCHWAB_UNAUTHORIZED;
  const credentials = basicCredentials(req);
  const app = credentials === undefined ? undefined : ctx.apps.get(credentials.id);
  if (app === undefined || credentials === undefined || app.clientSecret !== credentials.secret) {
    return SCHWAB_UNAUTHORIZED;
  }
  if (parsed.duplicate) return oauthError(400, 'invalid_request');
  const extraClientId = form.get('client_id');
  if (extraClientId !== null && extraClientId !== app.clientId) return SCHWAB_UNAUTHORIZED;
  const grantType = form.get('grant_type');
  if (grantType === null) return oauthError(400, 'invalid_request');

  if (grantType === 'authorization_code') {
    const entry = redeemCode(ctx, app, form);
    if ('status' in entry) return entry;
    // A new browser login supersedes every earlier refresh token of the app.
    for (const issued of ctx.state.refreshTokens.values()) {
      if (issued.clientId === app.clientId && issued.status === 'active') {
        issued.status = 'superseded';
      }
    }
    const refreshToken = issueRefreshToken(ctx, app, entry.username);
    return { status: 200, body: schwabBody(ctx, app, entry.username, refreshToken) };
  }

  if (grantType === 'refresh_token') {
    const refreshToken = form.get('refresh_token');
    if (refreshToken === null || refreshToken === '') return oauthError(400, 'invalid_request');
    const entry = ctx.state.refreshTokens.get(refreshToken);
    if (entry === undefined || entry.clientId !== app.clientId) {
      return { status: 400, body: SCHWAB_REFRESH_TOKEN_ERROR };
    }
    if (ctx.clock.now() >= entry.expiresAt) {
      return { status: 400, body: SCHWAB_REFRESH_TOKEN_EXPIRED };
    }
    if (entry.status !== 'active') return { status: 400, body: SCHWAB_REFRESH_TOKEN_ERROR };
    // The refresh token comes back unchanged; its expiry stays 7 days from the login.
    return { status: 200, body: schwabBody(ctx, app, entry.username, refreshToken) };
  }

  return oauthError(400, 'unsupported_grant_type');
}
