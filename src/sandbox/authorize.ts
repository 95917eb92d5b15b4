/**
 * The authorize endpoint and the browser login that follows it: login page, consent page,
 * then a redirect to the app's callback with a code (Allow) or `error=access_denied` (Deny).
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isRegisteredRedirectUri, isSchwabCallbackAllowed } from './apps.js';
import type { SandboxContext } from './context.js';
import { BodyTooLargeError, mediaType, readBody, redirect, sendHtml, sendJson } from './http.js';
import {
  accessDeniedPage,
  appNotReadyPage,
  consentPage,
  type FormContext,
  loginExpiredPage,
  loginPage,
  tdUnauthorizedPage,
} from './pages.js';
import {
  loginRequestId,
  schwabAuthorizationCode,
  schwabSession,
  tdAuthorizationCode,
} from './secrets.js';
import type { LoginRequest } from './state.js';

/** Builds the callback URL: the registered URI plus percent-encoded parameters. */
export function callbackLocation(redirectUri: string, params: [string, string][]): string {
  const url = new URL(redirectUri);
  url.hash = '';
  const encoded = params
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&');
  const existing = url.search.length > 1 ? `${url.search.slice(1)}&` : '';
  url.search = `?${existing}${encoded}`;
  return url.href;
}

function withState(params: [string, string][], state: string | undefined): [string, string][] {
  return state === undefined ? params : [...params, ['state', state]];
}

/** GET authorize: checks the app and callback, then shows the login page. */
export function handleAuthorize(
  ctx: SandboxContext,
  url: URL,
  _req: IncomingMessage,
  res: ServerResponse,
): void {
  ctx.state.counters.authorize += 1;
  const query = url.searchParams;
  const clientId = query.get('client_id') ?? '';
  const redirectUri = query.get('redirect_uri') ?? '';
  const state = query.get('state') ?? undefined;
  const responseType = query.get('response_type');

  let appClientId: string;
  if (ctx.flavor === 'tdameritrade') {
    const app = ctx.apps.findForTdAuthorize(clientId);
    if (app === undefined || !isRegisteredRedirectUri(app, redirectUri)) {
      sendHtml(res, 400, tdUnauthorizedPage());
      return;
    }
    appClientId = app.clientId;
  } else {
    const app = ctx.apps.get(clientId);
    if (app === undefined) {
      sendJson(res, 401, { error: 'invalid_client', error_description: 'Unauthorized' });
      return;
    }
    if (app.status === 'pending') {
      sendHtml(res, 200, appNotReadyPage());
      return;
    }
    if (!isSchwabCallbackAllowed(redirectUri) || !isRegisteredRedirectUri(app, redirectUri)) {
      sendHtml(res, 403, accessDeniedPage(randomBytes(8).toString('hex')));
      return;
    }
    appClientId = app.clientId;
  }

  // The callback is trusted from here on, so request errors go back to it (RFC 6749 4.1.2.1).
  if (responseType === null && ctx.flavor === 'tdameritrade') {
    redirect(res, callbackLocation(redirectUri, withState([['error', 'invalid_request']], state)));
    return;
  }
  if (responseType !== null && responseType !== 'code') {
    redirect(
      res,
      callbackLocation(redirectUri, withState([['error', 'unsupported_response_type']], state)),
    );
    return;
  }

  const now = ctx.clock.now();
  ctx.state.sweep(now, ctx.settings.loginRequestLifetimeMs);
  const request: LoginRequest = {
    id: loginRequestId(),
    clientId,
    appClientId,
    redirectUri,
    state,
    createdAt: now,
    stage: 'login',
    username: undefined,
  };
  ctx.state.loginRequests.set(request.id, request);
  sendHtml(res, 200, loginPage(ctx.flavor, formContext(request, ctx.paths.login)));
}

function formContext(request: LoginRequest, action: string): FormContext {
  return {
    action,
    requestId: request.id,
    clientId: request.clientId,
    redirectUri: request.redirectUri,
  };
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  if (mediaType(req) !== 'application/x-www-form-urlencoded') return undefined;
  try {
    return new URLSearchParams((await readBody(req)).toString('utf8'));
  } catch (error) {
    if (error instanceof BodyTooLargeError) return undefined;
    throw error;
  }
}

function findRequest(
  ctx: SandboxContext,
  form: URLSearchParams,
  stage: LoginRequest['stage'],
): LoginRequest | undefined {
  const id = form.get('request');
  if (id === null) return undefined;
  const request = ctx.state.loginRequests.get(id);
  if (request === undefined || request.stage !== stage) return undefined;
  if (ctx.clock.now() - request.createdAt >= ctx.settings.loginRequestLifetimeMs) {
    ctx.state.loginRequests.delete(id);
    return undefined;
  }
  return request;
}

/** POST login: checks the user id and password, then shows the consent page. */
export async function handleLogin(
  ctx: SandboxContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const form = await readForm(req);
  const request = form === undefined ? undefined : findRequest(ctx, form, 'login');
  if (form === undefined || request === undefined) {
    sendHtml(res, 400, loginExpiredPage(ctx.flavor));
    return;
  }
  const username = (form.get('username') ?? '').trim();
  const password = form.get('password') ?? '';
  const context = formContext(request, ctx.paths.login);
  if (username === '' || password === '') {
    sendHtml(res, 200, loginPage(ctx.flavor, context, 'Enter your user ID and password.'));
    return;
  }
  const expected = ctx.settings.credentials;
  if (
    expected !== undefined &&
    (expected.username !== username || expected.password !== password)
  ) {
    sendHtml(
      res,
      200,
      loginPage(ctx.flavor, context, 'The user ID or password you entered is incorrect.'),
    );
    return;
  }
  request.stage = 'consent';
  request.username = username;
  sendHtml(res, 200, consentPage(ctx.flavor, formContext(request, ctx.paths.consent), username));
}

/** POST consent: Allow redirects with a fresh code, Deny with `error=access_denied`. */
export async function handleConsent(
  ctx: SandboxContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const form = await readForm(req);
  const request = form === undefined ? undefined : findRequest(ctx, form, 'consent');
  const decision = form?.get('decision');
  if (request === undefined || (decision !== 'allow' && decision !== 'deny')) {
    sendHtml(res, 400, loginExpiredPage(ctx.flavor));
    return;
  }
  ctx.state.loginRequests.delete(request.id);
  if (decision === 'deny') {
    redirect(
      res,
      callbackLocation(request.redirectUri, withState([['error', 'access_denied']], request.state)),
    );
    return;
  }
  const now = ctx.clock.now();
  const isTd = ctx.flavor === 'tdameritrade';
  const code = isTd ? tdAuthorizationCode() : schwabAuthorizationCode();
  ctx.state.codes.set(code, {
    clientId: request.appClientId,
    redirectUri: request.redirectUri,
    username: request.username ?? '',
    expiresAt: now + ctx.settings.codeLifetimeMs,
    used: false,
  });
  const params: [string, string][] = [['code', code]];
  if (!isTd) params.push(['session', schwabSession()]);
  redirect(res, callbackLocation(request.redirectUri, withState(params, request.state)));
}
