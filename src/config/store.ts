/**
 * Which store a configuration picks, and where it came from: `--store` and `--store-url`, with
 * `--token-file` as short for `--store file --store-url PATH` (the higher source wins; the same
 * source naming both is a conflict). What a kind's location means is the stores' own business
 * (`storeSpecFrom`); config only decides which value wins and where relative paths start.
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { inConfigDir, resolvePath } from '../paths.js';
import { STORE_KINDS, type StoreSpec, storeSpecFrom } from '../stores/spec.js';
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

/** The store kind, from `--store` or the default (file); `--token-file` decided separately. */
function storeKindOf(sourced: Sourced<string> | undefined): StoreKind {
  if (sourced === undefined) return 'file';
  const value = sourced.value.toLowerCase();
  if (!(STORE_KINDS as readonly string[]).includes(value)) {
    throw invalid(
      sourced.source,
      `is "${sourced.value}", which is not a store td-token has`,
      `use one of ${STORE_KINDS.join(', ')}`,
    );
  }
  return value as StoreKind;
}

/**
 * The store spec a configuration picks.
 *
 * @throws ConfigError for an unknown kind, `--token-file` and another `--store` from the same
 *   source, or a Redis store without a `redis://` URL.
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

  const at = (sourced: Sourced<string>): string =>
    resolvePath(sourced.value, ctx.baseFor(sourced.source), ctx.env);
  const defaultFile = inConfigDir.tokenFile(ctx.configDir, profile);

  switch (kind) {
    case 'memory': {
      if (storeUrlSourced) {
        ctx.warnings.push(
          `ignoring ${describeSource(storeUrlSourced.source)}: the memory store has no location`,
        );
      }
      return storeSpecFrom('memory', undefined, profile, defaultFile);
    }
    case 'file': {
      // Between --token-file and --store-url, the higher source; --token-file on a tie.
      let pathSourced = tokenFileSourced ?? storeUrlSourced;
      if (tokenFileSourced && storeUrlSourced) {
        pathSourced =
          rank(tokenFileSourced.source) <= rank(storeUrlSourced.source)
            ? tokenFileSourced
            : storeUrlSourced;
      }
      if (pathSourced) {
        sources.storeUrl = pathSourced.source;
        return storeSpecFrom('file', at(pathSourced), profile, defaultFile);
      }
      sources.storeUrl = defaultSource('one token file per profile');
      return storeSpecFrom('file', undefined, profile, defaultFile);
    }
    case 'sqlite': {
      let path: string;
      if (storeUrlSourced) {
        path = at({ ...storeUrlSourced, value: fromFileUrl(storeUrlSourced.value) });
      } else {
        path = inConfigDir.sqliteFile(ctx.configDir);
        sources.storeUrl = defaultSource();
      }
      return storeSpecFrom('sqlite', path, profile, defaultFile);
    }
    case 'redis': {
      if (storeUrlSourced && !/^rediss?:\/\/./i.test(storeUrlSourced.value)) {
        throw invalid(
          storeUrlSourced.source,
          'is not a redis:// or rediss:// URL',
          'give the Redis address, like redis://127.0.0.1:6379/0',
        );
      }
      return storeSpecFrom('redis', storeUrlSourced?.value, profile, defaultFile);
    }
  }
}

function encryptedNote(spec: StoreSpec): string {
  const encryption = spec.kind === 'file' || spec.kind === 'sqlite' ? spec.encryption : undefined;
  if (encryption === undefined) return '';
  return encryption.keyFile !== undefined
    ? `, encrypted with the key file ${encryption.keyFile}`
    : ', encrypted with a passphrase';
}

/** Where a store lives, for people; a Redis password is masked. */
export function describeStore(store: StoreSpec): string {
  switch (store.kind) {
    case 'memory':
      return 'memory (nothing is saved; the token is gone when the process exits)';
    case 'file':
      return `file ${store.path}${encryptedNote(store)}`;
    case 'sqlite':
      return `sqlite ${store.path} (profile ${store.profile})${encryptedNote(store)}`;
    case 'redis': {
      let shown = store.url;
      try {
        const url = new URL(store.url);
        if (url.password) url.password = '****';
        shown = url.toString();
      } catch {
        shown = 'redis (unparsable URL)';
      }
      return `redis ${shown} (profile ${store.profile})`;
    }
  }
}
