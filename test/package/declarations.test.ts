/**
 * The published type declarations must not need the optional peer packages (`ioredis`,
 * `better-sqlite3`): a TypeScript user without them, and with `skipLibCheck: false`, would
 * otherwise get TS2307 from td-token's own .d.ts files. Checked on the built dist/.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const dist = join(root, 'dist');
const OPTIONAL = ['ioredis', 'better-sqlite3'];

/** Every way a declaration file can pull in a package's types. */
const REFERENCE =
  /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+|<reference\s+types\s*=\s*)["']((?:@types\/)?(?:ioredis|better-sqlite3))(?:\/[^"']*)?["']/g;

async function declarationFiles(folder: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) found.push(...(await declarationFiles(path)));
    else if (entry.name.endsWith('.d.ts')) found.push(path);
  }
  return found;
}

let dir: string | undefined;

beforeAll(() => {
  if (!existsSync(join(dist, 'index.d.ts'))) {
    throw new Error('dist/ is missing: run `npm run build` before these tests');
  }
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the published type declarations', () => {
  it('finds imports of the optional packages (the check itself works)', () => {
    const samples = [
      "import type { Redis } from 'ioredis';",
      'import type BetterSqlite3 from "better-sqlite3";',
      "type R = import('ioredis').Redis;",
      '/// <reference types="better-sqlite3" />',
      "export { Redis } from 'ioredis/built/Redis';",
    ];
    for (const sample of samples) expect([...sample.matchAll(REFERENCE)], sample).toHaveLength(1);
    expect([
      ..."// loads `ioredis` only when chosen: import('./redis.js')".matchAll(REFERENCE),
    ]).toEqual([]);
  });

  it('import nothing from ioredis or better-sqlite3 in any dist/**/*.d.ts', async () => {
    const files = await declarationFiles(dist);
    expect(files.length).toBeGreaterThan(10);
    const offending: string[] = [];
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      for (const match of text.matchAll(REFERENCE)) {
        offending.push(`${relative(root, file)}: ${match[0]}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('type-check with skipLibCheck false where neither optional package can be found', async () => {
    dir = await mkdtemp(join(tmpdir(), 'td-token-dts-'));
    await writeFile(
      join(dir, 'use.ts'),
      [
        "import type { TokenManager, TokenStore } from 'td-token';",
        "import type { RedisStore, SqliteStore } from 'td-token/advanced';",
        'export type Used = [RedisStore, SqliteStore, TokenManager, TokenStore];',
        '',
      ].join('\n'),
    );
    const absent = Object.fromEntries(OPTIONAL.map((name) => [name, [`./absent/${name}`]]));
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          lib: ['ES2023'],
          types: ['node'],
          typeRoots: [join(root, 'node_modules', '@types')],
          baseUrl: '.',
          paths: {
            'td-token': [join(dist, 'index.d.ts')],
            'td-token/advanced': [join(dist, 'advanced.d.ts')],
            ...absent,
          },
        },
        files: ['use.ts'],
      }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], {
      cwd: dir,
    }).then(
      () => ({ code: 0, output: '' }),
      (error: { code?: number; stdout?: string }) => ({
        code: error.code ?? 1,
        output: error.stdout ?? String(error),
      }),
    );
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  }, 60_000);
});
