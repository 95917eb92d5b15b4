/**
 * td-token's configuration: which provider and app, which profile, which store.
 *
 * Sources, highest first:
 * 1. flags (`--provider`, `--client-id`, ...);
 * 2. the environment (`TD_TOKEN_*`, and the seed-era `CONSUMER_KEY`, `CALLBACK_URL`,
 *    `TD_STORE_TOKENS`);
 * 3. a `.env` file in the working folder (never overrides the real environment);
 * 4. `<config>/config.json`: top-level defaults, and a section per profile under `profiles`
 *    (its JSON Schema is `docs/config.schema.json`);
 * 5. defaults.
 *
 * This folder decides only which value wins and where it came from (`layers.ts`, `file.ts`,
 * `resolve.ts`, `store.ts`, `encryption.ts`, `notify.ts`). What a value means belongs to its
 * owner: provider defaults and rules to `src/providers/defaults.ts`, store kinds and specs to
 * `src/stores/`, locations to `src/paths.ts`, notification targets to `src/notify/`.
 *
 * @module
 */
export {
  DEFAULT_SANDBOX_FLAVOR,
  PROVIDER_CHOICES,
  type ProviderChoice,
} from '../providers/defaults.js';
export { resolveEncryption } from './encryption.js';
export { type ConfigFile, type FileSection, readConfigFile, readDotenv } from './file.js';
export {
  type ConfigKey,
  describeSource,
  ENV_NAMES,
  FILE_KEYS,
  FLAG_NAMES,
  PASSPHRASE_ENV,
  type SourceKind,
  type ValueSource,
} from './layers.js';
export {
  NOTIFY_ENV_NAMES,
  NOTIFY_FILE_KEYS,
  NOTIFY_FLAG_NAMES,
  type NotifyConfig,
  type NotifyKey,
} from './notify.js';
export {
  type ConfigInput,
  providerOptionsOf,
  type ResolvedConfig,
  resolveConfig,
} from './resolve.js';
export { configFileSchema } from './schema.js';
export { describeStore, resolveStore } from './store.js';
