#!/usr/bin/env node
/**
 * A small web application of your own that logs a person in to TD Ameritrade or Schwab and keeps
 * the token with td-token: `/login` sends the browser to the provider, `/callback` completes the
 * authorization code flow, `/` shows the login and `/accounts` calls the API with the token.
 *
 * Configuration comes from the environment (see README.md):
 *   TD_TOKEN_PROVIDER       tdameritrade | schwab
 *   TD_TOKEN_CLIENT_ID      consumer key / app key
 *   TD_TOKEN_CLIENT_SECRET  Schwab app secret
 *   TD_TOKEN_REDIRECT_URI   this app's callback as registered with the provider, e.g.
 *                           https://127.0.0.1:8443/callback
 *   TD_TOKEN_AUTHORIZE_URL, TD_TOKEN_TOKEN_URL, TD_TOKEN_API_URL   optional endpoint overrides
 *   TD_TOKEN_FILE           where the token is kept (default ./token.json)
 *   WEB_APP_CERT, WEB_APP_KEY   PEM files; when both are set the app serves HTTPS
 *
 * The app listens on the redirect URI's host and port.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  createAuthorizationRequest,
  createProvider,
  createStore,
  exchangeAuthorizationCode,
  TokenManager,
} from 'td-token';

const env = process.env;
const redirectUri = env.TD_TOKEN_REDIRECT_URI ?? 'http://localhost:3000/callback';
const callback = new URL(redirectUri);
const provider = createProvider(env.TD_TOKEN_PROVIDER === 'schwab' ? 'schwab' : 'tdameritrade', {
  clientId: env.TD_TOKEN_CLIENT_ID ?? '',
  clientSecret: env.TD_TOKEN_CLIENT_SECRET,
  redirectUri,
  authorizeUrl: env.TD_TOKEN_AUTHORIZE_URL,
  tokenUrl: env.TD_TOKEN_TOKEN_URL,
  apiUrl: env.TD_TOKEN_API_URL,
});
const tokenFile = env.TD_TOKEN_FILE ?? 'token.json';
const manager = new TokenManager(provider, await createStore({ kind: 'file', path: tokenFile }));

/**
 * Logins in progress, by the id in the browser's `login` cookie: the state and PKCE verifier
 * to check the callback against. Entries expire after ten minutes.
 * @type {Map<string, { state: string; codeVerifier: string | undefined; createdAt: number }>}
 */
const pending = new Map();
const PENDING_MS = 10 * 60_000;
const secure = callback.protocol === 'https:';

/** @param {unknown} value */
function escapeHtml(value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {string} title
 * @param {string} body  already-escaped HTML
 */
function page(res, status, title, body) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1 id="title">${escapeHtml(title)}</h1>${body}</body></html>`,
  );
}

/**
 * @param {import('node:http').IncomingMessage} req
 * @param {string} name
 */
function cookie(req, name) {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/** @type {import('node:http').RequestListener} */
async function handle(req, res) {
  const url = new URL(req.url ?? '/', callback.origin);

  if (url.pathname === '/login') {
    // A fresh state (and PKCE verifier, where the provider uses it) per login attempt.
    const request = createAuthorizationRequest(provider);
    const id = randomBytes(24).toString('base64url');
    pending.set(id, {
      state: request.state,
      codeVerifier: request.codeVerifier,
      createdAt: Date.now(),
    });
    for (const [key, entry] of pending)
      if (Date.now() - entry.createdAt > PENDING_MS) pending.delete(key);
    res.writeHead(302, {
      Location: request.url.href,
      'Set-Cookie': `login=${id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=600${secure ? '; Secure' : ''}`,
      'Cache-Control': 'no-store',
    });
    res.end();
    return;
  }

  // The callback is the redirect URI's path; when that is `/` (TD's seed-era
  // https://localhost:8000), `/` with a code or an error on it is the callback.
  const isCallback =
    url.pathname === callback.pathname &&
    (callback.pathname !== '/' || url.searchParams.has('code') || url.searchParams.has('error'));
  if (isCallback) {
    const id = cookie(req, 'login');
    const entry = id === undefined ? undefined : pending.get(id);
    if (id === undefined || entry === undefined || Date.now() - entry.createdAt > PENDING_MS) {
      page(
        res,
        400,
        'Login failed',
        '<p>This callback does not belong to a login started here.</p><p><a href="/login">Log in again</a></p>',
      );
      return;
    }
    pending.delete(id);
    try {
      // Checks the state, reads the code (decoded once), and redeems it at the token endpoint.
      const record = await exchangeAuthorizationCode(provider, url.href, {
        expectedState: entry.state,
        codeVerifier: entry.codeVerifier,
      });
      await manager.saveLogin(record);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      page(
        res,
        400,
        'Login failed',
        `<p id="error">${escapeHtml(message)}</p><p><a href="/login">Log in again</a></p>`,
      );
      return;
    }
    res.writeHead(303, {
      Location: '/',
      'Set-Cookie': `login=; Path=/; Max-Age=0`,
      'Cache-Control': 'no-store',
    });
    res.end();
    return;
  }

  if (url.pathname === '/accounts') {
    try {
      // A valid access token every time: the manager refreshes it when it is about to expire.
      const accounts = await manager.getAccounts();
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(accounts));
    } catch (error) {
      res.writeHead(401, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
    }
    return;
  }

  if (url.pathname === '/') {
    const record = await manager.peek().catch(() => undefined);
    const body =
      record === undefined
        ? '<p id="state">Not logged in.</p><p><a id="login" href="/login">Log in</a></p>'
        : `<p id="state">Logged in to ${escapeHtml(provider.name)}.</p>
<p>The access token expires ${escapeHtml(new Date(record.expires_at).toISOString())}; the login lasts until ${escapeHtml(new Date(record.refresh_token_expires_at).toISOString())}.</p>
<p><a href="/accounts">Accounts</a> · <a id="login" href="/login">Log in again</a></p>`;
    page(res, 200, 'My trading app', body);
    return;
  }

  page(res, 404, 'Not found', '<p><a href="/">Home</a></p>');
}

/** @type {import('node:http').RequestListener} */
function listener(req, res) {
  handle(req, res).catch((error) => {
    console.error('request failed:', error instanceof Error ? error.message : error);
    if (!res.headersSent) page(res, 500, 'Error', '<p>Something went wrong.</p>');
    else res.destroy();
  });
}

if (secure && !(env.WEB_APP_CERT && env.WEB_APP_KEY)) {
  console.error(
    `the redirect URI ${redirectUri} is https, so this app must serve HTTPS. set WEB_APP_CERT and WEB_APP_KEY to PEM files (mkcert 127.0.0.1 localhost makes a pair)`,
  );
  process.exit(2);
}

const server =
  env.WEB_APP_CERT && env.WEB_APP_KEY
    ? createHttpsServer(
        { cert: readFileSync(env.WEB_APP_CERT), key: readFileSync(env.WEB_APP_KEY) },
        listener,
      )
    : createHttpServer(listener);

const host = callback.hostname.replace(/^\[|\]$/g, '');
const port = Number(callback.port || (secure ? 443 : 80));
server.listen(port, host, () => {
  console.error(`web app listening on ${callback.origin}/ (token file: ${tokenFile})`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    manager.close().finally(() => process.exit(0));
  });
}
