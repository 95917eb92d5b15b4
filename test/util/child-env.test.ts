import { describe, expect, it } from 'vitest';
import { childEnv, isSecretEnvName, SECRET_ENV_NAMES } from '../../src/util/child-env.js';

describe('childEnv', () => {
  it("drops td-token's secrets and keeps everything else", () => {
    const env = {
      PATH: '/usr/bin',
      HOME: '/home/me',
      DISPLAY: ':0',
      TD_TOKEN_PASSPHRASE: 'correct horse',
      TD_TOKEN_CLIENT_SECRET: 'app-secret',
      TD_TOKEN_CLIENT_ID: 'APPKEY',
      TD_TOKEN_PROFILE: 'live',
      TD_TOKEN_PASSPHRASE_FILE: '/run/secrets/pass',
      TD_TOKEN_KEY_FILE: '/run/secrets/key',
      TD_TOKEN_AGENT_SECRET: 'agent-secret',
      td_token_passphrase: 'lower case, as Windows allows',
      UNSET: undefined,
    };
    const out = childEnv(env);
    expect(out).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/me',
      DISPLAY: ':0',
      TD_TOKEN_CLIENT_ID: 'APPKEY',
      TD_TOKEN_PROFILE: 'live',
      TD_TOKEN_PASSPHRASE_FILE: '/run/secrets/pass',
      TD_TOKEN_KEY_FILE: '/run/secrets/key',
    });
    // The given environment is not changed.
    expect(env.TD_TOKEN_PASSPHRASE).toBe('correct horse');
    expect(out).not.toBe(env);
  });

  it('drops the store URL only when it carries a password', () => {
    expect(childEnv({ TD_TOKEN_STORE_URL: 'redis://127.0.0.1:6379/0' })).toEqual({
      TD_TOKEN_STORE_URL: 'redis://127.0.0.1:6379/0',
    });
    expect(childEnv({ TD_TOKEN_STORE_URL: 'redis://:pw@127.0.0.1:6379/0' })).toEqual({});
    expect(childEnv({ TD_TOKEN_STORE_URL: 'rediss://user:pw@cache.internal' })).toEqual({});
    expect(childEnv({ TD_TOKEN_STORE_URL: 'not a url:pw@x' })).toEqual({});
  });

  it('defaults to the process environment', () => {
    const before = process.env['TD_TOKEN_PASSPHRASE'];
    process.env['TD_TOKEN_PASSPHRASE'] = 'from the process';
    try {
      const out = childEnv();
      expect(out['TD_TOKEN_PASSPHRASE']).toBeUndefined();
      expect(out['PATH']).toBe(process.env['PATH']);
    } finally {
      if (before === undefined) delete process.env['TD_TOKEN_PASSPHRASE'];
      else process.env['TD_TOKEN_PASSPHRASE'] = before;
    }
  });

  it('names bad arguments', () => {
    expect(() => childEnv(null as never)).toThrow(
      new TypeError('"env" must be an object of environment variables'),
    );
    expect(() => isSecretEnvName(1 as never)).toThrow(new TypeError('"name" must be a string'));
  });
});

describe('isSecretEnvName', () => {
  it('knows the named secrets and any TD_TOKEN_* name that says it holds one', () => {
    for (const name of SECRET_ENV_NAMES) expect(isSecretEnvName(name)).toBe(true);
    expect(isSecretEnvName('TD_TOKEN_WEBHOOK_SECRET')).toBe(true);
    expect(isSecretEnvName('TD_TOKEN_SMTP_PASSWORD')).toBe(true);
    expect(isSecretEnvName('TD_TOKEN_PASSPHRASE_FILE')).toBe(false);
    expect(isSecretEnvName('TD_TOKEN_CLIENT_ID')).toBe(false);
    expect(isSecretEnvName('TD_TOKEN_STORE')).toBe(false);
    expect(isSecretEnvName('OTHER_SECRET')).toBe(false);
  });
});
