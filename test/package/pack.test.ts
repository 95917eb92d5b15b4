/**
 * The packed tarball is what users get: install it into an empty project and use it there, by
 * its `exports` map and its `bin`, with nothing from this work tree on the module path; and
 * install it globally into a temporary prefix, as the README's first command does, and find
 * `td-token` on the PATH.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
let dir: string;
let packed: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'td-token-pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [info] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  if (!info) throw new Error('npm pack printed no result');
  packed = info.files.map((f) => f.path);
  const app = join(dir, 'app');
  await run('mkdir', ['-p', app]);
  await writeFile(join(app, 'package.json'), '{"name":"app","version":"1.0.0","type":"module"}\n');
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, info.filename)],
    { cwd: app, maxBuffer: 16 * 1024 * 1024 },
  );
  // The README's first command: npm install -g ./td-token-*.tgz (here into a temporary prefix).
  await run(
    'npm',
    [
      'install',
      '--global',
      '--prefix',
      join(dir, 'prefix'),
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      join(dir, info.filename),
    ],
    { cwd: dir, maxBuffer: 16 * 1024 * 1024 },
  );
}, 240_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds the built library, its type declarations and the README, and no tests or sources', () => {
    expect(packed).toContain('dist/index.js');
    expect(packed).toContain('dist/index.d.ts');
    expect(packed).toContain('dist/cli/main.js');
    expect(packed).toContain('dist/sandbox/index.js');
    expect(packed).toContain('README.md');
    expect(packed.filter((p) => p.startsWith('test/') || p.startsWith('src/'))).toEqual([]);
  });

  it('is imported by name through its exports map, library and sandbox', async () => {
    const script = [
      "const lib = await import('td-token');",
      "const sb = await import('td-token/sandbox');",
      "const adv = await import('td-token/advanced');",
      "const p = lib.createProvider('tdameritrade', { clientId: 'KEY', redirectUri: 'https://localhost:8000' });",
      'console.log(JSON.stringify({ clientId: p.clientId, manager: typeof lib.TokenManager, sandbox: typeof sb.startSandbox, fileStore: typeof adv.FileStore, inFront: "FileStore" in lib, codes: lib.ERROR_CODES.LOGIN_REQUIRED }));',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: join(dir, 'app'),
    });
    expect(JSON.parse(stdout)).toEqual({
      clientId: 'KEY@AMER.OAUTHAP',
      manager: 'function',
      sandbox: 'function',
      fileStore: 'function',
      inFront: false,
      codes: 'login_required',
    });
  });

  it('keeps its internals private: a deep import is refused', async () => {
    const script = "await import('td-token/dist/token.js');";
    await expect(
      run(process.execPath, ['--input-type=module', '-e', script], { cwd: join(dir, 'app') }),
    ).rejects.toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('installs the td-token command', async () => {
    const bins = await readdir(join(dir, 'app', 'node_modules', '.bin'));
    expect(bins).toContain('td-token');
    const { stdout } = await run(
      join(dir, 'app', 'node_modules', '.bin', 'td-token'),
      ['--version'],
      {
        cwd: join(dir, 'app'),
      },
    );
    const pkg = (await import('../../package.json', { with: { type: 'json' } })).default;
    expect(stdout.trim()).toBe(pkg.version);
  });

  it('installed globally (the README first command), td-token is on the PATH and its help runs', async () => {
    const bin = join(dir, 'prefix', 'bin');
    const env = {
      PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: join(dir, 'home'),
    };
    const outside = join(dir, 'elsewhere');
    await mkdir(outside, { recursive: true });
    const top = await run('td-token', ['--help'], { cwd: outside, env });
    expect(top.stdout).toContain('usage: td-token <command> [flags]');
    const token = await run('td-token', ['token', '--help'], { cwd: outside, env });
    expect(token.stdout).toMatch(/^usage: td-token token/);
    // The global copy is a package of its own, importable by path from outside the clone.
    const lib = join(dir, 'prefix', 'lib', 'node_modules', 'td-token', 'dist', 'index.js');
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(lib)}); console.log(typeof m.openTokenManager);`,
      ],
      { cwd: outside, env },
    );
    expect(stdout.trim()).toBe('function');
  });
});
