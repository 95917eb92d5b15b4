/**
 * The redirect URI by its shape: what each provider needs of the callback it compares exactly
 * with the registered one (scheme and host case, trailing slash, port, `localhost` versus
 * `127.0.0.1`, https), and the near variants a registration may differ by.
 *
 * @module
 */
import type { ProviderName } from '../providers/types.js';
import { type CheckResult, fail, pass } from './types.js';

const NAME = 'redirect-uri';

/** Whether a host name is this computer. */
function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The scheme and host exactly as written (URL parsing lowercases them). */
function writtenAuthority(uri: string): { scheme: string; host: string } {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#:]*)/.exec(uri);
  return { scheme: match?.[1] ?? '', host: match?.[2] ?? '' };
}

/**
 * Checks the configured redirect URI by its shape for `protocol`. It cannot know what the app
 * registered (the authorize probe asks the provider); it finds what can never work.
 */
export function checkRedirectShape(protocol: ProviderName, redirectUri: string): CheckResult {
  if (!URL.canParse(redirectUri)) {
    return fail(
      NAME,
      `the redirect URI "${redirectUri}" is not a URL`,
      'set it to the callback URL registered with your app, exactly as registered: --redirect-uri https://127.0.0.1:8182 (or TD_TOKEN_REDIRECT_URI)',
    );
  }
  const url = new URL(redirectUri);
  const written = writtenAuthority(redirectUri);
  const problems: string[] = [];
  const fixes: string[] = [];
  if (
    written.scheme !== written.scheme.toLowerCase() ||
    written.host !== written.host.toLowerCase()
  ) {
    problems.push(`its scheme or host has capitals (${written.scheme}://${written.host})`);
    fixes.push(
      'providers compare the callback as a string: write it in lower case here and in the app registration',
    );
  }
  if (url.hash !== '') {
    problems.push('it has a #fragment, which a redirect URI may not have (RFC 6749 3.1.2)');
    fixes.push('drop the #fragment');
  }
  if (protocol === 'schwab') {
    if (url.protocol !== 'https:') {
      problems.push('Schwab accepts only https callbacks');
      fixes.push(`use https://${url.host}${url.pathname === '/' ? '' : url.pathname}`);
    }
    if (url.hostname.toLowerCase() === 'localhost') {
      problems.push('Schwab refuses localhost: its callbacks must use the address 127.0.0.1');
      fixes.push('register and use https://127.0.0.1:8182 (or your port) instead of localhost');
    } else if (url.hostname !== '127.0.0.1' && isLoopback(url.hostname)) {
      problems.push(`Schwab's callbacks must use the host 127.0.0.1, not ${url.hostname}`);
      fixes.push('register and use https://127.0.0.1:8182');
    }
  } else if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    problems.push('it is neither https nor plain http on this computer');
    fixes.push('use an https callback (or http://localhost:PORT where the provider allows it)');
  }
  if (problems.length > 0) {
    return fail(NAME, `${url.href}: ${problems.join('; ')}`, fixes.join('; '));
  }
  const notes: string[] = [];
  if (isLoopback(url.hostname)) {
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    notes.push(`the login server will listen on ${url.hostname} port ${port}`);
  } else {
    notes.push(
      "it is not on this computer, so 'td-token login' cannot receive the callback itself: use 'td-token login --print-url' and '--callback-url'",
    );
  }
  const slash = url.pathname === '/' && !redirectUri.endsWith('/') ? 'no trailing slash' : '';
  return pass(
    NAME,
    `${redirectUri} (${[slash, ...notes].filter((n) => n !== '').join('; ')}); it must match the registered one character for character`,
  );
}

/**
 * Near variants of a redirect URI that a registration often differs by: a trailing slash added
 * or removed, lower case, and `localhost` swapped for `127.0.0.1` (and back). Distinct from it
 * and from each other, at most four.
 */
export function redirectVariants(redirectUri: string): string[] {
  const out = new Set<string>();
  if (redirectUri.endsWith('/')) out.add(redirectUri.slice(0, -1));
  else out.add(`${redirectUri}/`);
  out.add(redirectUri.toLowerCase());
  if (/\/\/localhost(?=[:/]|$)/i.test(redirectUri)) {
    out.add(redirectUri.replace(/\/\/localhost(?=[:/]|$)/i, '//127.0.0.1'));
  } else if (/\/\/127\.0\.0\.1(?=[:/]|$)/.test(redirectUri)) {
    out.add(redirectUri.replace(/\/\/127\.0\.0\.1(?=[:/]|$)/, '//localhost'));
  }
  out.delete(redirectUri);
  return [...out].filter((uri) => URL.canParse(uri)).slice(0, 4);
}
