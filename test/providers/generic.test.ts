import { describe, expect, it } from 'vitest';
import { LoginRequiredError } from '../../src/errors.js';
import {
  basicAuthorization,
  createProvider,
  formEncode,
  GenericProvider,
} from '../../src/providers/index.js';
import type { ProviderOptions } from '../../src/providers/types.js';
import { answer } from './canned.js';

function generic(overrides: Partial<ProviderOptions> = {}) {
  return createProvider('generic', {
    clientId: 'my client',
    redirectUri: 'http://127.0.0.1:8765/callback',
    authorizeUrl: 'https://idp.example/oauth2/authorize',
    tokenUrl: 'https://idp.example/oauth2/token',
    ...overrides,
  });
}

describe('generic provider: configuration', () => {
  it('requires the authorize and token URLs', () => {
    expect(() => generic({ authorizeUrl: undefined })).toThrow(
      'no authorize URL for the generic provider is set. pass --authorize-url or set TD_TOKEN_AUTHORIZE_URL',
    );
    expect(() => generic({ tokenUrl: '' })).toThrow(
      'no token URL for the generic provider is set. pass --token-url or set TD_TOKEN_TOKEN_URL',
    );
  });

  it('a secret-based method without a secret is a configuration error', () => {
    expect(() => generic({ clientAuth: 'client_secret_post' })).toThrow(
      'idp.example client authentication client_secret_post needs a client secret. pass --client-secret or set TD_TOKEN_CLIENT_SECRET',
    );
  });

  it('unknown client authentication', () => {
    expect(() => generic({ clientAuth: 'private_key_jwt' as never })).toThrow(
      'unknown client authentication "private_key_jwt". use one of none, client_secret_basic, client_secret_post',
    );
  });

  it('an insecure redirect URI is refused', () => {
    expect(() => generic({ redirectUri: 'http://my-host.example/cb' })).toThrow(
      'the redirect URI http://my-host.example/cb uses plain http, which is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost). use https://my-host.example/cb instead',
    );
  });

  it('has no accounts or quotes endpoint', () => {
    expect(() => generic().accountsUrl()).toThrow(
      "the generic provider has no accounts endpoint. call your API with the token from 'td-token token'",
    );
  });
});

describe('generic provider: authorization URL', () => {
  it('PKCE S256 and scope by default', () => {
    const provider = generic({ scope: 'openid offline_access' });
    expect(provider.usesPkce).toBe(true);
    const url = provider.authorizationUrl({ state: 's1', codeChallenge: 'ch' });
    expect(url.search).toBe(
      '?response_type=code&client_id=my+client&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&scope=openid+offline_access&state=s1&code_challenge=ch&code_challenge_method=S256',
    );
  });

  it('PKCE off', () => {
    const provider = generic({ pkce: false });
    expect(provider.usesPkce).toBe(false);
    const url = provider.authorizationUrl({ state: 's1' });
    expect(url.searchParams.has('code_challenge')).toBe(false);
    expect(url.searchParams.has('scope')).toBe(false);
  });

  it('keeps query parameters already on the authorize URL', () => {
    const url = generic({
      authorizeUrl: 'https://idp.example/authorize?tenant=t1',
    }).authorizationUrl({
      state: 's',
      codeChallenge: 'c',
    });
    expect(url.searchParams.get('tenant')).toBe('t1');
  });
});

describe('generic provider: client authentication', () => {
  it('RFC 6749 2.3.1: client_secret_basic form-encodes id and secret before base64', () => {
    expect(formEncode('a b+c:d/é')).toBe('a+b%2Bc%3Ad%2F%C3%A9');
    const header = basicAuthorization('my client', 'p@ss:w+rd');
    expect(header).toBe(`Basic ${Buffer.from('my+client:p%40ss%3Aw%2Brd').toString('base64')}`);
    const request = generic({ clientSecret: 'p@ss:w+rd' }).codeGrantRequest('code1', 'verifier1');
    expect(request.headers['authorization']).toBe(header);
    expect(request.body.toString()).toBe(
      'grant_type=authorization_code&code=code1&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&code_verifier=verifier1',
    );
  });

  it('client_secret_post puts both in the body', () => {
    const request = generic({
      clientSecret: 's3',
      clientAuth: 'client_secret_post',
    }).refreshGrantRequest('rt', { renewRefreshToken: true });
    expect(request.headers['authorization']).toBeUndefined();
    expect(request.body.toString()).toBe(
      'grant_type=refresh_token&refresh_token=rt&client_id=my+client&client_secret=s3',
    );
  });

  it('none sends only the client id', () => {
    const request = generic().refreshGrantRequest('rt', { renewRefreshToken: false });
    expect(request.headers['authorization']).toBeUndefined();
    expect(request.body.toString()).toBe(
      'grant_type=refresh_token&refresh_token=rt&client_id=my+client',
    );
  });
});

