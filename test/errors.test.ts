import { describe, expect, it } from 'vitest';
import {
  CallbackError,
  ConfigError,
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
});
