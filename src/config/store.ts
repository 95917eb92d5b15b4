/**
 * Which store a configuration picks, and where it came from: `--store` and `--store-url`, with
 * `--token-file` as short for `--store file --store-url PATH` (the higher source wins; the same
 * source naming both is a conflict). Config decides only which value wins and where a relative
 * path starts; what a kind's location means, its checks and its description for people belong
 * to the store's driver (`src/stores/registry.ts`: `storeSpecFrom`, `describeStoreSpec`).
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { inConfigDir, resolvePath } from '../paths.js';
import { describeStoreSpec, STORE_KINDS, storeDriver, storeSpecFrom } from '../stores/registry.js';
import type { StoreSpec } from '../stores/spec.js';
import type { StoreKind } from '../stores/types.js';
import {
  type ConfigKey,
  defaultSource,
  describeSource,
  invalid,
  type Lookup,
  rank,
  type Sourced,
  type ValueSource,
} from './layers.js';

/** What {@link resolveStore} needs besides the layers. */
export interface StoreContext {
  profile: string;
  configDir: string;
  env: NodeJS.ProcessEnv;
  /** The folder a relative path from `source` resolves against. */
  baseFor: (source: ValueSource) => string;
  warnings: string[];
  /** Receives where the store kind and location came from. */
  sources: Partial<Record<ConfigKey, ValueSource>>;
}

/** A `file:` URL as a path; anything else as it is. */
function fromFileUrl(value: string): string {
  if (!value.startsWith('file:')) return value;
  try {
    return fileURLToPath(value);
  } catch (cause) {
    throw new ConfigError(`"${value}" is not a usable file: URL. give a plain path instead`, {
      cause,
    });
  }
}

/** The store kind `--store` names (any case), or the default (file). */
function storeKindOf(sourced: Sourced<string> | undefined): StoreKind {
  if (sourced === undefined) return 'file';
  const driver = storeDriver(sourced.value.toLowerCase());
  if (driver === undefined) {
    throw invalid(
      sourced.source,
      `is "${sourced.value}", which is not a store td-token has`,
      `use one of ${STORE_KINDS.join(', ')}`,
    );
  }
  return driver.kind;
}

/** The store's location as its driver takes it: a path made absolute, or a URL as given. */
function locationOf(kind: StoreKind, sourced: Sourced<string>, ctx: StoreContext): string {
  if (kind !== 'file' && kind !== 'sqlite') return sourced.value;
  return resolvePath(fromFileUrl(sourced.value), ctx.baseFor(sourced.source), ctx.env);
}

/** A location the driver refused, as an error naming where it came from. */
function refused(kind: StoreKind, sourced: Sourced<string>, cause: ConfigError): ConfigError {
  if (kind === 'redis') {
    return invalid(
      sourced.source,
      'is not a redis:// or rediss:// URL',
      'give the Redis address, like redis://127.0.0.1:6379/0',
      cause,
    );
  }
  return invalid(sourced.source, `is not usable for the ${kind} store`, cause.message, cause);
}

/**
 * The store spec a configuration picks.
 *
 * @throws ConfigError for an unknown kind, `--token-file` and another `--store` from the same
 *   source, or a location the store's driver refuses (a Redis store without a `redis://` URL).
 */
export function resolveStore(lookup: Lookup, ctx: StoreContext): StoreSpec {
  const { profile, sources } = ctx;
  const storeSourced = lookup('store');
  const storeUrlSourced = lookup('storeUrl');
  const tokenFileSourced = lookup('tokenFile');
  let kind = storeKindOf(storeSourced);
  if (!storeSourced) sources.store = defaultSource();

  if (tokenFileSourced && storeSourced && kind !== 'file') {
    // --token-file is short for --store file: the higher source wins; the same source is a conflict.
    const byFile = rank(tokenFileSourced.source);
    const byStore = rank(storeSourced.source);
    if (byFile === byStore) {
      throw new ConfigError(
        `${describeSource(tokenFileSourced.source)} asks for a token file but ${describeSource(storeSourced.source)} asks for the ${kind} store. --token-file is short for --store file --store-url PATH: drop one of them`,
      );
    }
    if (byFile < byStore) {
      kind = 'file';
      sources.store = tokenFileSourced.source;
    }
  } else if (tokenFileSourced && !storeSourced) {
    sources.store = tokenFileSourced.source;
  }

  // The location: for the file store, the higher of --token-file and --store-url (--token-file
  // on a tie); for the others, --store-url.
  let where: Sourced<string> | undefined = storeUrlSourced;
  if (kind === 'file' && tokenFileSourced) {
    where =
      storeUrlSourced && rank(storeUrlSourced.source) < rank(tokenFileSourced.source)
        ? storeUrlSourced
        : tokenFileSourced;
  }
  if (kind === 'memory' && where) {
    ctx.warnings.push(`ignoring ${describeSource(where.source)}: the memory store has no location`);
    where = undefined;
  }
  let location: string | undefined;
  if (where) {
    location = locationOf(kind, where, ctx);
    sources.storeUrl = where.source;
  } else if (kind === 'file') {
    sources.storeUrl = defaultSource('one token file per profile');
  } else if (kind === 'sqlite') {
    // One database for every profile, in the config folder.
    location = inConfigDir.sqliteFile(ctx.configDir);
    sources.storeUrl = defaultSource();
  }
  try {
    return storeSpecFrom(kind, location, profile, inConfigDir.tokenFile(ctx.configDir, profile));
  } catch (error) {
    if (error instanceof ConfigError && where) throw refused(kind, where, error);
    throw error;
  }
}

/** Where a store lives, for people; a Redis password is masked. The store driver's own words. */
export const describeStore: (store: StoreSpec) => string = describeStoreSpec;
