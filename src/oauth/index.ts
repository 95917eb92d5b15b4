/**
 * The OAuth 2.0 steps td-token takes: the authorization request, the callback, the code and
 * refresh grants (each a send + check pair), and bounded retries.
 *
 * @module
 */
export {
  type AuthorizationRequest,
  codeChallengeS256,
  createAuthorizationRequest,
  generateCodeVerifier,
  generateState,
} from './authorize.js';
export {
  type CallbackQuery,
  type CallbackResult,
  callbackState,
  checkCallback,
  cleanPastedText,
  looksLikeCallbackUrl,
  normalizeBareCode,
  parseCallbackUrl,
  readCallbackQuery,
} from './callback.js';
export {
  exchangeAuthorizationCode,
  exchangeCallback,
  type GrantOptions,
  processAuthorizationCodeResponse,
  processRefreshTokenResponse,
  refreshAccessToken,
  sendAuthorizationCodeGrant,
  sendRefreshTokenGrant,
} from './grants.js';
export {
  DEFAULT_TIMEOUT_MS,
  postTokenRequest,
  readBody,
  requestSignal,
  type SendOptions,
  toNetworkError,
} from './http.js';
export { backoffDelay, RETRY_DEFAULTS, type RetryOptions, withRetry } from './retry.js';
