/**
 * The sandbox's server-side memory: started logins, issued codes and tokens, counters.
 *
 * @module
 */

import type { SandboxCounters } from './types.js';

/** A browser login between the authorize request and the Allow/Deny answer. */
export interface LoginRequest {
  id: string;
  /** The client id as the app sent it (TD: with the suffix). */
  clientId: string;
  /** The registered app's client id. */
  appClientId: string;
  redirectUri: string;
  state: string | undefined;
  createdAt: number;
  stage: 'login' | 'consent';
  username: string | undefined;
}

/** An authorization code handed to the callback. */
export interface IssuedCode {
  clientId: string;
  redirectUri: string;
  username: string;
  expiresAt: number;
  used: boolean;
}

/** Why a refresh token no longer works, or `active`. */
export type RefreshTokenStatus = 'active' | 'revoked' | 'rotated' | 'superseded';

/** A refresh token and its life. */
export interface IssuedRefreshToken {
  clientId: string;
  username: string;
  issuedAt: number;
  expiresAt: number;
  status: RefreshTokenStatus;
}

/** An access token and its expiry. */
export interface IssuedAccessToken {
  clientId: string;
  username: string;
  expiresAt: number;
}

/** Zeroed counters. */
export function emptyCounters(): SandboxCounters {
  return {
    token: { authorization_code: 0, refresh_token: 0, total: 0, ok: 0, failed: 0 },
    api: 0,
    authorize: 0,
  };
}

/** Everything one sandbox remembers. */
export class SandboxState {
  readonly loginRequests = new Map<string, LoginRequest>();
  readonly codes = new Map<string, IssuedCode>();
  readonly refreshTokens = new Map<string, IssuedRefreshToken>();
  readonly accessTokens = new Map<string, IssuedAccessToken>();
  counters: SandboxCounters = emptyCounters();

  /** Drops expired login requests, codes and access tokens so memory stays bounded. */
  sweep(now: number, loginRequestLifetimeMs: number): void {
    for (const [id, request] of this.loginRequests) {
      if (now - request.createdAt >= loginRequestLifetimeMs) this.loginRequests.delete(id);
    }
    for (const [code, entry] of this.codes) {
      // Kept a while after use or expiry so that a replay is answered as such.
      if (now >= entry.expiresAt + 10 * 60_000) this.codes.delete(code);
    }
    for (const [token, entry] of this.accessTokens) {
      if (now >= entry.expiresAt + 24 * 60 * 60_000) this.accessTokens.delete(token);
    }
  }
}
