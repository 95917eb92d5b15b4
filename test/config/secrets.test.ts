/**
 * The passphrase as configuration: `TD_TOKEN_PASSPHRASE=''` is refused like an empty passphrase
 * file (a ConfigError, exit 2 through the built CLI), and a passphrase file must be a small
 * regular file only its owner can read: a FIFO is refused at once (no hang), a file others can
 * read or change is refused with the `chmod` that fixes it.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConfigInput, resolveConfig } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/errors.js';
import { shellQuote } from '../../src/util/shell.js';
import { assertBuilt, makeHome, runCli } from '../cli/harness.js';

// Windows has neither FIFOs nor Unix permission bits: the tests of those run elsewhere only.
const unix = process.platform !== 'win32';
let root: string;
let cwd: string;
let configDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'td-token-secrets-'));
  cwd = join(root, 'work');
  configDir = join(root, 'config');
  await mkdir(cwd, { recursive: true });
  await mkdir(configDir, { recursive: true });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function input(flags: ConfigInput['flags'] = {}, env: NodeJS.ProcessEnv = {}): ConfigInput {
  return { flags, env, cwd, configDir };
}

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('an empty TD_TOKEN_PASSPHRASE', () => {
  it('is refused in the environment, naming the variable and the fix', async () => {
    const err = await configError(resolveConfig(input({}, { TD_TOKEN_PASSPHRASE: '' })));
    expect(err.message).toBe(
      'the environment variable TD_TOKEN_PASSPHRASE is set but empty, which would leave the store unencrypted. set it to the passphrase, or remove it (unset TD_TOKEN_PASSPHRASE) to store tokens unencrypted',
    );
    expect(err.code).toBe('invalid_config');
  });

  it('is refused in .env, and an empty one in the environment does not fall through to .env', async () => {
    await writeFile(join(cwd, '.env'), 'TD_TOKEN_PASSPHRASE=\n');
    const fromDotenv = await configError(resolveConfig(input()));
    expect(fromDotenv.message).toMatch(/^\.env: TD_TOKEN_PASSPHRASE is set but empty/);
    await writeFile(join(cwd, '.env'), 'TD_TOKEN_PASSPHRASE=from-dotenv\n');
    const shadowed = await configError(resolveConfig(input({}, { TD_TOKEN_PASSPHRASE: '' })));
    expect(shadowed.message).toMatch(/^the environment variable TD_TOKEN_PASSPHRASE is set but/);
  });

  it('a passphrase of spaces is still a passphrase', async () => {
    const c = await resolveConfig(input({}, { TD_TOKEN_PASSPHRASE: '  ' }));
    expect(c.store).toMatchObject({ kind: 'file', encryption: { passphrase: '  ' } });
  });

  it('exits 2 through the CLI, with the message on stderr and nothing on stdout', async () => {
    assertBuilt();
    const home = await makeHome();
    try {
      const r = await runCli(['token'], home, { env: { TD_TOKEN_PASSPHRASE: '' } });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('TD_TOKEN_PASSPHRASE is set but empty');
    } finally {
      await home.cleanup();
    }
  });
});

describe('a passphrase file', () => {
  it.skipIf(!unix)('that is a FIFO is refused at once, without waiting for a writer', async () => {
    const fifo = join(root, 'pass.fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const started = Date.now();
    const err = await configError(resolveConfig(input({ 'passphrase-file': fifo })));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err.message).toBe(
      `--passphrase-file names ${fifo}, which is not a small regular file. give the path of a file holding the passphrase on its first line`,
    );
  });

  it('that is a folder is refused', async () => {
    const err = await configError(resolveConfig(input({ 'passphrase-file': root })));
    expect(err.message).toContain('which is not a small regular file');
  });

  it.skipIf(!unix)(
    'that others can read or change is refused with the chmod that fixes it',
    async () => {
      const path = join(root, 'pass.txt');
      await writeFile(path, 'correct horse\n');
      for (const mode of [0o644, 0o640, 0o604, 0o620]) {
        await chmod(path, mode);
        const err = await configError(resolveConfig(input({ 'passphrase-file': path })));
        expect(err.message).toBe(
          `--passphrase-file names ${path}, which other users can read or change (mode 0${mode.toString(8)}), so the passphrase is not secret. fix it: chmod 600 ${shellQuote(path)}`,
        );
      }
      await chmod(path, 0o600);
      const c = await resolveConfig(input({ 'passphrase-file': path }));
      expect(c.store).toMatchObject({ encryption: { passphrase: 'correct horse' } });
      expect(c.warnings).toEqual([]);
    },
  );
});
