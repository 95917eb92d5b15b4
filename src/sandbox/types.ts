/**
 * Public types of the provider sandbox.
 *
 * @module
 */

/** Which provider the sandbox emulates. */
export type SandboxFlavor = 'tdameritrade' | 'schwab';

/** An application registered with the sandbox, as on the provider's developer portal. */
export interface SandboxApp {
  /**
   * TD: the consumer key, without `@AMER.OAUTHAP` (a suffix given here is removed).
   * Schwab: the app key.
   */
  clientId: string;
  /** Schwab only: the app secret, sent with HTTP Basic authentication to the token endpoint. */
  clientSecret?: string;
  /** Callback URLs, matched exactly (scheme, host, port, path, trailing slash, case). */
  redirectUris: string[];
  /**
   * Schwab only: the app's status on the developer portal. `'pending'` is "Approved - Pending"
   * (a new app, not usable for about a day): its authorize requests get Schwab's "We are unable
   * to complete your request" page instead of the login page. Default `'ready'` ("Ready For Use").
   */
  status?: 'ready' | 'pending';
}

/** Tunable behaviour. Every field has a per-flavor default. */
export interface SandboxSettings {
  /** How long an authorization code can be exchanged. TD 60 000 ms, Schwab 30 000 ms. */
  codeLifetimeMs: number;
  /** `expires_in` of access tokens. 1800 for both. */
  accessTokenLifetimeSec: number;
  /**
   * Refresh token lifetime. TD 90 days from issue; Schwab 7 days from the browser login,
   * never extended by refreshing.
   */
  refreshTokenLifetimeMs: number;
  /**
   * TD: whether a refresh with `access_type=offline` (which issues a new refresh token)
   * invalidates the old one. Default true.
   */
  invalidateOldRefreshTokenOnRenewal: boolean;
  /** Token-endpoint requests allowed per app in any rolling minute, then 429. 0 turns it off. Default 120. */
  rateLimitPerMinute: number;
  /**
   * TD: whether a code grant without `access_type=offline` is refused a refresh token.
   * Default true (the stricter reading of TD's documentation); false gives the refresh token
   * anyway.
   */
  requireAccessTypeOfflineForCodeGrant: boolean;
  /** How long a started browser login (login page, consent page) stays usable. Default 10 minutes. */
  loginRequestLifetimeMs: number;
  /**
   * When set, the login page accepts only this user id and password. Default: any non-empty
   * user id and password are accepted.
   */
  credentials: { username: string; password: string } | undefined;
  /**
   * Added to the sandbox clock in the `Date` header of every answer, in ms (negative: behind),
   * to emulate a provider whose clock differs from this machine's. Default 0: the `Date` header
   * is the sandbox clock.
   */
  clockSkewMs: number;
}

/** Options of {@link startSandbox}. */
export interface SandboxOptions {
  /** Which provider to emulate. */
  flavor: SandboxFlavor;
  /** Loopback host to listen on: 127.0.0.0/8, ::1 or localhost. Default 127.0.0.1. */
  host?: string;
  /** Port; default 0 (any free port). */
  port?: number;
  /** Serve HTTPS: `true` for a self-signed certificate made at start, or a PEM cert and key. */
  https?: boolean | { cert: string; key: string };
  /** Registered apps. Default: the flavor's entry of `SANDBOX_DEFAULT_APPS`. */
  apps?: SandboxApp[];
  /** Base clock (ms epoch). Default `Date.now`. The sandbox clock adds its own offset. */
  now?: () => number;
  /** Overrides of the flavor's default settings. */
  settings?: Partial<SandboxSettings>;
  /**
   * A JSON file that keeps the refresh and access tokens the sandbox issues (with their app,
   * user, expiry and status), so that they keep working after a restart and in other sandboxes
   * given the same file. Read at start when it exists; written (0600, atomically, folder 0700)
   * after every change that issues, rotates, supersedes or revokes a token. Codes and logins in
   * progress are not kept. A file that cannot be read as a state of this flavor makes the start
   * fail with an error naming it; delete it to start afresh. Default: tokens live in memory only.
   */
  stateFile?: string;
}

/**
 * A fault answered by the token endpoint instead of the normal processing.
 * - `status`: that HTTP status, with a JSON body (default for 500) or a plain text body
 *   (default for 502 and 503), and `Retry-After: retryAfterSec` when that is given.
 * - `html`: an HTML error page ("Access Denied") with `status` (default 200).
 * - `malformed-json`: 200, `Content-Type: application/json`, a truncated token response.
 * - `delay`: waits `ms` of real time, then processes the request normally.
 * - `drop`: destroys the connection without an answer.
 * - `rate-limit`: 429 with `Retry-After: retryAfterSec`.
 */
export type SandboxFault =
  | { kind: 'status'; status: 500 | 502 | 503; body?: 'json' | 'text'; retryAfterSec?: number }
  | { kind: 'html'; status?: 200 | 403 | 503 }
  | { kind: 'malformed-json' }
  | { kind: 'delay'; ms: number }
  | { kind: 'drop' }
  | { kind: 'rate-limit'; retryAfterSec: number };

/** Request counts since start or the last `resetCounters()`. */
export interface SandboxCounters {
  token: {
    /** Token-endpoint requests with `grant_type=authorization_code`. */
    authorization_code: number;
    /** Token-endpoint requests with `grant_type=refresh_token`. */
    refresh_token: number;
    /** Every POST to the token endpoint, whatever its body. */
    total: number;
    /** Requests answered with tokens (200, normal processing). */
    ok: number;
    /** Every other answer, injected faults and dropped connections included. */
    failed: number;
  };
  /** Requests to the API endpoints, authorised or not. */
  api: number;
  /** GET requests to the authorize endpoint, valid or not. */
  authorize: number;
}

/** The sandbox clock: the base clock plus an offset that only grows. */
export interface SandboxClock {
  /** Current sandbox time, ms epoch. */
  now(): number;
  /** Moves sandbox time forward by `ms` (a finite number >= 0). */
  advance(ms: number): void;
}

/** Fault injection for the token endpoint. */
export interface SandboxFaults {
  /** The next `count` (default 1) token-endpoint requests get `fault` instead of an answer. */
  inject(fault: SandboxFault, count?: number): void;
  /** Forgets every pending fault. */
  clear(): void;
  /** How many token-endpoint requests will still get a fault. */
  pending(): number;
}

/** A running sandbox. */
export interface Sandbox {
  readonly flavor: SandboxFlavor;
  /** Origin, e.g. `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Authorization endpoint URL. */
  readonly authorizeUrl: string;
  /** Token endpoint URL. */
  readonly tokenUrl: string;
  /** API base URL (the origin; API paths start with `/v1/...`, `/trader/...`, `/marketdata/...`). */
  readonly apiUrl: string;
  /** The PEM certificate served when running HTTPS, so that clients can trust it. */
  readonly certificate: string | undefined;
  /** The settings in force (defaults merged with the overrides). */
  readonly settings: Readonly<SandboxSettings>;
  /** Registers another app (or replaces the one with the same client id). */
  registerApp(app: SandboxApp): void;
  readonly clock: SandboxClock;
  readonly faults: SandboxFaults;
  counters(): SandboxCounters;
  resetCounters(): void;
  /** Revokes a refresh token as if the user had revoked the app's access. Unknown tokens are ignored. */
  revokeRefreshToken(refreshToken: string): void;
  /** Closes the listener and every open connection. Safe to call more than once. */
  close(): Promise<void>;
}
