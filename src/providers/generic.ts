/**
 * Any RFC 6749 authorization server: authorize and token URLs, a client id and optional secret,
 * client authentication `none` / `client_secret_basic` / `client_secret_post`, scopes, and PKCE
 * S256 (on by default).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749
 * @see https://www.rfc-editor.org/rfc/rfc7636
 * @module
 */
import { ConfigError } from '../errors.js';
import { assertSecureUrl } from '../util/url.js';
import { DEFAULT_REFRESH_LIFETIME_MS, Rfc6749Provider, requireSetting } from './rfc6749.js';
import type { ClientAuthMethod } from './types.js';

/** Settings for {@link GenericProvider}. */
export interface GenericConfig {
  clientId: string;
  clientSecret?: string | undefined;
  redirectUri: string;
  authorizeUrl: string;
  tokenUrl: string;
  apiUrl?: string | undefined;
  scope?: string | undefined;
  clientAuth?: ClientAuthMethod | undefined;
  pkce?: boolean | undefined;
  /**
   * How long the server's refresh tokens live, ms, when its answers do not say. Unset: unknown
   * (recorded as 90 days, marked assumed).
   */
  refreshTokenLifetimeMs?: number | undefined;
}

const CLIENT_AUTH: readonly ClientAuthMethod[] = [
  'none',
  'client_secret_basic',
  'client_secret_post',
];

/** A standard OAuth 2.0 server. */
export class GenericProvider extends Rfc6749Provider {
  constructor(config: GenericConfig) {
    const secret = config.clientSecret === '' ? undefined : config.clientSecret;
    const clientAuth = config.clientAuth ?? (secret === undefined ? 'none' : 'client_secret_basic');
    if (!CLIENT_AUTH.includes(clientAuth)) {
      throw new ConfigError(
        `unknown client authentication "${String(clientAuth)}". use one of ${CLIENT_AUTH.join(', ')}`,
      );
    }
    const clientId = requireSetting(
      config.clientId,
      'client id',
      '--client-id',
      'TD_TOKEN_CLIENT_ID',
    );
    const authorizeUrl = requireSetting(
      config.authorizeUrl,
      'authorize URL for the generic provider',
      '--authorize-url',
      'TD_TOKEN_AUTHORIZE_URL',
    );
    const tokenUrl = requireSetting(
      config.tokenUrl,
      'token URL for the generic provider',
      '--token-url',
      'TD_TOKEN_TOKEN_URL',
    );
    const token = assertSecureUrl(tokenUrl, 'token URL');
    const lifetime = config.refreshTokenLifetimeMs;
    if (
      lifetime !== undefined &&
      (typeof lifetime !== 'number' || !Number.isFinite(lifetime) || lifetime < 1000)
    ) {
      throw new ConfigError(
        `the refresh token lifetime ${String(lifetime)} is not a duration of at least 1 s. set refreshTokenLifetime to how long the server's refresh tokens live (e.g. 30d), or leave it unset if unknown`,
      );
    }
    super({
      name: 'generic',
      label: token.host,
      clientId,
      clientSecret: secret,
      redirectUri: config.redirectUri,
      authorizeUrl,
      tokenUrl,
      apiUrl: config.apiUrl === undefined || config.apiUrl === '' ? token.origin : config.apiUrl,
      scope: config.scope === '' ? undefined : config.scope,
      usesPkce: config.pkce ?? true,
      canRenewRefreshToken: false,
      refreshTokenLifetimeMs: lifetime ?? DEFAULT_REFRESH_LIFETIME_MS,
      refreshTokenLifetimeAssumed: lifetime === undefined,
      clientAuth,
    });
  }
}
