/**
 * Codes and tokens shaped like the providers' real ones. All are random and opaque; the
 * sandbox recognises them only by looking them up. Each code and token minted here goes to the
 * audit ledger when one is configured (see `ledger.ts`).
 *
 * @module
 */

import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { recordIssued } from './ledger.js';

function b64(bytes: number): string {
  return randomBytes(bytes).toString('base64');
}

function b64url(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

/** Base64 of the issuing host, as in Schwab's `C0.<host>.<random>@` codes. */
const SCHWAB_ISSUER_B64 = Buffer.from('oauth2.sandbox.schwab').toString('base64');

/**
 * A TD authorization code: about 140 characters of base64 that always contain `/`, `+`,
 * `@` and `=`, so a client that does not percent-decode exactly once fails.
 */
export function tdAuthorizationCode(): string {
  return recordIssued('code', `${b64(45)}/${b64(30)}+${b64(15)}@${b64(10)}`);
}

/** A TD refresh token: base64 with `+`, `/` and `=` (they must be form-encoded). */
export function tdRefreshToken(): string {
  return recordIssued('refresh_token', `${b64(60)}+${b64(30)}/${b64(10)}`);
}

/** A TD access token: long base64 (TD's were several hundred characters). */
export function tdAccessToken(): string {
  return recordIssued('access_token', `${b64(300)}+${b64(60)}/${b64(1)}`);
}

/** A Schwab authorization code: `C0.<base64 issuer>.<base64url>@`. */
export function schwabAuthorizationCode(): string {
  return recordIssued('code', `C0.${SCHWAB_ISSUER_B64}.${b64url(32)}@`);
}

/** A Schwab access token: `I0.<base64 issuer>.<base64url>@`. */
export function schwabAccessToken(): string {
  return recordIssued('access_token', `I0.${SCHWAB_ISSUER_B64}.${b64url(48)}@`);
}

/** A Schwab refresh token: base64url ending in `@`. */
export function schwabRefreshToken(): string {
  return recordIssued('refresh_token', `${b64url(48)}@`);
}

/** The `session` parameter Schwab adds to the callback. */
export function schwabSession(): string {
  return randomUUID();
}

/** A server-side id for a started browser login (login page, then consent page). */
export function loginRequestId(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * A JWT-shaped id token (HS256 with the sandbox's own key). Clients must not need it; it is
 * there because Schwab sends one nobody asked for.
 */
export function idToken(
  key: Buffer,
  claims: { iss: string; sub: string; aud: string; iat: number; exp: number },
): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(
    JSON.stringify({ ...claims, auth_time: claims.iat, jti: randomUUID() }),
  ).toString('base64url');
  const signature = createHmac('sha256', key).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}
