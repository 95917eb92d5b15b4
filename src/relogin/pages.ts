/**
 * The re-login page's HTML, sized for a phone: the two steps (log in at the provider, paste the
 * address the browser ended on), the answers to a paste (logged in, or what went wrong with a
 * fresh link), and the bare refusals. No scripts; one inline stylesheet allowed by its hash;
 * every value escaped (the `html` template of the login pages). No page ever holds a token.
 *
 * @module
 * @internal
 */
import { createHash } from 'node:crypto';
import { html, type Page, type SafeHtml } from '../login/pages.js';
import { localTime } from '../login/words.js';

const STYLE = `
body{font:17px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
main{max-width:34rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.35rem;margin:.5rem 0 1rem}
.ok h1{color:#17693a}.error h1{color:#a4231b}
ol{list-style:none;padding:0;margin:0;counter-reset:step}
li{background:#fff;border:1px solid #dde1e7;border-radius:10px;padding:1rem;margin-bottom:1rem;counter-increment:step}
h2{font-size:1.05rem;margin:0 0 .5rem}
h2::before{content:counter(step) ". ";color:#2456b3}
p{margin:.5rem 0}
textarea{box-sizing:border-box;width:100%;font:15px/1.4 ui-monospace,monospace;padding:.5rem;border:1px solid #9aa3b0;border-radius:6px}
a.button,button{display:block;box-sizing:border-box;width:100%;text-align:center;font:inherit;font-weight:600;padding:.75rem 1rem;margin-top:.75rem;border-radius:8px;border:1px solid #2456b3;background:#2f6fde;color:#fff;text-decoration:none}
.note{color:#5b6575;font-size:.9rem}
.notice{padding:.5rem .75rem;border-radius:6px;background:#fff4e5;border:1px solid #f0c987}
footer{margin-top:1.5rem;color:#5b6575;font-size:.8rem}
`;

/** The CSP source for the stylesheet above. */
export const RELOGIN_STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** The path the page's form posts to. */
export const FINISH_PATH = '/finish';

function layout(title: string, kind: 'ok' | 'error' | 'info', body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${title} · td-token</title>
<style>${{ safe: STYLE }}</style>
</head>
<body>
<main class="${kind}">
${body}
<footer>td-token re-login page · served by the computer running td-token · the link works once</footer>
</main>
</body>
</html>
`.safe;
}

/** What the two-step page shows. */
export interface StepsView {
  /** Who the person logs in to: `Schwab`, `TD Ameritrade`, `the sandbox`. */
  label: string;
  /** The provider's authorization URL of this link's pending login. */
  authorizeUrl: string;
  /** The link's secret, sent back with the paste. */
  secret: string;
  /** The redirect URI, so the person knows which address to copy. */
  redirectUri: string;
  /** When the link expires. */
  expiresAt: number;
  /** A line about an earlier paste of this link (not a callback, another login's). */
  notice?: string | undefined;
  /** The text pasted before, shown again after a notice. */
  pasted?: string | undefined;
}

/** The page a link opens: the two steps. */
export function stepsPage(view: StepsView, status = 200): Page {
  const body = html`<h1>Log in again to ${view.label}</h1>
${view.notice === undefined ? undefined : html`<p class="notice" id="notice">${view.notice}</p>`}
<ol>
<li>
<h2>Log in at ${view.label}</h2>
<p>Opens ${view.label}'s login page in a new tab. Log in and press <strong>Allow</strong>. The page you end on, at <code>${view.redirectUri}</code>, does not load: that is expected.</p>
<a class="button" id="authorize" href="${view.authorizeUrl}" target="_blank" rel="noopener noreferrer">Log in at ${view.label}</a>
</li>
<li>
<h2>Paste the address your browser ended on</h2>
<p>Copy the whole address from that tab's address bar, come back here, paste it and press Finish. Be quick: the code in it expires within a minute (30 seconds at Schwab).</p>
<form method="post" action="${FINISH_PATH}">
<input type="hidden" name="secret" value="${view.secret}">
<textarea name="callback" id="callback" rows="4" required autocomplete="off" autocapitalize="off" autocorrect="off" spellcheck="false" aria-label="The address your browser ended on" placeholder="${view.redirectUri}/?code=...">${view.pasted ?? ''}</textarea>
<button type="submit" id="finish">Finish logging in</button>
</form>
</li>
</ol>
<p class="note">This link works until ${localTime(view.expiresAt)}, for one login.</p>`;
  return { status, html: layout(`Log in again to ${view.label}`, 'info', body) };
}

/** After the login was stored. */
export function loggedInPage(view: {
  label: string;
  refreshExpiresAt: number;
  accessExpiresAt: number;
}): Page {
  const body = html`<h1 id="result" data-result="success">Logged in</h1>
<p>td-token logged in to ${view.label} and stored the new login. Nothing else to do: you can close this tab.</p>
<p>The new login lasts until ${localTime(view.refreshExpiresAt)}; the access token it holds is refreshed as usual (next by ${localTime(view.accessExpiresAt)}).</p>
<p class="note">This link is now used up. The next re-login notice will bring a new one.</p>`;
  return { status: 200, html: layout('Logged in', 'ok', body) };
}

/** A paste that could not complete the login: what happened, and a fresh link to start again. */
export function tryAgainPage(view: {
  status: number;
  code: string;
  title: string;
  message: string;
  /** A fresh one-time link (a new pending login), or undefined when none could be made. */
  freshLink: string | undefined;
}): Page {
  const body = html`<h1 id="result" data-result="error" data-code="${view.code}">${view.title}</h1>
<p>${view.message}</p>
${
  view.freshLink === undefined
    ? html`<p>Start again from td-token's next re-login notice.</p>`
    : html`<p><strong>What to do:</strong> open this fresh link and do both steps again, pasting the address right away.</p>
<a class="button" id="fresh-link" href="${view.freshLink}">Start again with a fresh link</a>`
}`;
  return { status: view.status, html: layout(view.title, 'error', body) };
}

/** 409: another paste of this link is being completed. */
export function busyPage(): Page {
  const body = html`<h1 id="result" data-result="error" data-code="busy">Finishing the login</h1>
<p>Another paste of this link is being completed. Wait a few seconds, then look at the page you pasted on first.</p>`;
  return { status: 409, html: layout('Finishing the login', 'error', body) };
}
