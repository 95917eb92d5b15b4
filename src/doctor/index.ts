/**
 * `td-token doctor`'s checks, run in order: the redirect URI by its shape and by the provider's
 * answer, the app key and secret, the clock, the login server's port and certificate, the
 * config folder's and store's modes, and the store itself. Each is a function returning a
 * {@link CheckResult}; {@link runDoctor} runs them all and never throws for what it finds.
 *
 * @module
 */
import { providerOptionsOf, type ResolvedConfig } from '../config/resolve.js';
import type { Provider } from '../providers/types.js';
import type { StoreSpec } from '../stores/spec.js';
import { checkCertificate } from './cert.js';
import { checkConfigFolder, checkPort, checkStoreModes } from './local.js';
import {
  type AuthorizeAnswer,
  checkAppCredentials,
  checkAuthorize,
  checkClock,
  type ProbeTarget,
  portalOf,
  probeAuthorize,
} from './provider.js';
import { checkRedirectShape } from './redirect.js';
import { checkStore } from './store.js';
import type { CheckResult } from './types.js';

export type { CheckResult } from './types.js';

/** What {@link runDoctor} works on. */
export interface DoctorInput {
  config: ResolvedConfig;
  /** The provider made from `config`, with the endpoints it really talks to. */
  provider: Provider;
  /** The store spec `createStore` takes for `config.store`. */
  storeSpec: StoreSpec;
  env: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

/** Runs every check, in order, and returns their outcomes. */
export async function runDoctor(input: DoctorInput): Promise<CheckResult[]> {
  const { config, provider } = input;
  const fetchOption = input.fetch === undefined ? {} : { fetch: input.fetch };
  const target: ProbeTarget = {
    protocol: config.protocol,
    options: {
      ...providerOptionsOf(config),
      authorizeUrl: provider.authorizeUrl,
      tokenUrl: provider.tokenUrl,
      apiUrl: provider.apiUrl,
    },
    portal: portalOf(config.protocol),
  };
  const results: CheckResult[] = [checkRedirectShape(config.protocol, config.redirectUri)];
  let answer: AuthorizeAnswer | Error;
  try {
    answer = await probeAuthorize(provider, fetchOption);
  } catch (error) {
    answer = error instanceof Error ? error : new Error(String(error));
  }
  results.push(await checkAuthorize(target, answer, fetchOption));
  results.push(await checkAppCredentials(target, provider, fetchOption));
  results.push(checkClock(answer));
  results.push(await checkPort(config.redirectUri));
  results.push(await checkCertificate(config.redirectUri, config.certDir, input.env));
  results.push(await checkConfigFolder(config.configDir));
  results.push(await checkStoreModes(config.store));
  results.push(await checkStore(config.store, input.storeSpec));
  return results;
}
