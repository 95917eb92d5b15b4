/**
 * The flags every command takes (configuration), and the top-level help.
 *
 * @internal
 * @module
 */
import type { OptionTable } from './io.js';

/** Flags shared by every command. */
export const GLOBAL_OPTIONS: OptionTable = {
  provider: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  'redirect-uri': { type: 'string' },
  'authorize-url': { type: 'string' },
  'token-url': { type: 'string' },
  'api-url': { type: 'string' },
  scope: { type: 'string' },
  'refresh-token-lifetime': { type: 'string' },
  'token-file': { type: 'string' },
  profile: { type: 'string' },
  store: { type: 'string' },
  'store-url': { type: 'string' },
  'encryption-key-file': { type: 'string' },
  'passphrase-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

/** The names of the global flags that take a value. */
export const GLOBAL_VALUE_FLAGS: ReadonlySet<string> = new Set(
  Object.entries(GLOBAL_OPTIONS)
    .filter(([, o]) => o.type === 'string')
    .map(([name]) => name),
);

/** The configuration flags' help, shared by the top-level help and every command's. */
export const GLOBAL_HELP = `configuration flags (every command; also TD_TOKEN_* variables, .env, config file):
  --provider NAME        tdameritrade | schwab | generic | sandbox-tdameritrade | sandbox-schwab
                         (TD_TOKEN_PROVIDER). with no client id configured anywhere: sandbox-schwab
  --client-id ID         TD consumer key or Schwab app key (TD_TOKEN_CLIENT_ID; seed-era CONSUMER_KEY)
  --client-secret S      Schwab app secret (TD_TOKEN_CLIENT_SECRET)
  --redirect-uri URL     callback URL registered with the app (TD_TOKEN_REDIRECT_URI; CALLBACK_URL)
  --authorize-url URL    authorization endpoint (TD_TOKEN_AUTHORIZE_URL)
  --token-url URL        token endpoint (TD_TOKEN_TOKEN_URL)
  --api-url URL          API base URL (TD_TOKEN_API_URL)
  --scope SCOPES         scopes, generic provider only (TD_TOKEN_SCOPE)
  --refresh-token-lifetime D
                         how long the server's refresh tokens live when it does not say, like
                         30d; generic provider only (TD_TOKEN_REFRESH_TOKEN_LIFETIME)
  --profile NAME         keeps several logins apart (TD_TOKEN_PROFILE; default "default")
  --store KIND           file | sqlite | redis | memory (TD_TOKEN_STORE; TD_STORE_TOKENS=false = memory)
  --store-url URL        file or database path, or redis:// URL (TD_TOKEN_STORE_URL)
  --token-file PATH      short for --store file --store-url PATH (TD_TOKEN_FILE)
  --encryption-key-file PATH
                         encrypt the file or sqlite store with this key file: 32 random bytes,
                         e.g. (umask 077; openssl rand -base64 32 > PATH) (TD_TOKEN_KEY_FILE)
  --passphrase-file PATH encrypt it with the passphrase on this file's first line
                         (TD_TOKEN_PASSPHRASE_FILE); or set TD_TOKEN_PASSPHRASE (no flag, as
                         other users can see flags in ps)
  -h, --help             show help`;
