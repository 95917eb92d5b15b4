/**
 * The sandbox's registered apps and settings out of the box.
 *
 * @module
 */

import type { SandboxApp, SandboxFlavor, SandboxSettings } from './types.js';

/** TD's client id suffix, required at the authorize endpoint. */
export const TD_CLIENT_ID_SUFFIX = '@AMER.OAUTHAP';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The app each flavor registers when `apps` is not given. They match td-token's sandbox
 * providers, so `td-token login --provider sandbox-schwab` works with no setup.
 */
export const SANDBOX_DEFAULT_APPS: Readonly<Record<SandboxFlavor, SandboxApp>> = Object.freeze({
  tdameritrade: Object.freeze({
    clientId: 'SANDBOXCONSUMERKEY',
    redirectUris: Object.freeze(['https://localhost:8000']) as string[],
  }),
  schwab: Object.freeze({
    clientId: 'SandboxAppKey0000000000000000000',
    clientSecret: 'SandboxSecret000',
    redirectUris: Object.freeze(['https://127.0.0.1:8182']) as string[],
  }),
});

/** Each flavor's default settings. */
export function defaultSettings(flavor: SandboxFlavor): SandboxSettings {
  return {
    codeLifetimeMs: flavor === 'tdameritrade' ? 60_000 : 30_000,
    accessTokenLifetimeSec: 1800,
    refreshTokenLifetimeMs: flavor === 'tdameritrade' ? 90 * DAY_MS : 7 * DAY_MS,
    invalidateOldRefreshTokenOnRenewal: true,
    rateLimitPerMinute: 120,
    // Uncertain whether TD gave a refresh token without it: the stricter choice by default.
    requireAccessTypeOfflineForCodeGrant: true,
    loginRequestLifetimeMs: 10 * 60_000,
    credentials: undefined,
    clockSkewMs: 0,
  };
}

/** Merges and checks setting overrides; a bad value throws a TypeError naming the setting. */
export function resolveSettings(
  flavor: SandboxFlavor,
  overrides: Partial<SandboxSettings> | undefined,
): SandboxSettings {
  const settings = { ...defaultSettings(flavor) };
  if (overrides === undefined) return settings;
  if (typeof overrides !== 'object' || overrides === null) {
    throw new TypeError('"options.settings" must be an object');
  }
  const numeric = [
    'codeLifetimeMs',
    'accessTokenLifetimeSec',
    'refreshTokenLifetimeMs',
    'rateLimitPerMinute',
    'loginRequestLifetimeMs',
  ] as const;
  for (const name of numeric) {
    const value = overrides[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new TypeError(`"settings.${name}" must be a finite number >= 0`);
    }
    settings[name] = value;
  }
  const skew = overrides.clockSkewMs;
  if (skew !== undefined) {
    if (typeof skew !== 'number' || !Number.isFinite(skew)) {
      throw new TypeError('"settings.clockSkewMs" must be a finite number');
    }
    settings.clockSkewMs = skew;
  }
  const flags = [
    'invalidateOldRefreshTokenOnRenewal',
    'requireAccessTypeOfflineForCodeGrant',
  ] as const;
  for (const name of flags) {
    const value = overrides[name];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw new TypeError(`"settings.${name}" must be a boolean`);
    settings[name] = value;
  }
  const credentials = overrides.credentials;
  if (credentials !== undefined) {
    if (
      typeof credentials !== 'object' ||
      credentials === null ||
      typeof credentials.username !== 'string' ||
      typeof credentials.password !== 'string' ||
      credentials.username === ''
    ) {
      throw new TypeError('"settings.credentials" must be { username: string; password: string }');
    }
    settings.credentials = { username: credentials.username, password: credentials.password };
  }
  return settings;
}
