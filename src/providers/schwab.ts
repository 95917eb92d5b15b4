/**
 * Charles Schwab Trader API: `Basic` client authentication with the app key and secret, scope
 * `api`, an `id_token` nobody asked for (ignored), a `session` parameter on the callback
 * (ignored), a refresh token that lives 7 days from the browser login and that refreshing never
 * extends, an https callback on 127.0.0.1, and errors that are not RFC 6749: `invalid_client`
 * for an expired refresh token, and `unsupported_token_type` carrying JSON inside a string.
 *
 * @module
 */
import { ConfigError, LoginRequiredError, type TdTokenError } from '../errors.js';
import { assertSecureUrl } from '../util/url.js';
import { type AnswerBody, errorOptions } from './answer.js';
import {
  checkSymbols,
  describe,
  type ProviderConfig,
  Rfc6749Provider,
  requireSetting,
} from './rfc6749.js';
import type { ErrorAnswer, TokenRequest } from './types.js';

/** Schwab's production host; the callback rules below apply only there. */
export const SCHWAB_HOST = 'api.schwabapi.com';

/** A Schwab refresh token's life, from the browser login. */
export const SCHWAB_REFRESH_LIFETIME_MS = 7 * 86_400_000;

/** Settings for {@link SchwabProvider}. */
export type SchwabConfig = Pick<
  ProviderConfig,
  'clientId' | 'clientSecret' | 'redirectUri' | 'authorizeUrl' | 'tokenUrl' | 'apiUrl'
>;

/**
 * Read the OAuth error Schwab nests inside `error_description` as a JSON string, e.g.
 * `400 Bad Request: "{\"error_description\":\"...\",\"error\":\"refresh_token_authentication_error\"}"`.
 * Returns the nested `error`, or undefined.
 */
export function nestedSchwabError(description: string | undefined): string | undefined {
  if (description === undefined) return undefined;
  const start = description.indexOf('{');
  const end = description.lastIndexOf('}');
  if (start < 0 || end <= start) return undefined;
  const inner = description.slice(start, end + 1);
  for (const candidate of [inner, inner.replace(/\\"/g, '"').replace(/\\\\/g, '\\')]) {
    try {
      const value: unknown = JSON.parse(candidate);
      if (typeof value === 'object' && value !== null) {
        const error = (value as Record<string, unknown>)['error'];
        if (typeof error === 'string') return error;
      }
    } catch {
      // try the next unescaping
    }
  }
  return undefined;
}

/** Schwab's OAuth dialect. */
export class SchwabProvider extends Rfc6749Provider {
  constructor(config: SchwabConfig) {
    const clientId = requireSetting(
      config.clientId,
      'Schwab app key (client id)',
      '--client-id',
      'TD_TOKEN_CLIENT_ID',
    );
    const clientSecret = requireSetting(
      config.clientSecret,
      'Schwab app secret (client secret)',
      '--client-secret',
      'TD_TOKEN_CLIENT_SECRET',
    );
    const authorize = assertSecureUrl(config.authorizeUrl, 'authorize URL');
    if (authorize.hostname === SCHWAB_HOST) {
      const redirect = assertSecureUrl(config.redirectUri, 'redirect URI');
      if (redirect.protocol !== 'https:' || redirect.hostname !== '127.0.0.1') {
        const port = redirect.port === '' ? '' : `:${redirect.port}`;
        throw new ConfigError(
          `Schwab accepts only an https callback URL on 127.0.0.1 (not localhost), and ${config.redirectUri.trim()} is not one. register and use https://127.0.0.1${port}${redirect.pathname === '/' ? '' : redirect.pathname} (--redirect-uri)`,
        );
      }
    }
    super({
      ...config,
      name: 'schwab',
      label: 'Schwab',
      clientId,
      clientSecret,
      scope: 'api',
      usesPkce: false,
      canRenewRefreshToken: false,
      refreshTokenLifetimeMs: SCHWAB_REFRESH_LIFETIME_MS,
      clientAuth: 'client_secret_basic',
    });
  }

  protected override authorizationParams(params: { state: string }): [string, string][] {
    return [
      ['response_type', 'code'],
      ['client_id', this.clientId],
      ['redirect_uri', this.redirectUri],
      ['state', params.state],
    ];
  }

  /** Schwab decodes `Basic` as `app_key:app_secret` verbatim (no form-encoding first). */
  protected override authenticate(headers: Record<string, string>): void {
    const pair = `${this.clientId}:${this.clientSecret ?? ''}`;
    headers['authorization'] = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
  }

  override codeGrantRequest(code: string, _codeVerifier?: string): TokenRequest {
    return super.codeGrantRequest(code, undefined);
  }

  protected override recordOptions(): {
    defaultRefreshLifetimeMs: number;
    refreshExpiryFixedAtLogin: boolean;
  } {
    // No refresh_token_expires_in: 7 days from the browser login, never extended by a refresh.
    return {
      defaultRefreshLifetimeMs: SCHWAB_REFRESH_LIFETIME_MS,
      refreshExpiryFixedAtLogin: true,
    };
  }

  protected override get refreshLifeNote(): string {
    return ' (Schwab refresh tokens last 7 days from the browser login)';
  }

  protected override get clientFix(): string {
    return 'check the app key and secret (--client-id, --client-secret) and that the callback URL is exactly the one registered with the app (--redirect-uri)';
  }

  protected override oauthError(
    answer: ErrorAnswer,
    body: Extract<AnswerBody, { kind: 'json' }>,
    grant: 'authorization_code' | 'refresh_token',
  ): TdTokenError {
    if (grant === 'refresh_token') {
      const nested = nestedSchwabError(body.description);
      const description = body.description?.toLowerCase() ?? '';
      if (
        body.error === 'unsupported_token_type' ||
        nested === 'refresh_token_authentication_error' ||
        (body.error === 'invalid_client' && description.includes('refresh token'))
      ) {
        const options = errorOptions(answer, body);
        return new LoginRequiredError(
          `${this.tokenEndpointName} rejected the refresh token (${describe(body)}${nested ? `: ${nested}` : ''}): it expired${this.refreshLifeNote}, or a newer login replaced it. run 'td-token login' to log in again`,
          options,
        );
      }
    }
    return super.oauthError(answer, body, grant);
  }

  override accountsUrl(): URL {
    return this.apiEndpoint('/trader/v1/accounts/accountNumbers');
  }

  override quotesUrl(symbols: readonly string[]): URL {
    const list = checkSymbols(symbols);
    const url = this.apiEndpoint('/marketdata/v1/quotes');
    url.search = `?symbols=${list.map(encodeURIComponent).join(',')}`;
    return url;
  }
}
