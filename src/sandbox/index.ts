/**
 * The provider sandbox: a local emulator of the TD Ameritrade and Charles Schwab OAuth
 * servers and a few API endpoints. It imports nothing from the client side of td-token, so it
 * cannot share the client's mistakes.
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
