/**
 * The guards of td-token's loopback HTTP surfaces, as pure functions over a request's method,
 * headers and URL (no socket, no state): the `Host` allow-list against DNS rebinding, a per-run
 * secret compared in constant time (in the address, a form or an `Authorization: Bearer`
 * header), the Fetch Metadata check that only a person's own top-level navigation starts a login,
 * the check that a state-changing POST came from a page of the same server, and the security
 * headers every answer carries. The login server uses them; any other loopback surface (a token
 * agent, a re-login page) can guard itself with the same functions.
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Request headers as Node gives them (`IncomingMessage['headers']` fits). */
export type GuardHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** What the guards look at in a request (`IncomingMessage` fits). */
export interface GuardRequest {
  method?: string | undefined;
  headers: GuardHeaders;
}

/**
 * Whether `given` equals `expected`, compared in constant time: both are hashed with SHA-256
 * first, so neither the content nor the length of the expected secret leaks through timing.
 *
 * @example
 * secretsEqual(form.get('secret') ?? '', secret); // true only for the exact secret
 */
export function secretsEqual(given: string, expected: string): boolean {
  if (typeof given !== 'string') throw new TypeError('"given" must be a string');
  if (typeof expected !== 'string') throw new TypeError('"expected" must be a string');
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Whether an address carries the per-run secret as `?secret=` (the first one counts).
 *
 * @example
 * carriesSecret(new URL('https://127.0.0.1:8182/login?secret=abc'), 'abc'); // true
 */
export function carriesSecret(url: URL, secret: string): boolean {
  const given = url.searchParams.get('secret');
  return given !== null && secretsEqual(given, secret);
}

/**
 * Whether an `Authorization` header is `Bearer <secret>` for exactly this secret, compared in
 * constant time. The scheme is case-insensitive; anything else (no header, another scheme,
 * several headers, extra words) is false.
 *
 * @example
 * bearerMatches(req.headers.authorization, secret);
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
export function bearerMatches(
  authorization: string | readonly string[] | undefined,
  secret: string,
): boolean {
  if (typeof secret !== 'string' || secret === '') {
    throw new TypeError('"secret" must be a non-empty string');
  }
  if (typeof authorization !== 'string') return false;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  return match !== null && secretsEqual(match[1] ?? '', secret);
}

/**
 * The `Host` header values a server listening on `port` may be addressed by: each name with the
 * port, and the bare name too when `port` is the scheme's default. Names are lowercase, IPv6
 * addresses in brackets (`[::1]`).
 *
 * @example
 * hostAllowList(['localhost', '127.0.0.1'], 8182); // Set { 'localhost:8182', '127.0.0.1:8182' }
 * hostAllowList(['127.0.0.1'], 443, 443); // Set { '127.0.0.1:443', '127.0.0.1' }
 */
export function hostAllowList(
  names: readonly string[],
  port: number,
  defaultPort?: number,
): Set<string> {
  if (!Array.isArray(names)) throw new TypeError('"names" must be an array of host names');
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError('"port" must be a port number');
  }
  const allowed = new Set<string>();
  for (const name of names) {
    const host = name.toLowerCase();
    allowed.add(`${host}:${port}`);
    if (port === defaultPort) allowed.add(host);
  }
  return allowed;
}

/**
 * Whether a request's `Host` header names this server (one of `allowedHosts`, compared without
 * case). Anything else, or no `Host` at all, is refused: a page elsewhere whose name was made to
 * resolve to 127.0.0.1 (DNS rebinding) still sends its own name.
 *
 * @example
 * allowedHost(req.headers.host, hostAllowList(['127.0.0.1'], 8182));
 */
export function allowedHost(
  hostHeader: string | readonly string[] | undefined,
  allowedHosts: ReadonlySet<string>,
): boolean {
  if (typeof hostHeader !== 'string') return false;
  return allowedHosts.has(hostHeader.toLowerCase());
}

/**
 * The origins (`https://127.0.0.1:8182`) of a server reachable by `names` on `port`, for the
 * `Origin` check of {@link postRefusal}.
 *
 * @example
 * originAllowList('https:', ['localhost'], 8182); // Set { 'https://localhost:8182' }
 */
export function originAllowList(
  protocol: string,
  names: readonly string[],
  port: number,
  defaultPort?: number,
): Set<string> {
  const suffix = port === defaultPort ? '' : `:${port}`;
  return new Set(names.map((name) => `${protocol}//${name.toLowerCase()}${suffix}`));
}

