/**
 * What every request handler of one sandbox shares.
 *
 * @module
 */

import type { AppRegistry } from './apps.js';
import type { FaultQueue } from './faults.js';
import type { RateLimiter } from './rate-limit.js';
import type { SandboxState } from './state.js';
import type { StateFile } from './state-file.js';
import type { SandboxClock, SandboxFlavor, SandboxSettings } from './types.js';

/** The paths a flavor serves. */
export interface SandboxPaths {
  authorize: string;
  login: string;
  consent: string;
  token: string;
  accounts: string;
  quotes: string;
  /** Query parameter naming the quoted symbols: TD `symbol`, Schwab `symbols`. */
  quotesParam: string;
}

/** Each flavor's paths, as on the real hosts. */
export const SANDBOX_PATHS: Record<SandboxFlavor, SandboxPaths> = {
  tdameritrade: {
    authorize: '/auth',
    login: '/auth/login',
    consent: '/auth/consent',
    token: '/v1/oauth2/token',
    accounts: '/v1/accounts',
    quotes: '/v1/marketdata/quotes',
    quotesParam: 'symbol',
  },
  schwab: {
    authorize: '/v1/oauth/authorize',
    login: '/v1/oauth/authorize/login',
    consent: '/v1/oauth/authorize/consent',
    token: '/v1/oauth/token',
    accounts: '/trader/v1/accounts/accountNumbers',
    quotes: '/marketdata/v1/quotes',
    quotesParam: 'symbols',
  },
};

/** Shared state and configuration of one running sandbox. */
export interface SandboxContext {
  flavor: SandboxFlavor;
  settings: SandboxSettings;
  paths: SandboxPaths;
  apps: AppRegistry;
  state: SandboxState;
  /** Where the tokens are kept between runs, when `stateFile` was given. */
  stateFile: StateFile | undefined;
  clock: SandboxClock;
  faults: FaultQueue;
  rateLimiter: RateLimiter;
  /** The sandbox origin, used as the id token issuer. */
  origin: () => string;
  /** Key that signs id tokens. */
  idTokenKey: Buffer;
  /** Waits `ms` of real time; resolves false instead when the sandbox closes first. */
  wait(ms: number): Promise<boolean>;
}
