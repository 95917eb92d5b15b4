/**
 * Registered apps and the providers' exact-match rules for client ids and redirect URIs.
 *
 * @module
 */

import { TD_CLIENT_ID_SUFFIX } from './defaults.js';
import type { SandboxApp, SandboxFlavor } from './types.js';

/** The apps registered with one sandbox, keyed by client id (TD: without the suffix). */
export class AppRegistry {
  readonly #flavor: SandboxFlavor;
  readonly #apps = new Map<string, SandboxApp>();

  constructor(flavor: SandboxFlavor) {
    this.#flavor = flavor;
  }

  /** Registers (or replaces) an app. A bad app throws a TypeError naming the field. */
  register(app: SandboxApp): void {
    if (typeof app !== 'object' || app === null) throw new TypeError('"app" must be an object');
    if (typeof app.clientId !== 'string' || app.clientId === '') {
      throw new TypeError('"app.clientId" must be a non-empty string');
    }
    let clientId = app.clientId;
    if (this.#flavor === 'tdameritrade' && clientId.endsWith(TD_CLIENT_ID_SUFFIX)) {
      clientId = clientId.slice(0, -TD_CLIENT_ID_SUFFIX.length);
      if (clientId === '') throw new TypeError('"app.clientId" must be a non-empty string');
    }
    if (this.#flavor === 'schwab') {
      if (typeof app.clientSecret !== 'string' || app.clientSecret === '') {
        throw new TypeError('"app.clientSecret" must be a non-empty string for a schwab app');
      }
    } else if (app.clientSecret !== undefined && typeof app.clientSecret !== 'string') {
      throw new TypeError('"app.clientSecret" must be a string');
    }
    if (!Array.isArray(app.redirectUris) || app.redirectUris.length === 0) {
      throw new TypeError('"app.redirectUris" must be a non-empty array of URLs');
    }
    for (const uri of app.redirectUris) {
      if (typeof uri !== 'string' || !URL.canParse(uri)) {
        throw new TypeError('"app.redirectUris" must hold absolute URLs');
      }
      if (this.#flavor === 'schwab' && !isSchwabCallbackAllowed(uri)) {
        throw new TypeError(
          '"app.redirectUris" must be https://127.0.0.1[:port][/path] URLs for a schwab app',
        );
      }
    }
    if (app.status !== undefined && app.status !== 'ready' && app.status !== 'pending') {
      throw new TypeError('"app.status" must be "ready" or "pending"');
    }
    if (app.status === 'pending' && this.#flavor !== 'schwab') {
      throw new TypeError('"app.status" "pending" exists only for a schwab app');
    }
    const stored: SandboxApp = { clientId, redirectUris: [...app.redirectUris] };
    if (app.clientSecret !== undefined) stored.clientSecret = app.clientSecret;
    if (app.status === 'pending') stored.status = 'pending';
    this.#apps.set(clientId, stored);
  }

  /** Every registered app's client id and redirect URIs (no secrets). */
  list(): { clientId: string; redirectUris: string[] }[] {
    return [...this.#apps.values()].map((app) => ({
      clientId: app.clientId,
      redirectUris: [...app.redirectUris],
    }));
  }

  /** The app with exactly this client id (TD: the bare key), if any. */
  get(clientId: string): SandboxApp | undefined {
    return this.#apps.get(clientId);
  }

  /**
   * TD authorize rule: the client id must be `<key>@AMER.OAUTHAP` exactly (case-sensitive)
   * for a registered key.
   */
  findForTdAuthorize(clientId: string): SandboxApp | undefined {
    if (!clientId.endsWith(TD_CLIENT_ID_SUFFIX)) return undefined;
    return this.#apps.get(clientId.slice(0, -TD_CLIENT_ID_SUFFIX.length));
  }

  /** TD token-endpoint rule: the client id with or without the suffix. */
  findForTdToken(clientId: string): SandboxApp | undefined {
    const bare = clientId.endsWith(TD_CLIENT_ID_SUFFIX)
      ? clientId.slice(0, -TD_CLIENT_ID_SUFFIX.length)
      : clientId;
    return this.#apps.get(bare);
  }
}

/** Exact match of a redirect URI with one of the app's: same string, nothing normalised. */
export function isRegisteredRedirectUri(app: SandboxApp, redirectUri: string): boolean {
  return app.redirectUris.includes(redirectUri);
}

/** Schwab's callback rule on top of the exact match: https and host 127.0.0.1. */
export function isSchwabCallbackAllowed(redirectUri: string): boolean {
  if (!URL.canParse(redirectUri)) return false;
  const url = new URL(redirectUri);
  return url.protocol === 'https:' && url.hostname === '127.0.0.1';
}
