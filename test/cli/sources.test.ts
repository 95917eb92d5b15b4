/**
 * Configuration sources as a person uses them, through the command run in-process (the same
 * `main` as the built command, with the test's environment and working folder): the seed-era `.env`
 * (CONSUMER_KEY, CALLBACK_URL, output/token.json), TD_TOKEN_* variables, the config file with
 * profiles, TD_STORE_TOKENS, and their order. Against a TD-flavored sandbox, which also covers
 * TD's refresh token renewal and the tda-api export.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SANDBOX_DEFAULT_APPS, type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import type { TokenRecord } from '../../src/token.js';
import {
  type Home,
  makeHome,
  type RunOptions,
  readTokenFile,
  sandboxEnv,
  sandboxLogin,
  writeTokenFile,
} from './harness.js';
import { runInProcess, sandboxClock } from './inprocess.js';

const DAY = 86_400_000;
const app = SANDBOX_DEFAULT_APPS.tdameritrade;

let sandbox: Sandbox;
let home: Home;

beforeAll(async () => {
  sandbox = await startSandbox({ flavor: 'tdameritrade', settings: { rateLimitPerMinute: 0 } });
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

/** `td-token ...args` in-process, with the sandbox's clock. */
function runCli(args: readonly string[], h: Home, options: RunOptions = {}) {
  return runInProcess(args, h, { ...options, deps: sandboxClock(sandbox) });
}

async function loginTo(path: string): Promise<TokenRecord> {
  const record = await sandboxLogin(sandbox, 'tdameritrade');
  await writeTokenFile(path, record);
  sandbox.resetCounters();
  return record;
}

function endpointsEnv(): Record<string, string> {
  return {
    TD_TOKEN_AUTHORIZE_URL: sandbox.authorizeUrl,
    TD_TOKEN_TOKEN_URL: sandbox.tokenUrl,
    TD_TOKEN_API_URL: sandbox.apiUrl,
  };
}

describe('the seed-era .env', () => {
  it('CONSUMER_KEY and CALLBACK_URL in .env, the token in output/token.json', async () => {
    await writeFile(
      join(home.cwd, '.env'),
      [
        `CONSUMER_KEY="${app.clientId}"`,
        `CALLBACK_URL=${app.redirectUris[0]}`,
        `TD_TOKEN_TOKEN_URL=${sandbox.tokenUrl}`,
        `TD_TOKEN_API_URL=${sandbox.apiUrl}`,
        `TD_TOKEN_AUTHORIZE_URL=${sandbox.authorizeUrl}`,
        '',
      ].join('\n'),
    );
    const tokenFile = join(home.cwd, 'output', 'token.json');
    const record = await loginTo(tokenFile);
    const token = await runCli(['token', '--token-file', 'output/token.json'], home);
    expect(token).toMatchObject({ code: 0, stdout: `${record.access_token}\n`, stderr: '' });

    const status = await runCli(['status', '--json', '--token-file', 'output/token.json'], home);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout);
    expect(report.provider).toBe('tdameritrade');
    expect(report.store.location).toBe(`file ${tokenFile}`);
    expect(report.sources.clientId).toEqual({ kind: 'dotenv', name: '.env: CONSUMER_KEY' });
    expect(report.sources.redirectUri).toEqual({ kind: 'dotenv', name: '.env: CALLBACK_URL' });
    expect(report.sources.provider.name).toContain('CONSUMER_KEY');
    expect(report.endpoints.redirectUri).toBe(app.redirectUris[0]);
  });

  it('the real environment wins over .env, and flags over both', async () => {
    const real = join(home.cwd, 'real.json');
    const record = await loginTo(real);
    await writeFile(
      join(home.cwd, '.env'),
      `CONSUMER_KEY=${app.clientId}\nTD_TOKEN_FILE=${join(home.cwd, 'from-dotenv.json')}\n`,
    );
    const env = { ...endpointsEnv(), TD_TOKEN_FILE: real };
    const byEnv = await runCli(['token'], home, { env });
    expect(byEnv).toMatchObject({ code: 0, stdout: `${record.access_token}\n` });

    const byDotenv = await runCli(['token'], home, { env: endpointsEnv() });
    expect(byDotenv.code).toBe(3);
    expect(byDotenv.stderr).toContain('from-dotenv.json');

    const byFlag = await runCli(['token', '--token-file', real], home, {
      env: { ...endpointsEnv(), TD_TOKEN_FILE: join(home.cwd, 'nothing.json') },
    });
    expect(byFlag).toMatchObject({ code: 0, stdout: `${record.access_token}\n` });
  });

  it('TD_STORE_TOKENS=false keeps tokens in memory only: nothing to print, exit 3', async () => {
    const env = { ...sandboxEnv(sandbox, 'tdameritrade'), TD_STORE_TOKENS: 'False' };
    const status = await runCli(['status', '--json'], home, { env });
    expect(JSON.parse(status.stdout).store.kind).toBe('memory');
    expect(JSON.parse(status.stdout).sources.store).toEqual({
      kind: 'env',
      name: 'TD_STORE_TOKENS',
    });
    const token = await runCli(['token'], home, { env });
    expect(token.code).toBe(3);
  });
});

