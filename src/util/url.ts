/**
 * URL checks shared by the providers and the login server: which hosts are loopback, and the rule
 * that plain `http://` is allowed only there.
 *
 * @module
 */
import { ConfigError } from '../errors.js';

const IPV4_LIKE = /^[0-9a-fx.]+$/i;

/**
 * True for a host that can only mean this machine: `localhost`, any address in `127.0.0.0/8`,
 * `::1` (with or without brackets), and IPv4-mapped `::ffff:127.x.x.x`. Other names are not
 * loopback, even when they resolve there.
 *
 * @example
 * isLoopbackHost('127.0.0.1'); // true
 * isLoopbackHost('[::1]'); // true
 * isLoopbackHost('example.com'); // false
 */
export function isLoopbackHost(hostname: string): boolean {
  if (typeof hostname !== 'string') throw new TypeError('"hostname" must be a string');
  let host = hostname.trim().toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === 'localhost') return true;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.includes(':')) {
    if (!/^[0-9a-f:.]+$/.test(host)) return false;
    let normal: string;
    try {
      normal = new URL(`http://[${host}]/`).hostname.slice(1, -1);
    } catch {
      return false;
    }
    if (normal === '::1') return true;
    const mapped = /^::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(normal);
    return mapped !== null && Number.parseInt(mapped[1] ?? '0', 16) >> 8 === 127;
  }
  if (!IPV4_LIKE.test(host)) return false;
  let normal: string;
  try {
    normal = new URL(`http://${host}/`).hostname;
  } catch {
    return false;
  }
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(normal);
}

/** A URL as shown in messages: no credentials, no query, no fragment. */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/**
 * Parse `url` and require https, except plain http on a loopback host. `name` says which URL this
 * is in the error message (`token URL`, `redirect URI`, ...).
 *
 * @throws ConfigError (`invalid_config`) for a URL that does not parse, carries credentials, or
 *   uses plain http (or any other scheme) on a host that is not loopback.
 * @example
 * assertSecureUrl('http://127.0.0.1:8080/token', 'token URL'); // ok
 * assertSecureUrl('http://example.com/token', 'token URL'); // throws ConfigError
 */
export function assertSecureUrl(url: string, name: string): URL {
  if (typeof url !== 'string') throw new TypeError('"url" must be a string');
  if (typeof name !== 'string') throw new TypeError('"name" must be a string');
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch (cause) {
    const shown = url.length > 80 ? `${url.slice(0, 80)}…` : url;
    throw new ConfigError(
      `the ${name} "${shown}" is not a valid URL. give an absolute URL such as https://example.com/path`,
      { cause },
    );
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new ConfigError(
      `the ${name} ${displayUrl(parsed)} carries a user name or password. remove the "user:password@" part`,
    );
  }
  if (parsed.protocol === 'https:') return parsed;
  const secure = `https://${parsed.host}${parsed.pathname}${parsed.search}`;
  if (parsed.protocol === 'http:') {
    if (isLoopbackHost(parsed.hostname)) return parsed;
    throw new ConfigError(
      `the ${name} ${displayUrl(parsed)} uses plain http, which is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost). use ${secure} instead`,
    );
  }
  throw new ConfigError(
    `the ${name} ${displayUrl(parsed)} must be an https:// URL. use ${parsed.host === '' ? 'an https:// URL' : secure} instead`,
  );
}

/**
 * Join an API base (which may carry a path, e.g. a proxy's `https://proxy/td`) and a path.
 *
 * @example
 * joinUrl('https://proxy.example/td', '/v1/accounts').href; // https://proxy.example/td/v1/accounts
 */
export function joinUrl(base: string, path: string): URL {
  const root = new URL(base);
  root.search = '';
  root.hash = '';
  const prefix = root.pathname.endsWith('/') ? root.pathname : `${root.pathname}/`;
  root.pathname = prefix + path.replace(/^\/+/, '');
  return root;
}
