/**
 * The README's Library example, as written, against the sandbox login the quick start makes: a
 * login stored for the default profile by a sandbox on the config folder's state file (what
 * `td-token login` with no client id leaves), then the example run by Node from a folder outside
 * the clone where `td-token` resolves to this package (built dist/, by its exports map). With no
 * client id, the example's `sandbox-schwab` starts a sandbox in its process on the same tokens,
 * and `td.close()` stops it, so the process ends by itself.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTokenManager } from '../../src/client.js';
import { ConfigError, TdTokenError } from '../../src/errors.js';
import { defaultTokenPath } from '../../src/paths.js';
import { startSandbox } from '../../src/sandbox/index.js';
import { sandboxStateFile } from '../../src/sandbox-registry.js';
import { auditEnv } from '../helpers/output-log.js';
import { assertBuilt, type Home, makeHome, sandboxLogin, writeTokenFile } from './harness.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');

/** The first ```ts block of the README's "## Library" section. */
async function libraryExample(): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Library\n'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match?.[1]) throw new Error('README.md has no ```ts block under ## Library');
  return match[1];
}

let home: Home;

beforeEach(async () => {
  assertBuilt();
  home = await makeHome();
});

afterEach(async () => {
  await home.cleanup();
});

describe("the README's Library example", () => {
  it('runs as written on the sandbox login td-token login stored, and ends by itself', async () => {
    const sandbox = await startSandbox({
      flavor: 'schwab',
      stateFile: sandboxStateFile(home.configDir, 'schwab'),
    });
    let record: Awaited<ReturnType<typeof sandboxLogin>>;
    try {
      record = await sandboxLogin(sandbox, 'schwab');
    } finally {
      await sandbox.close();
    }
    await writeTokenFile(defaultTokenPath('default', home.env), record);

    const app = join(home.root, 'app');
    await mkdir(join(app, 'node_modules'), { recursive: true });
    await symlink(root, join(app, 'node_modules', 'td-token'), 'dir');
    await writeFile(join(app, 'package.json'), '{"name":"app","type":"module"}\n');
    await writeFile(join(app, 'example.mjs'), await libraryExample());

    const { stdout, stderr } = await run(process.execPath, ['example.mjs'], {
      cwd: app,
      env: { ...auditEnv(), ...home.env },
      timeout: 30_000,
    });
    expect(stderr).toBe('');
    // accessToken.length, the accounts, the quoted symbols.
    expect(stdout).toMatch(new RegExp(`^${record.access_token.length} `));
    expect(stdout).toContain('accountNumber');
    expect(stdout).toContain("'AAPL', 'MSFT'");
    expect(stdout).not.toContain(record.access_token);
  }, 60_000);

  it('configuration problems are TdTokenErrors (ConfigError), not plain TypeErrors', async () => {
    const noClientId = openTokenManager({ provider: 'schwab', clientId: undefined });
    await expect(noClientId).rejects.toBeInstanceOf(ConfigError);
    await expect(noClientId).rejects.toThrow(/clientId.*TD_TOKEN_CLIENT_ID/);
    const unknown = openTokenManager({ provider: 'etrade' as 'schwab' });
    await expect(unknown).rejects.toBeInstanceOf(TdTokenError);
    await expect(unknown).rejects.toThrow(/unknown provider "etrade".*sandbox-schwab/);
  });
});