describe('the config file', () => {
  it('profiles in <config>/config.json, chosen with --profile or TD_TOKEN_PROFILE', async () => {
    const tdFile = join(home.root, 'td-token.json');
    const record = await loginTo(tdFile);
    await mkdir(home.configDir, { recursive: true });
    await writeFile(
      join(home.configDir, 'config.json'),
      JSON.stringify({
        provider: 'schwab',
        clientId: 'NOT_THIS_ONE',
        clientSecret: 'nope',
        profiles: {
          td: {
            provider: 'tdameritrade',
            clientId: app.clientId,
            redirectUri: app.redirectUris[0],
            authorizeUrl: sandbox.authorizeUrl,
            tokenUrl: sandbox.tokenUrl,
            apiUrl: sandbox.apiUrl,
            tokenFile: tdFile,
          },
        },
      }),
    );
    const byFlag = await runCli(['token', '--profile', 'td'], home);
    expect(byFlag).toMatchObject({ code: 0, stdout: `${record.access_token}\n`, stderr: '' });
    const byEnv = await runCli(['status', '--json'], home, { env: { TD_TOKEN_PROFILE: 'td' } });
    expect(byEnv.code).toBe(0);
    const report = JSON.parse(byEnv.stdout);
    expect(report.profile).toBe('td');
    expect(report.sources.profile).toEqual({ kind: 'env', name: 'TD_TOKEN_PROFILE' });
    expect(report.sources.clientId).toEqual({
      kind: 'config-file',
      name: `${join(home.configDir, 'config.json')}: profiles.td.clientId`,
    });
    // The default profile uses the top-level settings: Schwab, no token stored.
    const other = await runCli(['status', '--json', '--offline'], home);
    expect(other.code).toBe(3);
    expect(JSON.parse(other.stdout)).toMatchObject({ provider: 'schwab', loggedIn: false });
  });

  it('a broken config file is a configuration error naming it (exit 2)', async () => {
    await mkdir(home.configDir, { recursive: true });
    await writeFile(join(home.configDir, 'config.json'), '{ "clientId": ');
    const r = await runCli(['token'], home);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^td-token: the config file .*config\.json is not valid JSON/);
  });
});

describe('TD Ameritrade specifics', () => {
  it('refresh renews a TD refresh token with fewer than 7 days left, and says so', async () => {
    const tokenFile = join(home.cwd, 'token.json');
    const record = await loginTo(tokenFile);
    await writeTokenFile(tokenFile, { ...record, refresh_token_expires_at: Date.now() + 3 * DAY });
    const r = await runCli(['refresh', '--force', '--token-file', tokenFile], home, {
      env: sandboxEnv(sandbox, 'tdameritrade'),
    });
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    expect(r.stderr).toContain('the refresh token was renewed too');
    const stored = await readTokenFile(tokenFile);
    expect(stored.refresh_token).not.toBe(record.refresh_token);
    expect(stored.refresh_token_expires_at - Date.now()).toBeGreaterThan(89 * DAY);
  });

  it('warns on stderr when the refresh token ends within 48 hours, stdout stays the token alone', async () => {
    const tokenFile = join(home.cwd, 'token.json');
    const record = await loginTo(tokenFile);
    await writeTokenFile(tokenFile, {
      ...record,
      refresh_token_expires_at: Date.now() + 20 * 3_600_000,
    });
    const r = await runCli(['token', '--token-file', tokenFile], home, {
      env: sandboxEnv(sandbox, 'tdameritrade'),
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${record.access_token}\n`);
    expect(r.stderr).toMatch(
      /^td-token: warning: the refresh token expires in (19\.\d|20) hours .*run 'td-token login --token-file /,
    );
  });

  it('export --format tda-api: TD fields, expiry in seconds, refresh_token_expires_in', async () => {
    const tokenFile = join(home.cwd, 'token.json');
    const record = await loginTo(tokenFile);
    const r = await runCli(['export', '--format', 'tda-api', '--token-file', tokenFile], home, {
      env: sandboxEnv(sandbox, 'tdameritrade'),
    });
    expect(r.code).toBe(0);
    const file = JSON.parse(r.stdout);
    const created = Math.floor((record.refresh_token_issued_at as number) / 1000);
    expect(file).toEqual({
      creation_timestamp: created,
      token: {
        access_token: record.access_token,
        refresh_token: record.refresh_token,
        scope: 'PlaceTrades AccountAccess MoveMoney',
        expires_in: 1800,
        refresh_token_expires_in: Math.floor(record.refresh_token_expires_at / 1000) - created,
        token_type: 'Bearer',
        expires_at: Math.floor(record.expires_at / 1000),
      },
    });
    expect(file.token.refresh_token_expires_in).toBeGreaterThan(7_775_000);
    expect(file.token.refresh_token_expires_in).toBeLessThanOrEqual(7_776_000);
  });
});
