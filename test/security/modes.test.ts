/**
 * File and folder modes are checked on load: a token file (or SQLite database) others can read
 * is a warning naming the `chmod` that fixes it, and a folder anyone can write to (not sticky)
 * is a warning too. The warnings go to stderr and never to stdout, the command still works,
 * and running the `chmod` the warning names silences it: checked with the built CLI against a
 * sandbox login.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { createStore } from '../../src/stores/index.js';
import type { TokenRecord } from '../../src/token.js';
import {
  assertBuilt,
  type Home,
  makeHome,
  runCli,
  sandboxFlags,
  sandboxLogin,
  writeTokenFile,
} from '../cli/harness.js';

const sh = promisify(execFile);

/** Run the `fix it: <command>` a warning names, through a shell, as a person would paste it. */
async function runFix(warning: string): Promise<void> {
  const fix = /fix it: (chmod .+)$/.exec(warning.trim())?.[1];
  expect(fix, `no fix in: ${warning}`).toBeDefined();
  await sh('/bin/sh', ['-c', fix as string]);
}

const posix = process.platform !== 'win32';

// Skipped on Windows: file modes (0600, 0700, group and other bits) are a POSIX notion.
describe.skipIf(!posix)('modes checked on load', () => {
  let sandbox: Sandbox;
  let home: Home;
  let login: TokenRecord;

  beforeAll(async () => {
    assertBuilt();
    sandbox = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
    login = await sandboxLogin(sandbox, 'schwab');
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  beforeEach(async () => {
    home = await makeHome();
  });
  afterEach(async () => {
    await home.cleanup();
  });

  it('a token file others can read: a warning naming chmod 600 on stderr; the token still on stdout; the chmod silences it', async () => {
    const tokenFile = join(home.cwd, 'output', 'token file.json');
    await writeTokenFile(tokenFile, login);
    await chmod(tokenFile, 0o644);
    const flags = [...sandboxFlags(sandbox, 'schwab'), '--token-file', tokenFile];
    const r = await runCli(['token', ...flags], home);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${login.access_token}\n`);
    expect(r.stderr).toBe(
      `td-token: warning: the token file ${tokenFile} can be read or changed by other users (mode 0644). fix it: chmod 600 '${tokenFile}'\n`,
    );
    await runFix(r.stderr);
    const after = await runCli(['token', ...flags], home);
    expect(after.stderr).toBe('');
    expect(after.stdout).toBe(`${login.access_token}\n`);

    // status reports it the same way, and its JSON on stdout stays clean.
    await chmod(tokenFile, 0o640);
    const status = await runCli(['status', '--json', '--offline', ...flags], home);
    expect(status.stderr).toContain('(mode 0640). fix it: chmod 600');
    expect(() => JSON.parse(status.stdout)).not.toThrow();
  });

  it('a folder anyone can write to: a warning naming chmod o-w; a sticky one (like /tmp) is fine', async () => {
    const folder = join(home.cwd, 'shared');
    const tokenFile = join(folder, 'token.json');
    await writeTokenFile(tokenFile, login);
    await chmod(folder, 0o777);
    const flags = [...sandboxFlags(sandbox, 'schwab'), '--token-file', tokenFile];
    const r = await runCli(['token', ...flags], home);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${login.access_token}\n`);
    expect(r.stderr).toBe(
      `td-token: warning: the folder ${folder} holding the token file can be changed by other users (mode 0777): they could replace it. fix it: chmod o-w ${folder}\n`,
    );
    await runFix(r.stderr);
    expect((await runCli(['token', ...flags], home)).stderr).toBe('');
    await chmod(folder, 0o1777);
    expect((await runCli(['token', ...flags], home)).stderr).toBe('');
  });

  it('the SQLite store: a database others can read, and its folder, are warned about the same way', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'td-token-modes-'));
    try {
      const folder = join(dir, 'db');
      await mkdir(folder, { mode: 0o700 });
      const path = join(folder, 'tokens.db');
      const first = await createStore({ kind: 'sqlite', path, profile: 'default' });
      await first.save(login);
      await first.close();
      await chmod(path, 0o644);
      await chmod(folder, 0o757);
      const warnings: string[] = [];
      const store = await createStore({
        kind: 'sqlite',
        path,
        profile: 'default',
        onWarning: (m) => warnings.push(m),
      });
      expect(await store.load()).toEqual(login);
      await store.close();
      expect(warnings).toEqual([
        `the folder ${folder} holding the token database can be changed by other users (mode 0757): they could replace it. fix it: chmod o-w ${folder}`,
        `the token database ${path} can be read or changed by other users (mode 0644). fix it: chmod 600 ${path}`,
      ]);
      for (const w of warnings) await runFix(w);
      const quiet: string[] = [];
      const again = await createStore({
        kind: 'sqlite',
        path,
        profile: 'default',
        onWarning: (m) => quiet.push(m),
      });
      await again.load();
      await again.close();
      expect(quiet).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
