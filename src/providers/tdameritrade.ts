/**
 * TD Ameritrade (retired in 2024): the `@AMER.OAUTHAP` client id suffix, a public client with no
 * secret and no scope, Google-style `access_type=offline`, `refresh_token_expires_in`, and
 * `{"error": "..."}` answers in which `invalid_grant` on a refresh means a dead refresh token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749
 * @module
 */
import { checkSymbols, type ProviderConfig, Rfc6749Provider, requireSetting } from './rfc6749.js';
import type { TokenRequest } from './types.js';

/** The suffix TD's authorization endpoint wants on the consumer key. */
export const TD_CLIENT_ID_SUFFIX = '@AMER.OAUTHAP';

const DAY_MS = 86_400_000;

/**
 * The client id as TD's authorization endpoint wants it: the bare consumer key gets
 * `@AMER.OAUTHAP`; a suffix given in the wrong case is corrected (TD compares it exactly).
 *
 * @example
 * tdClientId('ABCDEF'); // 'ABCDEF@AMER.OAUTHAP'
 */
export function tdClientId(consumerKey: string): string {
  const key = consumerKey.trim();
  const at = key.length - TD_CLIENT_ID_SUFFIX.length;
  if (at > 0 && key.slice(at).toUpperCase() === TD_CLIENT_ID_SUFFIX) {
    return key.slice(0, at) + TD_CLIENT_ID_SUFFIX;
  }
  return key + TD_CLIENT_ID_SUFFIX;
}

/** Settings for {@link TdAmeritradeProvider}; `clientId` may be bare or suffixed. */
export type TdAmeritradeConfig = Pick<
  ProviderConfig,
  'clientId' | 'redirectUri' | 'authorizeUrl' | 'tokenUrl' | 'apiUrl'
>;

/** TD Ameritrade's OAuth dialect. */
export class TdAmeritradeProvider extends Rfc6749Provider {
  constructor(config: TdAmeritradeConfig) {
    super({
      ...config,
      name: 'tdameritrade',
      label: 'TD Ameritrade',
      clientId: tdClientId(
        requireSetting(
          config.clientId,
          'TD Ameritrade consumer key (client id)',
          '--client-id',
          'TD_TOKEN_CLIENT_ID',
        ),
      ),
      clientSecret: undefined,
      scope: undefined,
      usesPkce: false,
      canRenewRefreshToken: true,
      refreshTokenLifetimeMs: 90 * DAY_MS,
      clientAuth: 'none',
    });
  }

  protected override authorizationParams(params: { state: string }): [string, string][] {
    return [
      ['response_type', 'code'],
      ['redirect_uri', this.redirectUri],
      ['client_id', this.clientId],
      ['state', params.state],
    ];
  }

  override codeGrantRequest(code: string, _codeVerifier?: string): TokenRequest {
    if (typeof code !== 'string' || code === '') {
      throw new TypeError('"code" must be a non-empty string');
    }
    return this.tokenRequest([
      ['grant_type', 'authorization_code'],
      ['access_type', 'offline'],
      ['code', code],
      ['redirect_uri', this.redirectUri],
    ]);
  }

  override refreshGrantRequest(
    refreshToken: string,
    options: { renewRefreshToken: boolean },
  ): TokenRequest {
    if (typeof refreshToken !== 'string' || refreshToken === '') {
      throw new TypeError('"refreshToken" must be a non-empty string');
    }
    const fields: [string, string][] = [
      ['grant_type', 'refresh_token'],
      ['refresh_token', refreshToken],
    ];
    // Without access_type only a new access token comes back; with it, a new 90-day refresh token.
    if (options?.renewRefreshToken === true) fields.push(['access_type', 'offline']);
    return this.tokenRequest(fields);
  }

  protected override get refreshLifeNote(): string {
    return ' (TD refresh tokens last 90 days)';
  }

  protected override get clientFix(): string {
    return 'check the consumer key and that the redirect URI is exactly the one registered with the app (--client-id, --redirect-uri)';
  }

  override accountsUrl(): URL {
    return this.apiEndpoint('/v1/accounts');
  }

  override quotesUrl(symbols: readonly string[]): URL {
    const list = checkSymbols(symbols);
    const url = this.apiEndpoint('/v1/marketdata/quotes');
    url.search = `?symbol=${list.map(encodeURIComponent).join(',')}`;
    return url;
  }
}
