/**
 * The agent's HTTP routes, the same on the Unix socket and on loopback HTTP: `GET /v1/token`,
 * `/v1/status`, `/healthz`, `/metrics`, JSON errors for the rest. On loopback HTTP every request
 * first passes the login server's guards: the `Host` must be the listening address (DNS
 * rebinding) and `Authorization: Bearer <agent secret>` must match, compared in constant time.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { allowedHost, bearerMatches, securityHeaders } from '../login/guard.js';
import {
  agentError,
  type ErrorAnswer,
  profileStatus,
  tokenError,
  unhealthyReason,
} from './answers.js';
import { METRICS_CONTENT_TYPE, metricsText } from './metrics.js';
import type { ServedProfile } from './profile.js';

/** How a surface checks its callers: nothing beyond file permissions (the socket), or the guards. */
export type SurfaceGuard =
  | { kind: 'socket' }
  | { kind: 'http'; secret: string; allowedHosts: ReadonlySet<string> };

/** What the routes answer from. */
export interface RouteContext {
  /** The served profiles; the first is the default. */
  profiles: readonly ServedProfile[];
  now: () => number;
}

const HEADERS = securityHeaders();

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...HEADERS,
    ...extra,
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra?: Record<string, string>,
): void {
  send(res, status, 'application/json', `${JSON.stringify(body)}\n`, extra);
}

function sendError(res: ServerResponse, answer: ErrorAnswer, extra?: Record<string, string>): void {
  sendJson(res, answer.status, answer.body, extra);
}

/** The refusal of the loopback HTTP guards, or undefined when the request passes them. */
function guardRefusal(req: IncomingMessage, guard: SurfaceGuard): ErrorAnswer | undefined {
  if (guard.kind === 'socket') return undefined;
  if (!allowedHost(req.headers.host, guard.allowedHosts)) {
    return agentError(
      403,
      'forbidden_host',
      'the Host header does not name this agent',
      `address the agent as http://${[...guard.allowedHosts][0] ?? '127.0.0.1'}/`,
    );
  }
  if (!bearerMatches(req.headers.authorization, guard.secret)) {
    return agentError(
      401,
      'unauthorized',
      'a missing or wrong agent secret',
      "send 'Authorization: Bearer <the agent secret>' (the secret file's content, printed path on start)",
    );
  }
  return undefined;
}

function wantsText(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.includes('text/plain') && !accept.includes('json');
}

function pickProfile(ctx: RouteContext, url: URL): ServedProfile | ErrorAnswer {
  const wanted = url.searchParams.get('profile');
  const served =
    wanted === null ? ctx.profiles[0] : ctx.profiles.find((p) => p.info.name === wanted);
  if (served === undefined) {
    return agentError(
      404,
      'unknown_profile',
      `this agent does not serve the profile ${JSON.stringify(wanted ?? '').slice(0, 80)}`,
      `serve it with 'td-token serve --profile NAME', or ask for one of: ${ctx.profiles.map((p) => p.info.name).join(', ')}`,
    );
  }
  return served;
}

const ROUTES = new Set(['/v1/token', '/v1/status', '/healthz', '/metrics']);

/** Answer one request. Never throws; never puts a token anywhere but a valid `GET /v1/token`'s body. */
export async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  guard: SurfaceGuard,
  ctx: RouteContext,
): Promise<void> {
  try {
    const refusal = guardRefusal(req, guard);
    if (refusal !== undefined) {
      sendError(res, refusal, refusal.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {});
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://agent');
    } catch {
      sendError(
        res,
        agentError(400, 'bad_request', 'an unreadable request target', 'ask for /v1/token'),
      );
      return;
    }
    if (!ROUTES.has(url.pathname)) {
      sendError(
        res,
        agentError(
          404,
          'not_found',
          'no such path',
          'ask for /v1/token, /v1/status, /healthz or /metrics',
        ),
      );
      return;
    }
    if (req.method !== 'GET') {
      sendError(
        res,
        agentError(405, 'method_not_allowed', `${url.pathname} answers GET only`, 'use GET'),
        { Allow: 'GET' },
      );
      return;
    }
    switch (url.pathname) {
      case '/v1/token':
        return await answerToken(req, res, ctx, url);
      case '/v1/status':
        return await answerStatus(res, ctx, url);
      case '/healthz':
        return await answerHealth(res, ctx);
      default:
        send(res, 200, METRICS_CONTENT_TYPE, metricsText(ctx.profiles, ctx.now()));
    }
  } catch {
    if (!res.headersSent) {
      sendError(
        res,
        agentError(500, 'internal_error', 'the agent failed to answer', "see the agent's log"),
      );
    } else {
      res.destroy();
    }
  }
}

async function answerToken(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RouteContext,
  url: URL,
): Promise<void> {
  const served = pickProfile(ctx, url);
  if (!('info' in served)) {
    sendError(res, served);
    return;
  }
  served.requests += 1;
  let record: Awaited<ReturnType<ServedProfile['token']>>;
  try {
    record = await served.token();
  } catch (err) {
    sendError(res, tokenError(err, served.info.name));
    return;
  }
  if (wantsText(req)) {
    send(res, 200, 'text/plain; charset=utf-8', `${record.access_token}\n`);
    return;
  }
  sendJson(res, 200, {
    access_token: record.access_token,
    token_type: record.token_type || 'Bearer',
    expires_at: record.expires_at,
    expires_in: Math.max(0, Math.floor((record.expires_at - ctx.now()) / 1000)),
    profile: served.info.name,
  });
}

async function answerStatus(res: ServerResponse, ctx: RouteContext, url: URL): Promise<void> {
  const served = pickProfile(ctx, url);
  if (!('info' in served)) {
    sendError(res, served);
    return;
  }
  sendJson(res, 200, await profileStatus(served, ctx.now()));
}

async function answerHealth(res: ServerResponse, ctx: RouteContext): Promise<void> {
  const reasons = await Promise.all(
    ctx.profiles.map(async (p) => ({ profile: p.info.name, reason: await unhealthyReason(p) })),
  );
  const bad = reasons.filter((p) => p.reason !== undefined);
  if (bad.length === 0) {
    send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
    return;
  }
  sendJson(res, 503, {
    error: 'unhealthy',
    message: `no usable token for ${bad.map((b) => `${b.profile} (${b.reason})`).join(', ')}`,
    fix: "see 'td-token status' for each profile; 'td-token login' when a login is required",
    profiles: bad,
  });
}
