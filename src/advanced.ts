/**
 * `td-token/advanced`: the building blocks under `td-token`'s public front, for programs that
 * assemble their own token handling: the store classes and encryption, the token record's
 * helpers, the API helpers, retry and backoff, the config folder's paths, the certificate the
 * login server uses, and the watch loop behind `td-token watch`.
 *
 * @example
 * import { FileStore, isAccessTokenFresh } from 'td-token/advanced';
 * const store = new FileStore('output/token.json');
 * const record = await store.load();
 * console.log(record !== undefined && isAccessTokenFresh(record, Date.now(), 5 * 60_000));
 * await store.close();
 *
 * @module
 */
export { type ApiClient, authorizedFetch, getAccounts, getQuotes } from './api.js';
export { ensureCertificate } from './login/index.js';
export { type RetryOptions, withRetry } from './oauth/index.js';
export { configDir, defaultTokenPath } from './paths.js';
export {
  type ClientAuthMethod,
  type ErrorAnswer,
  PROVIDER_DEFAULTS,
  type TokenRequest,
} from './providers/index.js';
export {
  createEncryptingCodec,
  createKeyFile,
  type EncryptionOptions,
  FileStore,
  type LockOptions,
  MemoryStore,
  RedisStore,
  SqliteStore,
  type StoreKind,
  type StoreLock,
  storeSpecFrom,
} from './stores/index.js';
export {
  isAccessTokenFresh,
  isRefreshTokenExpired,
  maskToken,
  parseTokenRecord,
  serializeTokenRecord,
  type TokenResponse,
  tokenRecordFromResponse,
  validateTokenRecord,
} from './token.js';
export { runWatch, type WatchOptions } from './watch.js';
