/**
 * The sandbox's HTML pages: login, consent, and the providers' error pages. Self-contained
 * (inline CSS, no scripts, nothing loaded from elsewhere), usable by a person in a browser.
 *
 * @module
 */

import type { SandboxFlavor } from './types.js';

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const BRAND: Record<SandboxFlavor, { name: string; color: string; dark: string }> = {
  tdameritrade: { name: 'TD Ameritrade', color: '#3c8a2e', dark: '#2a6420' },
  schwab: { name: 'Charles Schwab', color: '#00a0df', dark: '#0075a3' },
};

function layout(flavor: SandboxFlavor, title: string, body: string): string {
  const brand = BRAND[flavor];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - ${brand.name} (sandbox)</title>
<style>
  :root { color-scheme: light; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         background: #f3f5f7; color: #1d2733; }
  header { background: ${brand.color}; color: #fff; padding: 14px 24px; display: flex;
           align-items: center; gap: 12px; }
  header strong { font-size: 18px; letter-spacing: .02em; }
  .badge { font-size: 12px; background: rgba(255,255,255,.2); border-radius: 999px; padding: 2px 10px; }
  main { max-width: 420px; margin: 48px auto; background: #fff; border-radius: 10px;
         box-shadow: 0 2px 12px rgba(0,0,0,.08); padding: 28px 32px; }
  h1 { font-size: 22px; margin: 0 0 16px; }
  p { margin: 0 0 14px; }
  label { display: block; font-weight: 600; margin: 14px 0 6px; }
  input[type=text], input[type=password] { width: 100%; padding: 10px 12px; font-size: 16px;
         border: 1px solid #b8c2cc; border-radius: 6px; }
  input:focus, button:focus { outline: 3px solid ${brand.color}55; outline-offset: 1px; }
  .actions { display: flex; gap: 12px; margin-top: 22px; }
  button { flex: 1; padding: 11px 16px; font-size: 16px; font-weight: 600; border-radius: 6px;
           border: 1px solid ${brand.color}; cursor: pointer; background: ${brand.color}; color: #fff; }
  button:hover { background: ${brand.dark}; }
  button.secondary { background: #fff; color: ${brand.dark}; }
  button.secondary:hover { background: #eef3f6; }
  .error { background: #fdecea; color: #8a1c10; border-radius: 6px; padding: 10px 12px; }
  .muted { color: #5b6875; font-size: 14px; }
  code { font-size: 13px; background: #eef1f4; padding: 1px 5px; border-radius: 4px; word-break: break-all; }
  ul { padding-left: 20px; }
</style>
</head>
<body>
<header><strong>${brand.name}</strong><span class="badge">sandbox</span></header>
<main>
${body}
</main>
</body>
</html>
`;
}

/** Inputs the login and consent forms carry. */
export interface FormContext {
  /** Where the form posts. */
  action: string;
  /** The server-side login request id. */
  requestId: string;
  /** The client id as the app sent it. */
  clientId: string;
  /** The callback the app asked for. */
  redirectUri: string;
}

/** The login page: user id, password, "Log in". */
export function loginPage(flavor: SandboxFlavor, form: FormContext, error?: string): string {
  const brand = BRAND[flavor];
  const errorHtml =
    error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(error)}</p>`;
  return layout(
    flavor,
    'Log in',
    `<h1>Log in to ${brand.name}</h1>
${errorHtml}
<p class="muted">An application is asking for access to your account. This is a sandbox: any user ID and password work unless the sandbox was started with fixed credentials.</p>
<form method="post" action="${escapeHtml(form.action)}" autocomplete="off">
  <input type="hidden" name="request" value="${escapeHtml(form.requestId)}">
  <label for="username">User ID</label>
  <input type="text" id="username" name="username" required autofocus>
  <label for="password">Password</label>
  <input type="password" id="password" name="password" required>
  <div class="actions"><button type="submit" id="login">Log in</button></div>
</form>`,
  );
}

/** The consent page: "Allow" and "Deny". */
export function consentPage(flavor: SandboxFlavor, form: FormContext, username: string): string {
  const brand = BRAND[flavor];
  let callbackHost = form.redirectUri;
  try {
    callbackHost = new URL(form.redirectUri).host;
  } catch {
    // keep the raw value
  }
  const grants =
    flavor === 'tdameritrade'
      ? '<ul><li>View your account information and balances</li><li>Place trades</li><li>Move money</li></ul>'
      : '<ul><li>View your accounts, positions and balances</li><li>Get market data</li><li>Place orders</li></ul>';
  return layout(
    flavor,
    'Allow access',
    `<h1>Allow access?</h1>
<p>Signed in as <strong>${escapeHtml(username)}</strong>.</p>
<p>The application <code>${escapeHtml(form.clientId)}</code> wants to:</p>
${grants}
<p class="muted">You will be sent back to <code>${escapeHtml(callbackHost)}</code>.</p>
<form method="post" action="${escapeHtml(form.action)}">
  <input type="hidden" name="request" value="${escapeHtml(form.requestId)}">
  <div class="actions">
    <button type="submit" id="deny" name="decision" value="deny" class="secondary">Deny</button>
    <button type="submit" id="allow" name="decision" value="allow">Allow</button>
  </div>
</form>
<p class="muted" style="margin-top:18px">${brand.name} sandbox: nothing here touches a real account.</p>`,
  );
}

/** The sentence TD showed for a client id or redirect URI that does not match the app. */
export const TD_UNAUTHORIZED_TEXT =
  'A third-party application may be attempting to make unauthorized access to your account.';

/** TD's page for a client id or redirect URI mismatch. */
export function tdUnauthorizedPage(): string {
  return layout(
    'tdameritrade',
    'Unauthorized',
    `<h1>Security alert</h1>
<p class="error" role="alert">${TD_UNAUTHORIZED_TEXT}</p>
<p class="muted">Check that the application's consumer key (with <code>@AMER.OAUTHAP</code>) and callback URL match the registered app exactly.</p>`,
  );
}

/** Schwab's "Access Denied" page (an edge server's answer, as the real one looks). */
export function accessDeniedPage(reference: string): string {
  return `<HTML><HEAD>
<TITLE>Access Denied</TITLE>
</HEAD><BODY>
<H1>Access Denied</H1>

You don't have permission to access this resource on this server.<P>
Reference&#32;&#35;${escapeHtml(reference)}
</BODY>
</HTML>
`;
}

/** What Schwab shows for an app still "Approved - Pending" (not yet "Ready For Use"). */
export const APP_NOT_READY_TEXT =
  'We are unable to complete your request. Please contact customer service for further assistance.';

/** Schwab's page for an authorize request of an app that is not ready for use yet. */
export function appNotReadyPage(): string {
  return layout(
    'schwab',
    'Error',
    `<h1>Error</h1>\n<p class="error" role="alert">${APP_NOT_READY_TEXT}</p>`,
  );
}

/** A page for a login request that is unknown, already answered, or too old. */
export function loginExpiredPage(flavor: SandboxFlavor): string {
  return layout(
    flavor,
    'Session expired',
    `<h1>This login has expired</h1>
<p class="error" role="alert">The login request is unknown, already answered, or too old.</p>
<p class="muted">Start the login again from the application.</p>`,
  );
}

/** A generic provider error page, served where JSON was expected. */
export function providerErrorPage(flavor: SandboxFlavor): string {
  return layout(
    flavor,
    'Error',
    `<h1>We're sorry</h1>
<p>The service is temporarily unavailable. Please try again later.</p>`,
  );
}

/** The sandbox's front page: what it is and its endpoints. */
export function indexPage(
  flavor: SandboxFlavor,
  endpoints: { authorizeUrl: string; tokenUrl: string; apiPaths: string[] },
  apps: { clientId: string; redirectUris: string[] }[],
): string {
  const appList = apps
    .map(
      (app) =>
        `<li><code>${escapeHtml(app.clientId)}</code> &rarr; ${app.redirectUris
          .map((uri) => `<code>${escapeHtml(uri)}</code>`)
          .join(', ')}</li>`,
    )
    .join('');
  return layout(
    flavor,
    'Sandbox',
    `<h1>Provider sandbox</h1>
<p>A local emulator of the ${BRAND[flavor].name} OAuth server and a few API endpoints.</p>
<p><strong>Authorize:</strong> <code>${escapeHtml(endpoints.authorizeUrl)}</code></p>
<p><strong>Token:</strong> <code>${escapeHtml(endpoints.tokenUrl)}</code></p>
<p><strong>API:</strong> ${endpoints.apiPaths.map((path) => `<code>${escapeHtml(path)}</code>`).join(' ')}</p>
<p><strong>Registered apps:</strong></p><ul>${appList}</ul>`,
  );
}
