/**
 * Where the login server listens and what it answers to: the redirect URI checked (a loopback
 * host, http or https, a port), the loopback addresses its host stands for, and the site a
 * request must address (its origin, the callback path, the `Host` names and origins allowed).
 *
 * @module
 */
import { ConfigError } from '../errors.js';
import { hostAllowList, originAllowList } from './guard.js';

/** The redirect URI as the login server serves it. */
export interface LoginTarget {
  url: URL;
  /** The loopback addresses to listen on. */
  hosts: string[];
  port: number;
  /** https (with a certificate) rather than http. */
  secure: boolean;
}

/** Where the login server is reached, and the names it answers to. */
export interface LoginSite {
  /** The redirect URI's origin, e.g. `https://127.0.0.1:8182`. */
  origin: string;
  /** The path the provider redirects back to. */
  callbackPath: string;
  /** The host names a request may be addressed to, for the wrong-host page. */
  hostNames: readonly string[];
  /** `Host` header values allowed (see {@link hostAllowList}). */
  allowedHosts: ReadonlySet<string>;
  /** Origins a POST may come from. */
  allowedOrigins: ReadonlySet<string>;
}

/** An IPv4 address in 127.0.0.0/8, written as four decimal parts. */
const LOOPBACK_V4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * The hosts to bind for a redirect URI host, or undefined when it is not loopback: both
 * 127.0.0.1 and ::1 for `localhost`, else the address itself (any of 127.0.0.0/8, or ::1).
 *
 * @example
 * loopbackBindHosts('localhost'); // ['127.0.0.1', '::1']
 * loopbackBindHosts('127.0.0.2'); // ['127.0.0.2']
 * loopbackBindHosts('example.com'); // undefined
 */
export function loopbackBindHosts(hostname: string): string[] | undefined {
  const host = hostname.toLowerCase();
  switch (host) {
    case 'localhost':
      return ['127.0.0.1', '::1'];
    case '[::1]':
    case '::1':
      return ['::1'];
    default: {
      const parts = LOOPBACK_V4.exec(host);
      if (parts === null) return undefined;
      const octets = parts.slice(1).map(Number);
      if (octets.some((n) => n > 255)) return undefined;
      return [`127.${octets.join('.')}`];
    }
  }
}

/** Parse and check the redirect URI: loopback host, http(s), a port. */
export function redirectTarget(redirectUri: string): LoginTarget {
  let url: URL;
  try {
    url = new URL(redirectUri);
  } catch (cause) {
    throw new ConfigError(
      `the redirect URI "${redirectUri}" is not a URL. give the callback URL registered with your app, e.g. --redirect-uri https://127.0.0.1:8182`,
      { cause },
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(
      `the redirect URI ${url.href} is not an https URL. give the callback URL registered with your app, e.g. --redirect-uri https://127.0.0.1:8182`,
    );
  }
  const hosts = loopbackBindHosts(url.hostname);
  if (hosts === undefined) {
    throw new ConfigError(
      `the redirect URI ${url.href} does not point at this computer (its host must be localhost, [::1] or an address in 127.0.0.0/8 such as 127.0.0.1), so the login server cannot receive the callback. register a loopback redirect URI with your app (e.g. https://127.0.0.1:8182) and pass it with --redirect-uri, or use 'td-token login --manual'`,
    );
  }
  const secure = url.protocol === 'https:';
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  return { url, hosts, port, secure };
}

/**
 * The site of a login server on `target`: a request may address it as `localhost`, `127.0.0.1`,
 * `[::1]` or the redirect URI's own host, with its port; anything else is DNS rebinding.
 */
export function loginSite(target: LoginTarget): LoginSite {
  const defaultPort = target.secure ? 443 : 80;
  const hostNames = [...new Set(['localhost', '127.0.0.1', '[::1]', target.url.hostname])];
  return {
    origin: target.url.origin,
    callbackPath: target.url.pathname || '/',
    hostNames,
    allowedHosts: hostAllowList(hostNames, target.port, defaultPort),
    allowedOrigins: originAllowList(target.url.protocol, hostNames, target.port, defaultPort),
  };
}
