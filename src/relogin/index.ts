/**
 * Re-login from a phone: an HTTPS page on an explicit address, reached by one-time links, that
 * completes a login from the address the phone's browser ended on.
 *
 * @module
 */
export { createLinkBook, DEFAULT_LINK_LIFE_MS, type LinkBook, newLinkSecret } from './links.js';
export {
  createRateLimiter,
  DEFAULT_RATE_LIMITS,
  type RateDecision,
  type RateLimiter,
  type RateLimits,
} from './rate-limit.js';
export type { ReloginCounts } from './routes.js';
export {
  parseReloginListen,
  type ReloginListen,
  type ReloginPage,
  type ReloginPageOptions,
  startReloginPage,
} from './server.js';
