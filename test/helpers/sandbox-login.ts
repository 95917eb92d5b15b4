/**
 * Drives the sandbox's browser login (login page, then consent page) over HTTP forms, the
 * way a person would, and returns where the sandbox redirects: the app's callback URL.
 *
 * Plain-HTTP sandboxes use the global `fetch` with `redirect: 'manual'`. For an HTTPS sandbox,
 * pass its certificate as `ca` (`sandbox.certificate`); without it the request trusts any
 * certificate, which this helper allows only for loopback hosts. A custom `fetch` (for
 * example one with an undici dispatcher) can be passed instead and is then used for everything.
 */

import { request as httpsRequest } from 'node:https';

/** Options of {@link approveInSandbox}. */
export interface ApproveOptions {
  /** Press "Deny" instead of "Allow". */
  deny?: boolean;
  /** User id typed into the login page. Default `sandbox-user`. */
  username?: string;
  /** Password typed into the login page. Default `sandbox-password`. */
  password?: string;
  /** PEM certificate to trust for an HTTPS sandbox. */
  ca?: string;
  /** Used for every request instead of the built-in one. */
  fetch?: typeof fetch;
}

interface PageResponse {
  status: number;
  location: string | null;
  body: string;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/i;

function requestOverHttps(
  url: URL,
  init: { method: string; body?: string; ca?: string },
): Promise<PageResponse> {
  if (init.ca === undefined && !LOOPBACK.test(url.hostname)) {
    throw new Error(`refusing to skip certificate checks for ${url.host}; pass "ca"`);
  }
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Accept: 'text/html' };
    if (init.body !== undefined) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      headers['Content-Length'] = String(Buffer.byteLength(init.body));
    }
    const req = httpsRequest(
      url,
      {
        method: init.method,
        headers,
        agent: false,
        ...(init.ca === undefined ? { rejectUnauthorized: false } : { ca: init.ca }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            location: typeof res.headers.location === 'string' ? res.headers.location : null,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

async function load(
  url: URL,
  init: { method: string; body?: string },
  options: ApproveOptions,
): Promise<PageResponse> {
  if (options.fetch === undefined && url.protocol === 'https:') {
    return requestOverHttps(url, {
      ...init,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
  }
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(url, {
    method: init.method,
    redirect: 'manual',
    headers:
      init.body === undefined
        ? { Accept: 'text/html' }
        : { Accept: 'text/html', 'Content-Type': 'application/x-www-form-urlencoded' },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  return {
    status: response.status,
    location: response.headers.get('location'),
    body: await response.text(),
  };
}

function unescapeHtml(text: string): string {
  return text
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\s${name}="([^"]*)"`, 'i').exec(tag);
  return match?.[1] === undefined ? undefined : unescapeHtml(match[1]);
}

/** The page's form: where it posts and its hidden fields. */
function readForm(
  html: string,
  pageUrl: URL,
): { action: URL; fields: [string, string][] } | undefined {
  const formTag = /<form\b[^>]*>/i.exec(html)?.[0];
  if (formTag === undefined) return undefined;
  const action = new URL(attribute(formTag, 'action') ?? '', pageUrl);
  const fields: [string, string][] = [];
  for (const match of html.matchAll(/<input\b[^>]*>/gi)) {
    const tag = match[0];
    if (attribute(tag, 'type') !== 'hidden') continue;
    const name = attribute(tag, 'name');
    if (name !== undefined) fields.push([name, attribute(tag, 'value') ?? '']);
  }
  return { action, fields };
}

function pageText(html: string): string {
  return unescapeHtml(html.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

function unexpected(step: string, page: PageResponse): Error {
  return new Error(`sandbox ${step} answered ${page.status}: ${pageText(page.body)}`);
}

/**
 * Opens `authorizeUrl`, logs in, presses Allow (or Deny), and returns the redirect's
 * `Location`: the callback URL with `code` (and Schwab's `session`) or `error`, plus `state`.
 * A redirect straight from the authorize request (an error the sandbox sends back to the
 * callback) is returned as is. Any other answer (an error page) throws, quoting the page.
 *
 * @example
 * ```ts
 * const { url, state } = createAuthorizationRequest(provider);
 * const callback = await approveInSandbox(url);
 * ```
 */
export async function approveInSandbox(
  authorizeUrl: string | URL,
  options: ApproveOptions = {},
): Promise<string> {
  const start = new URL(authorizeUrl);
  const first = await load(start, { method: 'GET' }, options);
  if (first.status >= 300 && first.status < 400 && first.location !== null) return first.location;
  const loginForm = first.status === 200 ? readForm(first.body, start) : undefined;
  if (loginForm === undefined) throw unexpected('authorize', first);

  const login = new URLSearchParams(loginForm.fields);
  login.set('username', options.username ?? 'sandbox-user');
  login.set('password', options.password ?? 'sandbox-password');
  const second = await load(loginForm.action, { method: 'POST', body: login.toString() }, options);
  const consentForm = second.status === 200 ? readForm(second.body, loginForm.action) : undefined;
  if (consentForm === undefined || !/\bid="allow"/.test(second.body)) {
    throw unexpected('login', second);
  }

  const consent = new URLSearchParams(consentForm.fields);
  consent.set('decision', options.deny === true ? 'deny' : 'allow');
  const third = await load(
    consentForm.action,
    { method: 'POST', body: consent.toString() },
    options,
  );
  if (third.status < 300 || third.status >= 400 || third.location === null) {
    throw unexpected('consent', third);
  }
  return third.location;
}
