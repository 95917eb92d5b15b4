/**
 * Logging a person in: the local HTTPS login server, its certificate, the guards of loopback
 * HTTP surfaces, and the paste-the-URL flow for machines without a browser.
 *
 * @module
 */

export { loopbackBindHosts } from './address.js';
export { browserFailureLine, type OpenInBrowserOptions, openInBrowser } from './browser.js';
export {
  CERT_FILE_NAME,
  CERT_VALIDITY_DAYS,
  type CertificateFiles,
  certificateProblem,
  ensureCertificate,
  KEY_FILE_NAME,
} from './cert.js';
export {
  type Completion,
  createLoginFlow,
  DEFAULT_LOGIN_TIMEOUT_MS,
  type LoginFlow,
  type LoginFlowOptions,
  type LoginOutcome,
} from './flow.js';
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
export { type LoginServerInfo, type LoginServerOptions, runLoginServer } from './server.js';
