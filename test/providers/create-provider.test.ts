import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { createProvider, PROVIDER_DEFAULTS } from '../../src/providers/index.js';

describe('createProvider', () => {
  it('fills production endpoints and the redirect URI from PROVIDER_DEFAULTS', () => {
    const td = createProvider('tdameritrade', { clientId: 'K', redirectUri: '' });
    expect(td.authorizeUrl).toBe('https://auth.tdameritrade.com/auth');
    expect(td.tokenUrl).toBe('https://api.tdameritrade.com/v1/oauth2/token');
    expect(td.apiUrl).toBe('https://api.tdameritrade.com');
    expect(td.redirectUri).toBe('https://localhost:8000');
    const schwab = createProvider('schwab', { clientId: 'K', clientSecret: 'S', redirectUri: '' });
    expect(schwab.authorizeUrl).toBe(PROVIDER_DEFAULTS.schwab.authorizeUrl);
    expect(schwab.tokenUrl).toBe(PROVIDER_DEFAULTS.schwab.tokenUrl);
    expect(schwab.redirectUri).toBe('https://127.0.0.1:8182');
    expect(PROVIDER_DEFAULTS.generic).toEqual({});
  });

  it('every endpoint can be overridden', () => {
    const p = createProvider('schwab', {
      clientId: 'K',
      clientSecret: 'S',
      redirectUri: 'https://127.0.0.1:8182',
      authorizeUrl: 'https://schwab-proxy.example/auth',
      tokenUrl: 'https://schwab-proxy.example/token',
      apiUrl: 'https://schwab-proxy.example/api',
    });
    expect(p.authorizationUrl({ state: 's' }).origin).toBe('https://schwab-proxy.example');
    expect(p.tokenUrl).toBe('https://schwab-proxy.example/token');
    expect(p.accountsUrl().href).toBe(
      'https://schwab-proxy.example/api/trader/v1/accounts/accountNumbers',
    );
  });

  it.each(['authorizeUrl', 'tokenUrl', 'apiUrl'] as const)('refuses an insecure %s', (field) => {
    const fn = () =>
      createProvider('tdameritrade', {
        clientId: 'K',
        redirectUri: 'https://localhost:8000',
        [field]: 'http://10.1.2.3/x',
      });
    expect(fn).toThrow(ConfigError);
    expect(fn).toThrow(
      /uses plain http, which is allowed only for loopback hosts \(127\.0\.0\.0\/8, ::1, localhost\)\. use https:\/\/10\.1\.2\.3\/x instead$/,
    );
  });

  it('unknown provider', () => {
    expect(() => createProvider('etrade' as never, { clientId: 'K', redirectUri: '' })).toThrow(
      'unknown provider "etrade". use one of tdameritrade, schwab, generic',
    );
  });

  it('a generic provider without a redirect URI', () => {
    expect(() =>
      createProvider('generic', {
        clientId: 'K',
        redirectUri: '',
        authorizeUrl: 'https://a.example/a',
        tokenUrl: 'https://a.example/t',
      }),
    ).toThrow('no redirect URI is set. pass --redirect-uri or set TD_TOKEN_REDIRECT_URI');
  });

  it('names bad arguments', () => {
    expect(() => createProvider('schwab', null as never)).toThrow(
      new TypeError('"options" must be an object'),
    );
    expect(() => createProvider('schwab', { redirectUri: '' } as never)).toThrow(
      new TypeError('"options.clientId" must be a string'),
    );
  });
});
