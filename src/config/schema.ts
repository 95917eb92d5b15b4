/**
 * The config file's JSON Schema, built from the code that reads the file: the same keys
 * (`FILE_KEYS`, the notification keys, `profile`, `profiles`, `$schema`), the providers and store kinds td-token knows,
 * and the profile-name rule. `docs/config.schema.json` is this, written out; a test keeps the
 * two equal. Point an editor at it with `"$schema"` in `config.json`.
 *
 * @module
 */
import { PROFILE_NAME_PATTERN } from '../paths.js';
import { PROVIDER_CHOICES } from '../providers/defaults.js';
import { STORE_KINDS } from '../stores/spec.js';
import { type ConfigKey, ENV_NAMES, FILE_KEYS, FLAG_NAMES } from './layers.js';
import { NOTIFY_ENV_NAMES, NOTIFY_FILE_KEYS, NOTIFY_FLAG_NAMES, type NotifyKey } from './notify.js';

/** What each setting is for, as editors show it (the flag and variables are added). */
const DESCRIPTIONS: Record<Exclude<ConfigKey, 'profile'>, string> = {
  provider:
    'The provider: inferred from the app when unset (a client id and secret: schwab; a client id alone: tdameritrade; no client id: sandbox-schwab). Any case.',
  clientId:
    "The app's client id: TD's consumer key (@AMER.OAUTHAP is added when missing) or Schwab's app key.",
  clientSecret: "The app's secret (Schwab and generic only).",
  redirectUri:
    'The callback URL registered with the app, exactly. Default: TD https://localhost:8000, Schwab https://127.0.0.1:8182.',
  authorizeUrl: "The authorization endpoint. Default: the provider's.",
  tokenUrl: "The token endpoint. Default: the provider's.",
  apiUrl: "The API's base URL. Default: the provider's.",
  scope: 'Space-separated scopes (generic only).',
  refreshTokenLifetime:
    "How long the server's refresh tokens live when its answers do not say, like 30d or 12h (generic only). Unset: unknown, shown as unknown and never warned about.",
  store: 'Where tokens are kept. Default: file. Any case.',
  storeUrl:
    "The store's location: a path (or file: URL) for file and sqlite, a redis:// or rediss:// URL for redis. A relative path is relative to this file's folder.",
  tokenFile:
    "Short for store file with this storeUrl. A relative path is relative to this file's folder.",
  encryptionKeyFile: 'Encrypt the file or sqlite store with this 32-byte key file.',
  passphraseFile:
    "Encrypt the file or sqlite store with the passphrase on this file's first line (a file only its owner can read).",
};

type Schema = Record<string, unknown>;

/** The notification settings, for `watch` and `refresh`. */
const NOTIFY_DESCRIPTIONS: Record<NotifyKey, string> = {
  notify:
    "Where watch and refresh announce the refresh token's end, a needed login, and refreshes failing: one target, several separated by spaces or commas, or a list. A target is https://HOST/PATH (a webhook), ntfy+https://HOST/TOPIC, smtps://USER:PASS@HOST:465?to=ADDR (or smtp://), exec:COMMAND or desktop. It may hold secrets: keep this file private.",
  notifyBefore:
    "When to announce the refresh token's end, a list like 72h,24h,2h. Default: 72h,24h,2h; TD: 7d,2d.",
  notifyFailingAfter: 'Announce refreshes failing this long, like 30m. Default: 30m.',
};

const NON_EMPTY: Schema = { type: 'string', minLength: 1, pattern: '\\S' };

function notifySchema(key: NotifyKey): Schema {
  const description = `${NOTIFY_DESCRIPTIONS[key]} (Also --${NOTIFY_FLAG_NAMES[key]} of watch and refresh, ${NOTIFY_ENV_NAMES[key]}.)`;
  if (key === 'notify') {
    return {
      oneOf: [{ ...NON_EMPTY }, { type: 'array', minItems: 1, items: { ...NON_EMPTY } }],
      description,
    };
  }
  return { ...NON_EMPTY, description };
}

function settingSchema(key: Exclude<ConfigKey, 'profile'>): Schema {
  const names = [`--${FLAG_NAMES[key]}`, ...ENV_NAMES[key]].join(', ');
  const schema: Schema = {
    type: 'string',
    minLength: 1,
    pattern: '\\S',
    description: `${DESCRIPTIONS[key]} (Also ${names}.)`,
  };
  if (key === 'provider') schema['enum'] = [...PROVIDER_CHOICES];
  if (key === 'store') schema['enum'] = [...STORE_KINDS];
  return schema;
}

function settingsProperties(): Record<string, Schema> {
  const properties: Record<string, Schema> = {};
  for (const key of FILE_KEYS) {
    if (key !== 'profile') properties[key] = settingSchema(key);
  }
  for (const key of NOTIFY_FILE_KEYS) properties[key] = notifySchema(key);
  return properties;
}

/**
 * The JSON Schema (draft 2020-12) of `<config>/config.json`.
 *
 * @example
 * JSON.stringify(configFileSchema(), null, 2) // docs/config.schema.json
 */
export function configFileSchema(): Schema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'td-token config.json',
    description:
      'td-token\'s settings file, <config>/config.json: settings at the top level apply to every profile; a profile\'s section under "profiles" wins over them. Flags, the environment and .env win over this file.',
    type: 'object',
    properties: {
      $schema: { type: 'string', minLength: 1, description: 'This schema, for editors.' },
      profile: {
        type: 'string',
        pattern: PROFILE_NAME_PATTERN.source,
        description:
          'The profile used when --profile and TD_TOKEN_PROFILE are not set (top level only). Default: default.',
      },
      ...settingsProperties(),
      profiles: {
        type: 'object',
        description: 'A section of settings per profile, by its name.',
        propertyNames: { pattern: PROFILE_NAME_PATTERN.source },
        additionalProperties: { $ref: '#/$defs/profile' },
      },
    },
    additionalProperties: false,
    $defs: {
      profile: {
        type: 'object',
        description: "One profile's settings; they win over the top level's.",
        properties: settingsProperties(),
        additionalProperties: false,
      },
    },
  };
}
