/**
 * The login server's pages: small, self-contained HTML with one inline stylesheet (allowed by
 * its hash in the Content-Security-Policy), no scripts, and every interpolated value escaped.
 *
 * @module
 * @internal
 */

import { createHash } from 'node:crypto';
import { timeLeft } from '../util/time.js';
import { localTime } from './words.js';

/** Escape text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const STYLE = `
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
main{max-width:40rem;margin:3rem auto;padding:2rem;background:#fff;border:1px solid #dde1e7;border-radius:8px}
h1{font-size:1.4rem;margin:0 0 1rem}
.ok h1{color:#17693a}.error h1{color:#a4231b}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{color:#5b6575}dd{margin:0}
code{background:#eef0f3;padding:0 .25rem;border-radius:3px}
.actions{display:flex;gap:.75rem;flex-wrap:wrap;margin-top:1.5rem}
.actions form{margin:0}
a.button,button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:1px solid #2456b3;background:#2f6fde;color:#fff;text-decoration:none;cursor:pointer}
button.secondary,a.secondary{background:#fff;color:#2456b3}
.notice{padding:.5rem .75rem;border-radius:6px;background:#eef5ff;border:1px solid #c5d9f7}
footer{margin-top:2rem;color:#5b6575;font-size:.85rem}
`;

/** The CSP source for the stylesheet above. */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** One page of the login server. */
export interface Page {
  /** HTTP status to send. */
  status: number;
  html: string;
}

/** An HTML fragment that is already safe (built from escaped parts). */
export interface SafeHtml {
  readonly safe: string;
}

function raw(safe: string): SafeHtml {
  return { safe };
}

/** Tagged template that escapes every interpolation except {@link SafeHtml} values and arrays of them. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    if (Array.isArray(value)) {
      out += value.map((v) => (isSafe(v) ? v.safe : escapeHtml(v))).join('');
    } else if (isSafe(value)) {
      out += value.safe;
    } else if (value !== undefined && value !== null && value !== false) {
      out += escapeHtml(value);
    }
    out += strings[i + 1] ?? '';
  });
  return raw(out);
}

function isSafe(value: unknown): value is SafeHtml {
  return (
    typeof value === 'object' &&
    value !== null &&
    'safe' in value &&
    Object.keys(value).length === 1
  );
}

function layout(title: string, kind: 'ok' | 'error' | 'info', body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · td-token</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<main class="${kind}">
${body}
<footer>td-token login server · this page is served by your own computer</footer>
</main>
</body>
</html>
`.safe;
}

/** A POST form with the per-run secret, rendered as one button. */
function postButton(
  action: string,
  label: string,
  secret: string,
  options: { secondary?: boolean; id?: string } = {},
): SafeHtml {
  return html`<form method="post" action="${action}"><input type="hidden" name="secret" value="${secret}"><button type="submit"${options.id === undefined ? undefined : html` id="${options.id}"`}${raw(options.secondary === true ? ' class="secondary"' : '')}>${label}</button></form>`;
}

/** The status page's address with the per-run secret, so that it shows its buttons. */
export function statusHref(secret: string): string {
  return `/?secret=${encodeURIComponent(secret)}`;
}

/** What the status page says instead of its buttons to a request without the secret. */
export const NO_SECRET_LINE =
  'To log in, or to refresh or stop from this page, open the address td-token printed in the terminal.';

/** What the status page shows about the stored login. */
export interface StatusView {
  provider: string;
  redirectUri: string;
  /** The stored token, already masked, or undefined when there is none. */
  token?:
    | {
        accessTokenMasked: string;
        accessExpiresAt: number;
        refreshExpiresAt: number;
      }
    | undefined;
  /** Why the stored token could not be read, if it could not. */
  readError?: string | undefined;
  /** Whether a token store is attached (so refresh is possible). */
  canRefresh: boolean;
  /** A one-line message to show at the top (after a refresh, say). */
  notice?: string | undefined;
  now: number;
  /**
   * The per-run secret, only for a request that proved it: the page then has its buttons (POST
   * forms carrying it). Without it the page shows the status and {@link NO_SECRET_LINE}.
   */
  secret?: string | undefined;
}

