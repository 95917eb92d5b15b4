import { describe, expect, it } from 'vitest';
import {
  codeChallengeS256,
  createAuthorizationRequest,
  generateCodeVerifier,
  generateState,
} from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';

describe('state and PKCE', () => {
  it('state: 32 random bytes as base64url, different every time', () => {
    const states = new Set(Array.from({ length: 50 }, () => generateState()));
    expect(states.size).toBe(50);
    for (const s of states) {
      expect(s).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(s, 'base64url')).toHaveLength(32);
    }
  });

  it('verifier: 43 characters from the RFC 7636 alphabet', () => {
    expect(generateCodeVerifier()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateCodeVerifier()).not.toBe(generateCodeVerifier());
  });

  it('S256 challenge matches RFC 7636 appendix B', () => {
    expect(codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });
});

describe('createAuthorizationRequest', () => {
  it('TD: suffixed id and state, no verifier', () => {
    const provider = createProvider('tdameritrade', { clientId: 'KEY', redirectUri: '' });
    const request = createAuthorizationRequest(provider);
    expect(request.codeVerifier).toBeUndefined();
    expect(request.url.searchParams.get('client_id')).toBe('KEY@AMER.OAUTHAP');
    expect(request.url.searchParams.get('state')).toBe(request.state);
    expect(request.url.searchParams.has('code_challenge')).toBe(false);
  });

  it('Schwab: state, no verifier', () => {
    const provider = createProvider('schwab', {
      clientId: 'K',
      clientSecret: 'S',
      redirectUri: '',
    });
    const request = createAuthorizationRequest(provider);
    expect(request.codeVerifier).toBeUndefined();
    expect(request.url.searchParams.get('state')).toBe(request.state);
  });

  it('generic: the challenge is the S256 of the returned verifier', () => {
    const provider = createProvider('generic', {
      clientId: 'c',
      redirectUri: 'http://127.0.0.1:1/cb',
      authorizeUrl: 'https://idp.example/a',
      tokenUrl: 'https://idp.example/t',
    });
    const request = createAuthorizationRequest(provider);
    expect(request.codeVerifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(request.url.searchParams.get('code_challenge')).toBe(
      codeChallengeS256(request.codeVerifier ?? ''),
    );
    expect(request.url.searchParams.get('code_challenge_method')).toBe('S256');
  });

  it('names a bad provider', () => {
    for (const bad of [undefined, null, 'tdameritrade', {}, { authorizationUrl: 'x' }]) {
      expect(() => createAuthorizationRequest(bad as never)).toThrow(
        new TypeError('"provider" must be a Provider'),
      );
    }
  });
});
