/**
 * docs/config.schema.json against the code: it is exactly what `configFileSchema()` builds from
 * the keys the config file reader knows, and the reader accepts every key the schema names and
 * warns about any other, so the published schema and the code cannot drift apart.
 * To rewrite the file after a change: TD_TOKEN_WRITE_SCHEMA=1 node test/run-suite.mjs test/config/schema.test.ts
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfigFile } from '../../src/config/file.js';
import { FILE_KEYS as CONFIG_KEYS } from '../../src/config/layers.js';
import { NOTIFY_FILE_KEYS } from '../../src/config/notify.js';
import { configFileSchema } from '../../src/config/schema.js';
import { PROFILE_NAME_PATTERN } from '../../src/paths.js';
import { PROVIDER_CHOICES } from '../../src/providers/defaults.js';
import { STORE_KINDS } from '../../src/stores/spec.js';

/** Every setting a section of the config file may hold. */
const FILE_KEYS = [...CONFIG_KEYS, ...NOTIFY_FILE_KEYS];

const SCHEMA_FILE = new URL('../../docs/config.schema.json', import.meta.url);

interface ObjectSchema {
  properties: Record<string, { enum?: string[]; pattern?: string; type?: string }>;
  additionalProperties: unknown;
  $defs: { profile: { properties: Record<string, unknown>; additionalProperties: unknown } };
}

const schema = configFileSchema() as unknown as ObjectSchema;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'td-token-schema-'));
  if (process.env['TD_TOKEN_WRITE_SCHEMA'] === '1') {
    await writeFile(SCHEMA_FILE, `${JSON.stringify(configFileSchema(), null, 2)}\n`);
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function read(value: unknown): Promise<{ warnings: string[] }> {
  const path = join(dir, 'config.json');
  await writeFile(path, JSON.stringify(value));
  const warnings: string[] = [];
  await readConfigFile(path, warnings);
  return { warnings };
}

describe('docs/config.schema.json', () => {
  it('is what the code builds (regenerate with TD_TOKEN_WRITE_SCHEMA=1)', async () => {
    const published = JSON.parse(await readFile(SCHEMA_FILE, 'utf8')) as unknown;
    expect(published).toEqual(configFileSchema());
  });

  it('names exactly the keys the reader knows, at the top level and in a profile', () => {
    expect(Object.keys(schema.properties).sort()).toEqual(
      [...FILE_KEYS, 'profile', 'profiles', '$schema'].sort(),
    );
    expect(Object.keys(schema.$defs.profile.properties).sort()).toEqual([...FILE_KEYS].sort());
    expect(schema.additionalProperties).toBe(false);
    expect(schema.$defs.profile.additionalProperties).toBe(false);
  });

  it('lists the providers and stores the code knows, and its profile-name rule', () => {
    expect(schema.properties['provider']?.enum).toEqual([...PROVIDER_CHOICES]);
    expect(schema.properties['store']?.enum).toEqual([...STORE_KINDS]);
    expect(schema.properties['profile']?.pattern).toBe(PROFILE_NAME_PATTERN.source);
  });

  it('the reader takes every key the schema names without a warning', async () => {
    const settings = Object.fromEntries(FILE_KEYS.map((key) => [key, 'x']));
    const top = { $schema: './config.schema.json', profile: 'work', ...settings };
    expect((await read({ ...top, profiles: { work: settings } })).warnings).toEqual([]);
    const list = { notify: ['desktop', 'exec:true'] };
    expect((await read({ ...list, profiles: { work: list } })).warnings).toEqual([]);
  });

  it('the reader warns about a key the schema does not name, and suggests the nearest', async () => {
    const { warnings } = await read({ clientID: 'K', profiles: { work: { tokenfile: 't' } } });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('ignoring unknown setting "clientID". did you mean "clientId"?');
    expect(warnings[1]).toContain(
      'ignoring unknown setting "profiles.work.tokenfile". did you mean "profiles.work.tokenFile"?',
    );
  });
});
