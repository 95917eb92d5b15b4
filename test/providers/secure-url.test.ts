import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { assertSecureUrl, isLoopbackHost, joinUrl } from '../../src/util/url.js';

describe('isLoopbackHost', () => {
  it.each([
    'localhost',
    'LOCALHOST',
    'localhost.',
    '127.0.0.1',
    '127.255.1.2',
    '127.1',
    '0x7f.1',
    '::1',
    '[::1]',
    '[0:0:0:0:0:0:0:1]',
    '::ffff:127.0.0.1',
  ])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each([
    'example.com',
    '128.0.0.1',
    '10.0.0.1',
    '0.0.0.0',
    'localhost.example.com',
    'evil.com@127.0.0.1',
    '127.0.0.1.nip.io',
    '::2',
    '::ffff:10.0.0.1',
    '',
  ])('%s is not loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });

  it('names its parameter when given a non-string', () => {
    expect(() => isLoopbackHost(1 as unknown as string)).toThrow(
      new TypeError('"hostname" must be a string'),
    );
  });
});

describe('assertSecureUrl', () => {
  it('accepts https anywhere and http on loopback only', () => {
    expect(assertSecureUrl('https://api.schwabapi.com/v1/oauth/token', 'token URL').host).toBe(
      'api.schwabapi.com',
    );
    expect(assertSecureUrl('http://127.0.0.1:4567/auth', 'authorize URL').port).toBe('4567');
    expect(assertSecureUrl('http://localhost:8000', 'redirect URI').hostname).toBe('localhost');
    expect(assertSecureUrl('http://[::1]:9/x', 'token URL').hostname).toBe('[::1]');
  });

  it('refuses plain http on any other host, naming the URL and ending with the fix', () => {
    const fn = () => assertSecureUrl('http://api.example.com/v1/token?x=1', 'token URL');
    expect(fn).toThrow(ConfigError);
    expect(fn).toThrow(
      'the token URL http://api.example.com/v1/token uses plain http, which is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost). use https://api.example.com/v1/token?x=1 instead',
    );
    try {
      fn();
    } catch (error) {
      expect((error as ConfigError).code).toBe('invalid_config');
    }
  });

  it('refuses other schemes and unparsable text', () => {
    expect(() => assertSecureUrl('ftp://example.com/token', 'token URL')).toThrow(
      'the token URL ftp://example.com/token must be an https:// URL. use https://example.com/token instead',
    );
    expect(() => assertSecureUrl('not a url', 'API URL')).toThrow(
      'the API URL "not a url" is not a valid URL. give an absolute URL such as https://example.com/path',
    );
  });

  it('refuses credentials in the URL without echoing them', () => {
    let message = '';
    try {
      assertSecureUrl('https://user:hunter2@example.com/token', 'token URL');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(
      'the token URL https://example.com/token carries a user name or password. remove the "user:password@" part',
    );
    expect(message).not.toContain('hunter2');
  });

  it('names its parameters', () => {
    expect(() => assertSecureUrl(undefined as unknown as string, 'x')).toThrow(
      new TypeError('"url" must be a string'),
    );
  });
});

describe('joinUrl', () => {
  it('keeps a base path and drops duplicate slashes', () => {
    expect(joinUrl('https://proxy.example/td', '/v1/accounts').href).toBe(
      'https://proxy.example/td/v1/accounts',
    );
    expect(joinUrl('https://proxy.example/td/', 'v1/accounts').href).toBe(
      'https://proxy.example/td/v1/accounts',
    );
    expect(joinUrl('http://127.0.0.1:5000', '/trader/v1/accounts/accountNumbers').href).toBe(
      'http://127.0.0.1:5000/trader/v1/accounts/accountNumbers',
    );
  });
});