describe('generic provider: RFC 6749 errors and records', () => {
  it('invalid_grant on a refresh: log in again; unauthorized_client: invalid_client', () => {
    expect(
      generic().tokenError(answer(400, { error: 'invalid_grant' }), 'refresh_token'),
    ).toBeInstanceOf(LoginRequiredError);
    expect(
      generic().tokenError(answer(400, { error: 'unauthorized_client' }), 'authorization_code')
        .code,
    ).toBe('invalid_client');
    expect(
      generic().tokenError(answer(400, { error: 'invalid_scope' }), 'authorization_code').code,
    ).toBe('oauth_error');
    expect(
      generic().tokenError(answer(400, { message: 'no error member' }), 'refresh_token').code,
    ).toBe('oauth_error');
  });

  it('a rotated refresh token without a lifetime counts 90 days from receipt; scope falls back to the request', () => {
    const provider = generic({ scope: 'read' });
    const login = provider.toRecord(
      { access_token: 'a', refresh_token: 'r1', expires_in: 60 },
      1000,
    );
    expect(login.scope).toBe('read');
    expect(login.expires_at).toBe(61_000);
    const next = provider.toRecord({ access_token: 'b', refresh_token: 'r2' }, 5000, login);
    expect(next.refresh_token_expires_at).toBe(5000 + 90 * 86_400_000);
    expect(next.expires_at).toBe(5000 + 1_800_000);
  });

  it('no refresh lifetime said or configured: the 90-day expiry is marked assumed, kept so across refreshes; a stated or configured one is not', () => {
    const provider = generic();
    const login = provider.toRecord({ access_token: 'a', refresh_token: 'r1' }, 1000);
    expect(login.refresh_token_expires_at).toBe(1000 + 90 * 86_400_000);
    expect(login.refresh_token_expiry_assumed).toBe(true);
    const same = provider.toRecord({ access_token: 'b' }, 2000, login);
    expect(same.refresh_token_expiry_assumed).toBe(true);
    const rotated = provider.toRecord({ access_token: 'c', refresh_token: 'r2' }, 3000, same);
    expect(rotated.refresh_token_expiry_assumed).toBe(true);

    const stated = provider.toRecord(
      { access_token: 'a', refresh_token: 'r1', refresh_token_expires_in: 3600 },
      1000,
    );
    expect(stated.refresh_token_expires_at).toBe(1000 + 3_600_000);
    expect(stated.refresh_token_expiry_assumed).toBeUndefined();

    const configured = new GenericProvider({
      clientId: 'my client',
      redirectUri: 'http://127.0.0.1:8765/callback',
      authorizeUrl: 'https://idp.example/oauth2/authorize',
      tokenUrl: 'https://idp.example/oauth2/token',
      refreshTokenLifetimeMs: 30 * 86_400_000,
    });
    const mine = configured.toRecord({ access_token: 'a', refresh_token: 'r1' }, 1000);
    expect(mine.refresh_token_expires_at).toBe(1000 + 30 * 86_400_000);
    expect(mine.refresh_token_expiry_assumed).toBeUndefined();
    expect(configured.refreshTokenLifetimeAssumed).toBe(false);
    expect(provider.refreshTokenLifetimeAssumed).toBe(true);
    // TD and Schwab document theirs: never assumed.
    expect(
      createProvider('schwab', {
        clientId: 'k',
        clientSecret: 's',
        redirectUri: 'https://127.0.0.1:8182',
      }).toRecord({ access_token: 'a', refresh_token: 'r1' }, 1000).refresh_token_expiry_assumed,
    ).toBeUndefined();
  });

  it('a configured refresh lifetime must be a duration of at least 1 s', () => {
    for (const bad of [0, -5, Number.NaN, 999]) {
      expect(
        () =>
          new GenericProvider({
            clientId: 'c',
            redirectUri: 'http://127.0.0.1:8765/callback',
            authorizeUrl: 'https://idp.example/a',
            tokenUrl: 'https://idp.example/t',
            refreshTokenLifetimeMs: bad,
          }),
      ).toThrow(/is not a duration of at least 1 s\. set refreshTokenLifetime/);
    }
  });
});