/** A moment as the terminal shows it: this computer's local time, and the time left. */
function when(at: number, now: number): SafeHtml {
  return html`${localTime(at)} (${timeLeft(at, now)})`;
}

/** `/`: logged in or not, when the tokens expire, and the buttons. */
export function statusPage(view: StatusView): Page {
  const { token, now } = view;
  let state: SafeHtml;
  if (view.readError !== undefined) {
    state = html`<p>The stored token could not be read: ${view.readError}</p>`;
  } else if (token === undefined) {
    state = html`<p>Not logged in: no token is stored yet.</p>`;
  } else {
    const refreshExpired = token.refreshExpiresAt <= now;
    state = html`<p>${refreshExpired ? 'The login has expired: log in again.' : 'Logged in.'}</p>
<dl>
<dt>Access token</dt><dd><code>${token.accessTokenMasked}</code></dd>
<dt>Access token expires</dt><dd>${when(token.accessExpiresAt, now)}</dd>
<dt>Refresh token expires</dt><dd>${when(token.refreshExpiresAt, now)}</dd>
</dl>`;
  }
  const body = html`<h1>td-token login</h1>
${view.notice === undefined ? undefined : html`<p class="notice">${view.notice}</p>`}
<dl>
<dt>Provider</dt><dd>${view.provider}</dd>
<dt>Redirect URI</dt><dd><code>${view.redirectUri}</code></dd>
</dl>
${state}
${
  view.secret === undefined
    ? html`<p id="no-secret">${NO_SECRET_LINE}</p>`
    : html`<div class="actions">
${postButton('/login', 'Log in', view.secret, { id: 'login' })}
${view.canRefresh && token !== undefined ? postButton('/login/refresh', 'Refresh now', view.secret, { secondary: true }) : undefined}
${postButton('/shutdown', 'Stop this server', view.secret, { secondary: true })}
</div>`
}`;
  return { status: 200, html: layout('Status', 'info', body) };
}

/** After a successful login. */
export function successPage(view: {
  provider: string;
  accessExpiresAt: number;
  refreshExpiresAt: number;
  stopping: boolean;
  now: number;
  /** The per-run secret (a login this run started): the Status link then carries it. */
  secret?: string | undefined;
}): Page {
  const body = html`<h1 id="result" data-result="success">Logged in</h1>
<p>td-token received and stored a token from ${view.provider}.</p>
<dl>
<dt>Access token expires</dt><dd>${when(view.accessExpiresAt, view.now)}</dd>
<dt>Refresh token expires</dt><dd>${when(view.refreshExpiresAt, view.now)}</dd>
</dl>
<p>${view.stopping ? 'The login server has stopped. You can close this tab.' : 'The login server keeps running as a status page.'}</p>
${view.stopping ? undefined : html`<div class="actions"><a class="button" id="status" href="${view.secret === undefined ? '/' : statusHref(view.secret)}">Status</a></div>`}`;
  return { status: 200, html: layout('Logged in', 'ok', body) };
}

/** Something went wrong: what happened, and what to do. */
export function errorPage(view: {
  status: number;
  title: string;
  /** What happened (plain text). */
  message: string;
  /** What to do now (plain text). */
  fix: string;
  /** An error code for scripts and tests. */
  code: string;
  /**
   * The per-run secret, only for a page answering a request that proved it (a callback of a
   * login this run started, the server still running): it then offers Log in again and Status.
   */
  secret?: string | undefined;
}): Page {
  const body = html`<h1 id="result" data-result="error" data-code="${view.code}">${view.title}</h1>
<p>${view.message}</p>
<p><strong>What to do:</strong> ${view.fix}</p>
${
  view.secret === undefined
    ? undefined
    : html`<div class="actions">
${postButton('/login', 'Log in again', view.secret, { id: 'login' })}
<a class="button secondary" id="status" href="${statusHref(view.secret)}">Status</a>
</div>`
}`;
  return { status: view.status, html: layout(view.title, 'error', body) };
}

/** After `/shutdown`. */
export function stoppedPage(): Page {
  const body = html`<h1 id="result" data-result="stopped">Stopped</h1>
<p>The td-token login server has stopped. You can close this tab.</p>`;
  return { status: 200, html: layout('Stopped', 'info', body) };
}
