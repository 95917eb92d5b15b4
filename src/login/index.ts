/**
 * Logging a person in: the local HTTPS login server, its certificate, the guards of loopback
 * HTTP surfaces, and the paste-the-URL flow for machines without a browser.
 *
 * @module
 */
export {
  CERT_FILE_NAME,
  CERT_VALIDITY_DAYS,
  type CertificateFiles,
  certificateProblem,
  ensureCertificate,
  KEY_FILE_NAME,
} from './cert.js';
export {
  allowedHost,
  bearerMatches,
  carriesSecret,
  type GuardHeaders,
  type GuardRequest,
  hostAllowList,
  navigationRefusal,
  originAllowList,
  type PostRefusal,
  postRefusal,
  type SecurityHeaderOptions,
  secretsEqual,
  securityHeaders,
} from './guard.js';
export { type ManualLoginOptions, manualLogin } from './manual.js';
export {
  DEFAULT_LOGIN_TIMEOUT_MS,
  type LoginServerInfo,
  type LoginServerOptions,
  loopbackBindHosts,
  openInBrowser,
  runLoginServer,
} from './server.js';
