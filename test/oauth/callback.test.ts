import { describe, expect, it } from 'vitest';
import { CallbackError } from '../../src/errors.js';
import {
  callbackState,
  checkCallback,
  cleanPastedText,
  normalizeBareCode,
  parseCallbackUrl,
  readCallbackQuery,
} from '../../src/oauth/index.js';

/** A TD-shaped code: long, with @ / + = in it. */
const TD_CODE = 'vX8+Gt/3kQ9=Zr2@AMER.OAUTHAP+aB/cD==';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CallbackError);
    return (error as CallbackError).code;
  }
  return 'no error';
}

describe('parseCallbackUrl', () => {
  it('decodes a percent-encoded TD code exactly once: @ / + = survive', () => {
    const url = `https://localhost:8000/?code=${encodeURIComponent(TD_CODE)}&state=s1`;
    expect(parseCallbackUrl(url, 's1')).toEqual({ code: TD_CODE, state: 's1' });
  });

  it('does not decode twice: %2540 stays %40', () => {
    expect(parseCallbackUrl('https://127.0.0.1:8182/?code=abc%2540&state=s', 's').code).toBe(
      'abc%40',
    );
    expect(parseCallbackUrl('https://127.0.0.1:8182/?code=a%252Bb', undefined).code).toBe('a%2Bb');
  });

  it('keeps a bare + as + (codes never contain spaces)', () => {
    expect(parseCallbackUrl('https://localhost:8000/?code=a+b/c=&state=s', 's').code).toBe(
      'a+b/c=',
    );
  });

  it('Schwab: code ending in %40, session ignored', () => {
    const result = parseCallbackUrl(
      'https://127.0.0.1:8182/?code=C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.abc123%40&session=1f6e5b3a-2c4d-4e8f-9a0b-1c2d3e4f5a6b&state=xyz',
      'xyz',
    );
    expect(result).toEqual({ code: 'C0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.abc123@', state: 'xyz' });
  });

  it('accepts a pasted URL with whitespace and quotes, or a URL object', () => {
    const url = 'https://127.0.0.1:8182/?code=C0.x%40&state=s';
    expect(parseCallbackUrl(`  "${url}"\n`, 's').code).toBe('C0.x@');
    expect(parseCallbackUrl(`'${url}'`, 's').code).toBe('C0.x@');
    expect(parseCallbackUrl(`<${url}>`, 's').code).toBe('C0.x@');
    expect(parseCallbackUrl(new URL(url), 's').code).toBe('C0.x@');
    expect(parseCallbackUrl('?code=C0.x%40&state=s', 's').code).toBe('C0.x@');
    expect(cleanPastedText(' `x` ')).toBe('x');
  });

  it('state mismatch', () => {
    const fn = () => parseCallbackUrl('https://127.0.0.1:8182/?code=c&state=other', 'mine');
    expect(codeOf(fn)).toBe('state_mismatch');
    expect(fn).toThrow(
      "the callback URL's state does not match this login (an old or foreign link). start the login again with 'td-token login' and use the newest link",
    );
  });

  it('a missing state when one was sent is a mismatch', () => {
    expect(codeOf(() => parseCallbackUrl('https://127.0.0.1:8182/?code=c', 'mine'))).toBe(
      'state_mismatch',
    );
  });

  it('without an expected state any state is accepted', () => {
    expect(parseCallbackUrl('https://127.0.0.1:8182/?code=c&state=z', undefined).state).toBe('z');
  });

  it('missing or empty code', () => {
    const fn = () => parseCallbackUrl('https://127.0.0.1:8182/?state=s&session=x', 's');
    expect(codeOf(fn)).toBe('missing_code');
    expect(fn).toThrow(
      'the callback URL carries no code. paste the whole address the browser was redirected to (it contains "code="), or start the login again with \'td-token login\'',
    );
    expect(codeOf(() => parseCallbackUrl('https://127.0.0.1:8182/?code=&state=s', 's'))).toBe(
      'missing_code',
    );
    expect(codeOf(() => parseCallbackUrl('not a url at all', 's'))).toBe('missing_code');
  });

  it('access_denied', () => {
    const fn = () => parseCallbackUrl('https://localhost:8000/?error=access_denied&state=s', 's');
    expect(codeOf(fn)).toBe('access_denied');
    expect(fn).toThrow(
      "the login was denied at the provider (access_denied). start the login again with 'td-token login' and press Allow on the consent page",
    );
    // reported even when the provider does not echo the state on a denial
    expect(codeOf(() => parseCallbackUrl('https://localhost:8000/?error=access_denied', 's'))).toBe(
      'access_denied',
    );
    // but a foreign state is still refused first
    expect(
      codeOf(() => parseCallbackUrl('https://localhost:8000/?error=access_denied&state=x', 's')),
    ).toBe('state_mismatch');
  });

  it("other error= values: oauth_error with the provider's error", () => {
    try {
      parseCallbackUrl(
        'https://localhost:8000/?error=invalid_request&error_description=redirect_uri+mismatch&state=s',
        's',
      );
      expect.unreachable();
    } catch (error) {
      const e = error as CallbackError;
      expect(e.code).toBe('oauth_error');
      expect(e.oauthError).toBe('invalid_request');
      expect(e.message).toBe(
        "the provider refused the login (invalid_request: redirect_uri mismatch). check the client id and redirect URI, then start the login again with 'td-token login'",
      );
    }
  });

  it('invalid percent-encoding is an error, not a crash', () => {
    expect(
      codeOf(() => parseCallbackUrl('https://localhost:8000/?code=%E0%A4%A&state=s', 's')),
    ).toBe('missing_code');
  });

  it('names bad arguments', () => {
    expect(() => parseCallbackUrl(1 as never, undefined)).toThrow(
      new TypeError('"callbackUrl" must be a string or URL'),
    );
  });
});

