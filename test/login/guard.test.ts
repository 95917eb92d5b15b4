/**
 * The loopback guards as pure functions: no socket, only a request's method, headers and URL.
 * The login server's tests check the same rules over real HTTPS.
 */
import { describe, expect, it } from 'vitest';
import {
  allowedHost,
  bearerMatches,
  carriesSecret,
  hostAllowList,
  navigationRefusal,
  originAllowList,
  postRefusal,
  secretsEqual,
  securityHeaders,
} from '../../src/login/guard.js';

const SECRET = 'Zt3Q8f1dW6yq0m1h9kE2v7nB4xR5sJ8aL0cP3uG6iY9';

describe('secretsEqual', () => {
  it('is true only for the same secret, whatever the lengths', () => {
    expect(secretsEqual(SECRET, SECRET)).toBe(true);
    expect(secretsEqual(`${SECRET.slice(0, -1)}x`, SECRET)).toBe(false);
    expect(secretsEqual(SECRET.slice(0, -1), SECRET)).toBe(false);
    expect(secretsEqual(`${SECRET}a`, SECRET)).toBe(false);
    expect(secretsEqual('', SECRET)).toBe(false);
    expect(secretsEqual('', '')).toBe(true);
  });

  it('checks its arguments', () => {
    expect(() => secretsEqual(undefined as unknown as string, SECRET)).toThrow(
      new TypeError('"given" must be a string'),
    );
    expect(() => secretsEqual(SECRET, 1 as unknown as string)).toThrow(
      new TypeError('"expected" must be a string'),
    );
  });
});

describe('carriesSecret', () => {
  it('reads the first ?secret= of the address', () => {
    expect(carriesSecret(new URL(`https://127.0.0.1:8182/login?secret=${SECRET}`), SECRET)).toBe(
      true,
    );
    expect(carriesSecret(new URL('https://127.0.0.1:8182/login'), SECRET)).toBe(false);
    expect(carriesSecret(new URL('https://127.0.0.1:8182/login?secret='), SECRET)).toBe(false);
    expect(
      carriesSecret(new URL(`https://127.0.0.1:8182/?secret=x&secret=${SECRET}`), SECRET),
    ).toBe(false);
  });
});

describe('bearerMatches', () => {
  it('accepts exactly `Bearer <secret>`, the scheme in any case', () => {
    expect(bearerMatches(`Bearer ${SECRET}`, SECRET)).toBe(true);
    expect(bearerMatches(`bearer ${SECRET}`, SECRET)).toBe(true);
    expect(bearerMatches(`BEARER  ${SECRET} `, SECRET)).toBe(true);
  });

  it('refuses another secret, scheme or shape, and no header', () => {
    expect(bearerMatches(`Bearer ${SECRET.slice(0, -1)}`, SECRET)).toBe(false);
    expect(bearerMatches(`Bearer ${SECRET}x`, SECRET)).toBe(false);
    expect(bearerMatches(`Basic ${SECRET}`, SECRET)).toBe(false);
    expect(bearerMatches(SECRET, SECRET)).toBe(false);
    expect(bearerMatches(`Bearer ${SECRET} extra`, SECRET)).toBe(false);
    expect(bearerMatches('Bearer', SECRET)).toBe(false);
    expect(bearerMatches(undefined, SECRET)).toBe(false);
    expect(bearerMatches([`Bearer ${SECRET}`, `Bearer ${SECRET}`], SECRET)).toBe(false);
  });

  it('needs a secret to compare with', () => {
    expect(() => bearerMatches('Bearer ', '')).toThrow(
      new TypeError('"secret" must be a non-empty string'),
    );
  });
});

describe('hostAllowList and allowedHost', () => {
  it('allows each name with the port, and bare only on the default port', () => {
    const hosts = hostAllowList(['localhost', '127.0.0.1', '[::1]'], 8182, 443);
    expect([...hosts]).toEqual(['localhost:8182', '127.0.0.1:8182', '[::1]:8182']);
    const https = hostAllowList(['127.0.0.1'], 443, 443);
    expect([...https]).toEqual(['127.0.0.1:443', '127.0.0.1']);
  });

  it('refuses a foreign or missing Host (DNS rebinding), case aside', () => {
    const hosts = hostAllowList(['localhost', '127.0.0.1'], 8182);
    expect(allowedHost('127.0.0.1:8182', hosts)).toBe(true);
    expect(allowedHost('LOCALHOST:8182', hosts)).toBe(true);
    expect(allowedHost('attacker.example:8182', hosts)).toBe(false);
    expect(allowedHost('127.0.0.1.nip.io:8182', hosts)).toBe(false);
    expect(allowedHost('127.0.0.1:8183', hosts)).toBe(false);
    expect(allowedHost('127.0.0.1', hosts)).toBe(false);
    expect(allowedHost('', hosts)).toBe(false);
    expect(allowedHost(undefined, hosts)).toBe(false);
  });

  it('checks its arguments', () => {
    expect(() => hostAllowList(['localhost'], 70_000)).toThrow(
      new TypeError('"port" must be a port number'),
    );
    expect(() => hostAllowList('localhost' as unknown as string[], 1)).toThrow(
      new TypeError('"names" must be an array of host names'),
    );
  });
});

