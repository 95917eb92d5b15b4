/**
 * td-token: OAuth 2.0 login and always-valid tokens for the TD Ameritrade API and the Charles
 * Schwab Trader API. The public API, by name.
 *
 * @example
 * import { openTokenManager } from 'td-token';
 * const td = await openTokenManager({ provider: 'schwab', clientId, clientSecret,
 *   redirectUri: 'https://127.0.0.1:8182' });
 * const accessToken = await td.getAccessToken();
 *
 * @module
 */
export { type ApiClient, authorizedFetch, getAccounts, getQuotes } from './api.js';
export { type OpenTokenManagerOptions, openTokenManager } from './client.js';
export {
  CallbackError,
  ConfigError,
  type ErrorCode,
  ForbiddenError,
  isTdTokenError,
  LoginRequiredError,
  ProviderError,
  StoreError,
  TdTokenError,
  type TdTokenErrorOptions,
  TokenExpiredError,
} from './errors.js';
export {
  ensureCertificate,
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
  type RetryOptions,
  refreshAccessToken,
  sendAuthorizationCodeGrant,
  sendRefreshTokenGrant,
  withRetry,
} from './oauth/index.js';
export { configDir, defaultTokenPath } from './paths.js';
export {
  type ClientAuthMethod,
  createProvider,
  type ErrorAnswer,
  PROVIDER_DEFAULTS,
  type Provider,
  type ProviderName,
  type ProviderOptions,
  type TokenRequest,
} from './providers/index.js';
export {
  createEncryptingCodec,
  createKeyFile,
  createStore,
  type EncryptionOptions,
  FileStore,
  type LockOptions,
  MemoryStore,
  RedisStore,
  SqliteStore,
  type StoreKind,
  type StoreLock,
  type StoreSpec,
  storeSpecFrom,
  type TokenStore,
} from './stores/index.js';
export {
  isAccessTokenFresh,
  isRefreshTokenExpired,
  maskToken,
  parseTokenRecord,
  serializeTokenRecord,
  type TokenRecord,
  type TokenResponse,
  tokenRecordFromResponse,
  validateTokenRecord,
} from './token.js';
export { runWatch, type WatchOptions } from './watch.js';