describe('readCallbackQuery, callbackState and checkCallback', () => {
  it('split the URL once; the state is read before the rest is judged', () => {
    const url = new URL(`https://127.0.0.1:8182/?code=${encodeURIComponent(TD_CODE)}&state=s1`);
    const query = readCallbackQuery(url);
    expect(callbackState(query)).toBe('s1');
    expect(checkCallback(query, 's1')).toEqual({ code: TD_CODE, state: 's1' });
    expect(checkCallback(query, 's1')).toEqual(parseCallbackUrl(url, 's1'));
  });

  it("reads a refusal's state without judging it, then judges it as parseCallbackUrl does", () => {
    const query = readCallbackQuery('https://127.0.0.1:8182/?error=access_denied&state=s%2B1');
    expect(callbackState(query)).toBe('s+1');
    expect(codeOf(() => checkCallback(query, 's+1'))).toBe('access_denied');
    expect(codeOf(() => checkCallback(query, 'other'))).toBe('state_mismatch');
  });

  it('a missing state is undefined; one that is not valid percent-encoding stays raw', () => {
    expect(callbackState(readCallbackQuery('?code=x'))).toBeUndefined();
    expect(callbackState(readCallbackQuery('?code=x&state=%E0%A4%A'))).toBe('%E0%A4%A');
    expect(callbackState(readCallbackQuery('?state=a+b&state=c'))).toBe('a+b');
  });

  it('names bad arguments', () => {
    expect(() => readCallbackQuery(1 as never)).toThrow(
      new TypeError('"callbackUrl" must be a string or URL'),
    );
    expect(() => checkCallback({} as never, undefined)).toThrow(
      new TypeError('"query" must be a CallbackQuery'),
    );
    expect(() => checkCallback(readCallbackQuery('?code=x'), 1 as never)).toThrow(
      new TypeError('"expectedState" must be a string or undefined'),
    );
  });
});

describe('normalizeBareCode', () => {
  it('decodes once only when %XX sequences are present', () => {
    expect(normalizeBareCode(TD_CODE)).toBe(TD_CODE);
    expect(normalizeBareCode(encodeURIComponent(TD_CODE))).toBe(TD_CODE);
    expect(normalizeBareCode('C0.abc%40')).toBe('C0.abc@');
    expect(normalizeBareCode('C0.abc%2540')).toBe('C0.abc%40');
    expect(normalizeBareCode(' "C0.abc@" ')).toBe('C0.abc@');
  });
});
