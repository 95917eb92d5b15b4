/**
 * `td-token refresh` honours the notification settings of the config file: a profile's `notify`
 * target is told when its refresh token nears its end, and the flags still win over the file.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import {
  assertBuilt,
  type Home,
  makeHome,
  runCli,
  sandboxFlags,
  sandboxLogin,
  writeTokenFile,
} from '../cli/harness.js';

const HOUR = 3_600_000;
let sandbox: Sandbox;
let home: Home;

beforeAll(async () => {
  assertBuilt();
  sandbox = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
  home = await makeHome();
});

afterAll(async () => {
  await sandbox?.close();
  await home?.cleanup();
});

describe('refresh with notify in the config file', () => {
  it("tells the profile's configured target, and a flag's target instead when given", async () => {
    const out = join(home.root, 'events.txt');
    const flagOut = join(home.root, 'flag-events.txt');
    await mkdir(home.configDir, { recursive: true, mode: 0o700 });
    await writeFile(
      join(home.configDir, 'config.json'),
      JSON.stringify({
        profiles: {
          paper: {
            notify: [`exec:echo "$TD_TOKEN_EVENT" >> '${out}'`],
            notifyBefore: '48h',
          },
        },
      }),
      { mode: 0o600 },
    );
    const run = async (profile: string, extra: string[] = []) => {
      const path = join(home.root, profile, 'token.json');
      const login = await sandboxLogin(sandbox, 'schwab');
      await writeTokenFile(path, { ...login, refresh_token_expires_at: Date.now() + 40 * HOUR });
      const args = ['refresh', '--profile', profile, '--token-file', path];
      return runCli([...args, ...extra, ...sandboxFlags(sandbox, 'schwab')], home);
    };
    const result = await run('paper');
    expect(result.code, result.stderr).toBe(0);
    expect((await readFile(out, 'utf8')).trim()).toBe('refresh_token_expiring');
    expect(result.stderr).not.toContain(out);

    const flagged = await run('paper', ['--notify', `exec:echo "$TD_TOKEN_EVENT" >> '${flagOut}'`]);
    expect(flagged.code, flagged.stderr).toBe(0);
    expect((await readFile(flagOut, 'utf8')).trim()).toBe('refresh_token_expiring');
    expect((await readFile(out, 'utf8')).trim()).toBe('refresh_token_expiring');
  });
});
