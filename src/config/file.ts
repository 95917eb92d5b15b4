/**
 * Reading the two files a configuration comes from: `<config>/config.json` (top-level settings
 * and a section per profile under `profiles`) and a `.env` in the working folder. Each becomes a
 * layer; a bad file is a ConfigError naming the file, the key and the fix.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { parseEnv } from 'node:util';
import { ConfigError } from '../errors.js';
import { type ConfigKey, FILE_KEYS, fileValue, type Layer, type Sourced } from './layers.js';
import { NOTIFY_FILE_KEYS } from './notify.js';

/** One section of the config file: the top level, or a profile's. */
export type FileSection = Partial<Record<ConfigKey, string>> & {
  /** Notification targets: one string (separated by spaces or commas) or a list. */
  notify?: string | readonly string[];
  notifyBefore?: string;
  notifyFailingAfter?: string;
};

/** Every setting a section may hold. */
const SECTION_KEYS: readonly string[] = [...FILE_KEYS, ...NOTIFY_FILE_KEYS];

/** The config file, read and checked. */
export interface ConfigFile {
  profile: Sourced<string> | undefined;
  defaults: FileSection;
  profiles: Record<string, FileSection>;
}

/** Keys the top level holds besides the settings: the profile, the sections, the schema link. */
export const TOP_LEVEL_ONLY_KEYS = ['profile', 'profiles', '$schema'] as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The known key nearest to `key` (case, one or two letters apart), if any. */
function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + cost);
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

function readSection(
  obj: Record<string, unknown>,
  where: string,
  file: string,
  warnings: string[],
  allowed: ReadonlySet<string>,
): FileSection {
  const section: FileSection = {};
  for (const [key, value] of Object.entries(obj)) {
    if (!allowed.has(key)) {
      const guess = nearest(key, [...allowed]);
      const hint =
        guess === undefined
          ? `known settings: ${SECTION_KEYS.join(', ')}`
          : `did you mean "${where}${guess}"? known settings: ${SECTION_KEYS.join(', ')}`;
      warnings.push(`${file}: ignoring unknown setting "${where}${key}". ${hint}`);
      continue;
    }
    if (key === 'profiles' || key === 'profile') continue;
    // A list of notification targets; never show its values (they may hold secrets).
    if (key === 'notify' && Array.isArray(value)) {
      if (value.length === 0 || value.some((v) => typeof v !== 'string' || v.trim() === '')) {
        throw new ConfigError(
          `${file}: "${where}${key}" must be a non-empty string or a list of non-empty strings (notification targets). fix the value or remove the setting`,
        );
      }
      section.notify = value.map((v: string) => v.trim());
      continue;
    }
    if (typeof value !== 'string' || value.trim() === '') {
      throw new ConfigError(
        `${file}: "${where}${key}" must be a non-empty string. fix the value or remove the setting`,
      );
    }
    (section as Record<string, string>)[key] = value.trim();
  }
  return section;
}

/**
 * Read `path` as a config file; undefined when there is none.
 *
 * @param warnings receives one line per unknown setting (ignored, with the nearest known key).
 * @throws ConfigError for an unreadable file, bad JSON, or a setting of the wrong type.
 */
export async function readConfigFile(
  path: string,
  warnings: string[],
): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ConfigError(
      `cannot read the config file ${path} (${code ?? 'error'}). check its permissions`,
      { cause },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(
      `the config file ${path} is not valid JSON (${(cause as Error).message}). fix it or remove it`,
      { cause },
    );
  }
  if (!isPlainObject(value)) {
    throw new ConfigError(
      `the config file ${path} must hold a JSON object like {"clientId": "...", "profiles": {}}. fix it or remove it`,
    );
  }
  const topAllowed = new Set<string>([...SECTION_KEYS, ...TOP_LEVEL_ONLY_KEYS]);
  const defaults = readSection(value, '', path, warnings, topAllowed);
  let profile: Sourced<string> | undefined;
  if (value['profile'] !== undefined) {
    if (typeof value['profile'] !== 'string' || value['profile'].trim() === '') {
      throw new ConfigError(
        `${path}: "profile" must be a non-empty string. fix the value or remove it`,
      );
    }
    profile = {
      value: value['profile'].trim(),
      source: { kind: 'config-file', name: `${path}: profile` },
    };
  }
  const profiles: Record<string, FileSection> = {};
  const rawProfiles = value['profiles'];
  if (rawProfiles !== undefined) {
    if (!isPlainObject(rawProfiles)) {
      throw new ConfigError(
        `${path}: "profiles" must be an object of named sections, like {"work": {"clientId": "..."}}. fix it or remove it`,
      );
    }
    const sectionAllowed = new Set<string>(SECTION_KEYS);
    for (const [name, section] of Object.entries(rawProfiles)) {
      if (!isPlainObject(section)) {
        throw new ConfigError(
          `${path}: "profiles.${name}" must be an object of settings, like {"clientId": "..."}. fix it or remove it`,
        );
      }
      profiles[name] = readSection(section, `profiles.${name}.`, path, warnings, sectionAllowed);
    }
  }
  // `$schema` (checked as a string above) only points editors at the schema.
  delete (defaults as Record<string, unknown>)['$schema'];
  return { profile, defaults, profiles };
}

/** The config file as a layer: the profile's own section first, then the top level. */
export function fileLayer(file: ConfigFile | undefined, profile: string, path: string): Layer {
  return (key) => fileValue(file, key, profile, path);
}

/** Read a `.env` file; undefined when there is none. Never overrides the real environment. */
export async function readDotenv(path: string): Promise<Record<string, string> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw new ConfigError(
      `cannot read ${path} (${code ?? 'error'}). check its permissions or remove it`,
      { cause },
    );
  }
  try {
    return parseEnv(text) as Record<string, string>;
  } catch (cause) {
    throw new ConfigError(`${path} is not a valid .env file. fix it or remove it`, { cause });
  }
}