function header(headers: GuardHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}

/**
 * Why a request may not start a login, or undefined when it may: by Fetch Metadata (sent by every
 * current browser, unforgeable by pages), only a top-level navigation (`Sec-Fetch-Mode:
 * navigate`, `Sec-Fetch-Dest: document`) that the person made (`Sec-Fetch-Site: none`, the
 * address opened) or made from this server's own page (`same-origin`). Another site's link, form
 * or window, a frame, an image or a fetch is refused. A request without these headers (not a
 * browser) is not refused here: the per-run secret guards it.
 *
 * @example
 * navigationRefusal({ headers: { 'sec-fetch-dest': 'iframe' } }); // 'Sec-Fetch-Dest: iframe'
 * @see https://www.w3.org/TR/fetch-metadata/
 */
export function navigationRefusal(request: GuardRequest): string | undefined {
  const mode = header(request.headers, 'sec-fetch-mode');
  const dest = header(request.headers, 'sec-fetch-dest');
  const site = header(request.headers, 'sec-fetch-site');
  if (mode !== undefined && mode !== 'navigate') return `Sec-Fetch-Mode: ${mode}`;
  if (dest !== undefined && dest !== 'document') return `Sec-Fetch-Dest: ${dest}`;
  if (site !== undefined && site !== 'none' && site !== 'same-origin') {
    return `Sec-Fetch-Site: ${site}`;
  }
  return undefined;
}

/** Why a state-changing request was refused by {@link postRefusal}. */
export type PostRefusal = 'not_post' | 'foreign' | 'no_secret';

/**
 * Why a request that changes state (log in, refresh, stop) is refused, or undefined when it may
 * go ahead: it must be a POST (`not_post`), come from a page of this server (`foreign`: its
 * `Origin` is another, or its `Sec-Fetch-Site` is not `same-origin`/`none`; browsers send
 * `Origin: null` for a form POST from a no-referrer page, then `Sec-Fetch-Site` must say
 * `same-origin`), and carry the per-run secret in its form (`no_secret`, compared in constant
 * time).
 *
 * @example
 * postRefusal(req, form.get('secret') ?? undefined, { secret, allowedOrigins }); // undefined: go ahead
 */
export function postRefusal(
  request: GuardRequest,
  formSecret: string | undefined,
  expected: { secret: string; allowedOrigins: ReadonlySet<string> },
): PostRefusal | undefined {
  if (request.method !== 'POST') return 'not_post';
  const origin = header(request.headers, 'origin');
  const site = header(request.headers, 'sec-fetch-site');
  const originOk =
    origin === undefined ||
    expected.allowedOrigins.has(origin) ||
    (origin === 'null' && site === 'same-origin');
  const siteOk = site === undefined || site === 'same-origin' || site === 'none';
  // The secret is compared whatever the other checks found, so that timing tells nothing.
  const secretOk = secretsEqual(formSecret ?? '', expected.secret);
  if (!originOk || !siteOk) return 'foreign';
  return secretOk ? undefined : 'no_secret';
}

/** Options of {@link securityHeaders}. */
export interface SecurityHeaderOptions {
  /** The CSP source allowed for inline styles (a `'sha256-...'` hash); none by default. */
  styleSrc?: string | undefined;
  /**
   * Another origin forms may lead to: browsers check `form-action` against every redirect a form
   * POST leads to, so a button answered with a redirect to the provider needs the provider's.
   */
  formAction?: string | undefined;
}

/**
 * The headers every answer of a loopback surface carries: a Content-Security-Policy that allows
 * no script, frame, image or foreign form target, no framing, no referrer, no caching, no MIME
 * sniffing, and same-origin opener and resource policies.
 *
 * @example
 * res.writeHead(200, { ...securityHeaders({ styleSrc: STYLE_HASH }), 'Content-Type': 'text/html' });
 */
export function securityHeaders(options: SecurityHeaderOptions = {}): Record<string, string> {
  const style = options.styleSrc === undefined ? '' : ` style-src ${options.styleSrc};`;
  const formAction =
    options.formAction === undefined || options.formAction === '' ? '' : ` ${options.formAction}`;
  return {
    'Content-Security-Policy': `default-src 'none';${style} img-src 'none'; form-action 'self'${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}