describe('originAllowList', () => {
  it('writes each origin as a browser sends it', () => {
    expect([...originAllowList('https:', ['localhost', '[::1]'], 8182, 443)]).toEqual([
      'https://localhost:8182',
      'https://[::1]:8182',
    ]);
    expect([...originAllowList('https:', ['127.0.0.1'], 443, 443)]).toEqual(['https://127.0.0.1']);
  });
});

describe('navigationRefusal', () => {
  it("lets the person's own top-level navigation start a login", () => {
    const opened = {
      'sec-fetch-mode': 'navigate',
      'sec-fetch-dest': 'document',
      'sec-fetch-site': 'none',
    };
    expect(navigationRefusal({ method: 'GET', headers: opened })).toBeUndefined();
    expect(
      navigationRefusal({ headers: { ...opened, 'sec-fetch-site': 'same-origin' } }),
    ).toBeUndefined();
    // Not a browser: the per-run secret guards it instead.
    expect(navigationRefusal({ headers: {} })).toBeUndefined();
  });

  it('refuses frames, scripts, images and other sites, naming the header', () => {
    expect(navigationRefusal({ headers: { 'sec-fetch-dest': 'iframe' } })).toBe(
      'Sec-Fetch-Dest: iframe',
    );
    expect(navigationRefusal({ headers: { 'sec-fetch-mode': 'cors' } })).toBe(
      'Sec-Fetch-Mode: cors',
    );
    expect(navigationRefusal({ headers: { 'sec-fetch-mode': 'no-cors' } })).toBe(
      'Sec-Fetch-Mode: no-cors',
    );
    expect(navigationRefusal({ headers: { 'sec-fetch-site': 'cross-site' } })).toBe(
      'Sec-Fetch-Site: cross-site',
    );
    expect(navigationRefusal({ headers: { 'sec-fetch-site': 'same-site' } })).toBe(
      'Sec-Fetch-Site: same-site',
    );
  });
});

describe('postRefusal', () => {
  const allowedOrigins = originAllowList('https:', ['localhost', '127.0.0.1'], 8182);
  const expected = { secret: SECRET, allowedOrigins };
  const post = (headers: Record<string, string>) => ({ method: 'POST', headers });

  it('lets a POST with the secret from a page of this server through', () => {
    expect(postRefusal(post({}), SECRET, expected)).toBeUndefined();
    expect(
      postRefusal(
        post({ origin: 'https://127.0.0.1:8182', 'sec-fetch-site': 'same-origin' }),
        SECRET,
        expected,
      ),
    ).toBeUndefined();
    // A form on a no-referrer page sends Origin: null; Sec-Fetch-Site vouches for it.
    expect(
      postRefusal(post({ origin: 'null', 'sec-fetch-site': 'same-origin' }), SECRET, expected),
    ).toBeUndefined();
  });

  it('refuses another method, another origin, and a missing or wrong secret', () => {
    expect(postRefusal({ method: 'GET', headers: {} }, SECRET, expected)).toBe('not_post');
    expect(postRefusal({ headers: {} }, SECRET, expected)).toBe('not_post');
    expect(postRefusal(post({ origin: 'https://attacker.example' }), SECRET, expected)).toBe(
      'foreign',
    );
    expect(postRefusal(post({ origin: 'null' }), SECRET, expected)).toBe('foreign');
    expect(postRefusal(post({ 'sec-fetch-site': 'cross-site' }), SECRET, expected)).toBe('foreign');
    expect(postRefusal(post({ 'sec-fetch-site': 'same-site' }), SECRET, expected)).toBe('foreign');
    expect(postRefusal(post({}), undefined, expected)).toBe('no_secret');
    expect(postRefusal(post({}), `${SECRET}x`, expected)).toBe('no_secret');
  });
});

describe('securityHeaders', () => {
  it('forbids scripts, frames, foreign forms, referrers and caching', () => {
    const headers = securityHeaders();
    expect(headers['Content-Security-Policy']).toBe(
      "default-src 'none'; img-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(headers).toMatchObject({
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Resource-Policy': 'same-origin',
    });
  });

  it('allows the given style hash and one more form target', () => {
    const csp = securityHeaders({
      styleSrc: "'sha256-abc='",
      formAction: 'https://api.schwabapi.com',
    })['Content-Security-Policy'];
    expect(csp).toBe(
      "default-src 'none'; style-src 'sha256-abc='; img-src 'none'; form-action 'self' https://api.schwabapi.com; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(csp).not.toContain('script-src');
  });
});
