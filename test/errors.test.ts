import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/cli/failure.js';
import {
  CallbackError,
  ConfigError,
  ERROR_CODES,
  ForbiddenError,
  isTdTokenError,
  LoginRequiredError,
  ProviderError,
  StoreError,
  TdTokenError,
  TokenExpiredError,
} from '../src/errors.js';

describe('TdTokenError', () => {
  it('carries code, status, oauthError, retryAfterMs and cause', () => {
    const cause = new Error('socket');
    const error = new ProviderError('rate_limited', 'slow down. wait', {
      cause,
      status: 429,
      retryAfterMs: 1500,
      oauthError: 'rate_limit_exceeded',
    });
    expect(error).toBeInstanceOf(TdTokenError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ProviderError');
    expect(error.code).toBe('rate_limited');
    expect(error.status).toBe(429);
    expect(error.retryAfterMs).toBe(1500);
    expect(error.oauthError).toBe('rate_limit_exceeded');
    expect(error.cause).toBe(cause);
  });

  it('keeps the response non-enumerable, so logging never prints it', () => {
    const response = new Response('{"access_token":"SECRET-TOKEN"}', { status: 400 });
    const error = new LoginRequiredError('log in again', { response, status: 400 });
    expect(error.response).toBe(response);
    expect(Object.keys(error)).not.toContain('response');
    expect(JSON.stringify(error)).not.toContain('SECRET');
    expect(() => {
      (error as { response: unknown }).response = undefined;
    }).toThrow(TypeError);
  });

  it('only rate limits and outages are transient', () => {
    expect(new ProviderError('rate_limited', 'x').transient).toBe(true);
    expect(new ProviderError('provider_unavailable', 'x').transient).toBe(true);
    expect(new ProviderError('invalid_client', 'x').transient).toBe(false);
    expect(new LoginRequiredError('x').transient).toBe(false);
    expect(new TokenExpiredError('x').transient).toBe(false);
    expect(new ForbiddenError('x').transient).toBe(false);
  });

  it('the subclasses fix their codes', () => {
    expect(new LoginRequiredError('x').code).toBe('login_required');
    expect(new TokenExpiredError('x').code).toBe('token_expired');
    expect(new ForbiddenError('x').code).toBe('forbidden');
    expect(new ConfigError('x').code).toBe('invalid_config');
    expect(new CallbackError('state_mismatch', 'x').code).toBe('state_mismatch');
    expect(new StoreError('lock_timeout', 'x').name).toBe('StoreError');
  });

  it('isTdTokenError narrows by class and code', () => {
    const error = new LoginRequiredError('x');
    expect(isTdTokenError(error)).toBe(true);
    expect(isTdTokenError(error, 'login_required')).toBe(true);
    expect(isTdTokenError(error, 'forbidden')).toBe(false);
    expect(isTdTokenError(new Error('x'))).toBe(false);
    expect(isTdTokenError({ code: 'login_required' })).toBe(false);
  });

  it('exports every code as a runtime constant, each distinct', () => {
    const values = Object.values(ERROR_CODES);
    expect(new Set(values).size).toBe(values.length);
    expect(ERROR_CODES.LOGIN_REQUIRED).toBe('login_required');
    expect(ERROR_CODES.PROVIDER_UNAVAILABLE).toBe('provider_unavailable');
    expect(isTdTokenError(new LoginRequiredError('x'), ERROR_CODES.LOGIN_REQUIRED)).toBe(true);
  });

  it("the CLI's usage error is a TdTokenError with its own code", () => {
    const error = new UsageError('unknown flag --jsno', 'td-token status --help');
    expect(error).toBeInstanceOf(TdTokenError);
    expect(error.code).toBe(ERROR_CODES.INVALID_USAGE);
    expect(error.name).toBe('UsageError');
    expect(error.helpCommand).toBe('td-token status --help');
  });

  it('a class takes only its own codes (checked by the type checker)', () => {
    // @ts-expect-error: lock_timeout is a StoreError's code, not a ProviderError's
    const wrong = new ProviderError('lock_timeout', 'x');
    // @ts-expect-error: rate_limited is a ProviderError's code, not a StoreError's
    const wrong2 = new StoreError('rate_limited', 'x');
    // @ts-expect-error: invalid_client is a ProviderError's code, not a CallbackError's
    const wrong3 = new CallbackError('invalid_client', 'x');
    expect([wrong, wrong2, wrong3].every((e) => e instanceof TdTokenError)).toBe(true);
    const store: StoreError = new StoreError('decrypt_failed', 'x');
    const code: 'invalid_token_file' | 'store_error' | 'lock_timeout' | 'decrypt_failed' =
      store.code;
    expect(code).toBe('decrypt_failed');
  });
});
