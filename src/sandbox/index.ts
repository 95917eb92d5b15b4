/**
 * The provider sandbox: a local emulator of the TD Ameritrade and Charles Schwab OAuth
 * servers and a few API endpoints. It imports nothing from the client side of td-token, so it
 * cannot share the client's mistakes.
 *
 * Paths, as on the real hosts:
 * - TD: `GET /auth`, `POST /v1/oauth2/token`, `GET /v1/accounts`, `GET /v1/marketdata/quotes?symbol=A,B`
 * - Schwab: `GET /v1/oauth/authorize`, `POST /v1/oauth/token`,
 *   `GET /trader/v1/accounts/accountNumbers`, `GET /marketdata/v1/quotes?symbols=A,B`
 * - the login and consent forms post to `<authorize path>/login` and `<authorize path>/consent`,
 *   carrying a server-side login request id in a hidden `request` field (no cookies).
 *
 * Choices where the providers' behaviour is not documented (see the protocol notes):
 * - TD's client id or redirect URI mismatch page is served with HTTP 400 (HTML, never a
 *   redirect); Schwab's "Access Denied" page with 403; Schwab's bad client id at authorize is
 *   401 JSON `invalid_client`.
 * - A Schwab app registered with `status: 'pending'` ("Approved - Pending" on the portal) gets,
 *   at authorize, a 200 HTML page "We are unable to complete your request. Please contact
 *   customer service for further assistance." (what users of such apps report; the real status
 *   code is not known) instead of the login page.
 * - Every answer's `Date` header is the sandbox clock plus `settings.clockSkewMs` (default 0), so
 *   a test can emulate a provider whose clock is ahead of or behind this machine's.
 * - Once the client id and callback are known good, a missing (TD) or non-`code`
 *   `response_type` is sent back to the callback as `error=invalid_request` /
 *   `unsupported_response_type`.
 * - A TD code grant without `access_type=offline` gets no refresh token (the stricter reading),
 *   unless `settings.requireAccessTypeOfflineForCodeGrant` is turned off. Any `access_type` other
 *   than `offline` is `invalid_request`.
 * - A code is spent by the first request that names it for the right app, even if that
 *   request then fails on its redirect URI. Injected faults never spend a code: they answer
 *   before any processing (except `delay`, which then processes normally).
 * - A Schwab refresh token past its 7 days answers 400
 *   `{"error":"invalid_client","error_description":"refresh token invalid"}`; an unknown,
 *   revoked or superseded one answers 400 `unsupported_token_type` with the nested JSON.
 *   A Schwab code exchange (the end of a browser login) supersedes the app's earlier refresh
 *   tokens; its new refresh token lives 7 days from that exchange.
 * - The rate limit applies to both flavors' token endpoints (per app: TD's client id without
 *   the suffix, Schwab's Basic user), counting only requests it let through; 429 carries
 *   `Retry-After` in seconds until a slot frees up. The window runs on the sandbox clock.
 * - Counters: `token.total` counts every POST to the token endpoint; the grant counters count
 *   by the body's `grant_type` (faulted requests included); `ok` counts 200 answers with
 *   tokens, `failed` everything else (faults, dropped connections, 429s).
 *
 * Persistence: with `stateFile`, the refresh and access tokens issued are kept in that JSON file
 * (read at start, written after every change), so they outlive the process; see `state-file.ts`.
 * Without it, everything lives in memory and ends with `close()`.
 *
 * Audit hook: with the environment variable `TD_TOKEN_SANDBOX_LEDGER` naming a file, every
 * authorization code, access token and refresh token the sandbox issues is appended to it
 * (`<kind> <value>` per line), so that a test run can search all it printed for every secret
 * handed out. Unset (the default), nothing is written. Never set it outside tests.
 *
 * @module
 */

export { SANDBOX_DEFAULT_APPS } from './defaults.js';
export { isLoopbackHost, startSandbox } from './server.js';
export type {
  Sandbox,
  SandboxApp,
  SandboxClock,
  SandboxCounters,
  SandboxFault,
  SandboxFaults,
  SandboxFlavor,
  SandboxOptions,
  SandboxSettings,
} from './types.js';
