/**
 * td-token: OAuth 2.0 login and always-valid tokens for the TD Ameritrade API and the Charles
 * Schwab Trader API. What a user needs, by name: the token manager and the one call that opens
 * it, the provider and store factories, the login functions and the protocol's grant pairs, the
 * errors, and the record, store and provider types. The building blocks under them (the store
 * classes, token-record helpers, the API helpers, retry, paths) are in `td-token/advanced`; the
 * provider sandbox is `td-token/sandbox`.
 *
 * @example
 * import { openTokenManager } from 'td-token';
 * const td = await openTokenManager({ provider: 'sandbox-schwab' }); // or 'schwab' with your app
 * const accessToken = await td.getAccessToken();
 * await td.close();
 *
 * @module
 */
export {
  type OpenTokenManagerOptions,
  type OpenTokenManagerProvider,
  openTokenManager,
} from './client.js';
export {
  CallbackError,
  type CallbackErrorCode,
  ConfigError,
  ERROR_CODES,
  type ErrorCode,
  ForbiddenError,
  isTdTokenError,
  LoginRequiredError,
  ProviderError,
  type ProviderErrorCode,
  StoreError,
  type StoreErrorCode,
  TdTokenError,
  type TdTokenErrorOptions,
  TokenExpiredError,
} from './errors.js';
export {
  type LoginServerOptions,
  type ManualLoginOptions,
  manualLogin,
  runLoginServer,
} from './login/index.js';
export {
  type RefreshEvent,
  type RefreshTokenExpiringEvent,
  TokenManager,
  type TokenManagerEvents,
  type TokenManagerOptions,
} from './manager.js';
export {
  type AuthorizationRequest,
  type CallbackResult,
  createAuthorizationRequest,
  exchangeAuthorizationCode,
  type GrantOptions,
  parseCallbackUrl,
  processAuthorizationCodeResponse,
  processRefreshTokenResponse,
  refreshAccessToken,
  sendAuthorizationCodeGrant,
  sendRefreshTokenGrant,
} from './oauth/index.js';
export {
  createProvider,
  type Provider,
  type ProviderName,
  type ProviderOptions,
} from './providers/index.js';
export { createStore, type StoreSpec, type TokenStore } from './stores/index.js';
export type { TokenRecord } from './token.js';
