/**
 * Each command against a real sandbox started here, on a token file made by a real login through
 * the sandbox's forms: stdout, stderr and the exit code of each. Most run in-process (`main` with
 * the sandbox's clock); the ones about start-up, exit codes and stdout as a process sees them run
 * the built command as a real child process (`spawnCli`).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { maskToken } from '../../src/token.js';
import {
  assertBuilt,
  type Home,
  makeHome,
  type RunOptions,
  readTokenFile,
  sandboxFlags,
  sandboxLogin,
  runCli as spawnCli,
  writeTokenFile,
} from './harness.js';
import { expectKeptAndMarkedRefused, runInProcess, sandboxClock } from './inprocess.js';

let sandbox: Sandbox;
let home: Home;
let tokenFile: string;
let flags: string[];

beforeAll(async () => {
  assertBuilt();
  sandbox = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
});

afterAll(async () => {
  await sandbox?.close();
});

beforeEach(async () => {
  home = await makeHome();
  tokenFile = join(home.cwd, 'output', 'token.json');
  flags = [...sandboxFlags(sandbox, 'schwab'), '--token-file', tokenFile];
  sandbox.faults.clear();
});

afterEach(async () => {
  await home.cleanup();
});

/** `td-token ...args` in-process, with the sandbox's clock. */
function runCli(args: readonly string[], h: Home, options: RunOptions = {}) {
  return runInProcess(args, h, { ...options, deps: sandboxClock(sandbox) });
}

async function loggedIn() {
  const record = await sandboxLogin(sandbox, 'schwab');
  await writeTokenFile(tokenFile, record);
  sandbox.resetCounters();
  return record;
}

describe('td-token token', () => {
  it('prints exactly the stored access token and a newline, without refreshing a fresh one', async () => {
    const record = await loggedIn();
    const r = await spawnCli(['token', ...flags], home);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${record.access_token}\n`);
    expect(r.code).toBe(0);
    expect(sandbox.counters().token.total).toBe(0);
  });

  it('refreshes an expired access token first, stores it, and prints the new one', async () => {
    const record = await loggedIn();
    await writeTokenFile(tokenFile, { ...record, expires_at: Date.now() - 1000 });
    const r = await runCli(['token', ...flags], home);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const stored = await readTokenFile(tokenFile);
    expect(stored.access_token).not.toBe(record.access_token);
    expect(r.stdout).toBe(`${stored.access_token}\n`);
    expect(stored.expires_at).toBeGreaterThan(Date.now() + 25 * 60_000);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    // The API accepts the new token.
    const api = await fetch(new URL('/trader/v1/accounts/accountNumbers', sandbox.apiUrl), {
      headers: { authorization: `Bearer ${stored.access_token}` },
    });
    expect(api.status).toBe(200);
  });

  it('exits 3 with the login command when nothing is stored', async () => {
    const r = await spawnCli(['token', ...flags, '--profile', 'work'], home);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^td-token: no token is stored in .*token\.json/);
    expect(r.stderr).toContain("'td-token login ");
    expect(r.stderr).toContain('--profile work');
    expect(r.stderr).toContain('"$TD_TOKEN_CLIENT_SECRET"');
    expect(r.stderr).not.toContain('SandboxSecret000');
  });

  it('exits 3 when the refresh token was revoked, and keeps the file as it was', async () => {
    const record = await loggedIn();
    await writeTokenFile(tokenFile, { ...record, expires_at: Date.now() - 1000 });
    const before = await readFile(tokenFile, 'utf8');
    sandbox.revokeRefreshToken(record.refresh_token);
    const r = await runCli(['token', ...flags], home);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^td-token: .*refresh token.*td-token login/s);
    expect(r.stderr).not.toContain(record.refresh_token);
    expect(r.stderr).not.toContain(record.access_token);
    expectKeptAndMarkedRefused(before, await readFile(tokenFile, 'utf8'));
    // The refusal is remembered in the store: the next run asks the provider nothing.
    const asked = sandbox.counters().token.total;
    expect((await runCli(['token', ...flags], home)).code).toBe(3);
    expect(sandbox.counters().token.total).toBe(asked);
  });
});

describe('td-token refresh', () => {
  it('leaves a fresh token alone without --force, and refreshes with --force', async () => {
    const record = await loggedIn();
    const calm = await runCli(['refresh', ...flags], home);
    expect(calm.code).toBe(0);
    expect(calm.stdout).toBe('');
    expect(calm.stderr).toMatch(/still valid .*not refreshed\. use --force/);
    expect(sandbox.counters().token.total).toBe(0);
    expect((await readTokenFile(tokenFile)).access_token).toBe(record.access_token);

    const forced = await runCli(['refresh', '--force', ...flags], home);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toBe('');
    expect(forced.stderr).toMatch(
      /^refreshed default \(schwab, file .*token\.json\): the access token is valid until/,
    );
    expect(sandbox.counters().token.refresh_token).toBe(1);
    const stored = await readTokenFile(tokenFile);
    expect(stored.access_token).not.toBe(record.access_token);
    // Schwab: refreshing never extends the refresh token.
    expect(stored.refresh_token).toBe(record.refresh_token);
    expect(stored.refresh_token_expires_at).toBe(record.refresh_token_expires_at);
    expect(forced.stderr).not.toContain(stored.access_token);
  });

  it('refreshes without --force once less than half of the access token life is left', async () => {
    const record = await loggedIn();
    const issued = record.issued_at ?? Date.now();
    await writeTokenFile(tokenFile, {
      ...record,
      expires_at: Date.now() + 14 * 60_000,
      issued_at: issued - 16 * 60_000,
    });
    const r = await runCli(['refresh', ...flags], home);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^refreshed /);
    expect(sandbox.counters().token.refresh_token).toBe(1);
  });

  it('fails with exit 1 while the provider is down, and keeps the token file byte for byte', async () => {
    await loggedIn();
    const before = await readFile(tokenFile, 'utf8');
    sandbox.faults.inject({ kind: 'status', status: 503 }, 20);
    const r = await runCli(['refresh', '--force', ...flags], home, { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^td-token: /);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack
    expect(await readFile(tokenFile, 'utf8')).toBe(before);
    expect(sandbox.counters().token.failed).toBeGreaterThan(0);
  }, 60_000);

  it('exits 3 with the login command when the provider revoked the refresh token; the file stays', async () => {
    const record = await loggedIn();
    const before = await readFile(tokenFile, 'utf8');
    sandbox.revokeRefreshToken(record.refresh_token);
    const r = await runCli(['refresh', '--force', ...flags], home);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^td-token: the Schwab token endpoint rejected the refresh token \(.+\): it expired.*, or a newer login replaced it\. run 'td-token login --provider schwab [^']*--token-file \S+token\.json' to log in again\n$/,
    );
    expect(r.stderr).not.toContain(record.refresh_token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    expectKeptAndMarkedRefused(before, await readFile(tokenFile, 'utf8'));
  });

  it('exits 3 with the login command when the refresh token expired at the provider (its clock moved on)', async () => {
    // A sandbox of its own: its clock only moves forward.
    const own = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
    try {
      const ownFlags = [...sandboxFlags(own, 'schwab'), '--token-file', tokenFile];
      await writeTokenFile(tokenFile, await sandboxLogin(own, 'schwab'));
      own.clock.advance(7 * 86_400_000 + 60_000);
      const r = await runCli(['refresh', '--force', ...ownFlags], home);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(
        /^td-token: the Schwab token endpoint rejected the refresh token .*run 'td-token login --provider schwab [^']*' to log in again\n$/,
      );
    } finally {
      await own.close();
    }
  });

  it('exits 3 without asking the provider when the stored refresh token has expired', async () => {
    const record = await loggedIn();
    await writeTokenFile(tokenFile, {
      ...record,
      expires_at: Date.now() - 60_000,
      refresh_token_expires_at: Date.now() - 1000,
    });
    const r = await runCli(['refresh', ...flags], home);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^td-token: .*refresh token.*expired.*'td-token login --provider schwab /s,
    );
    expect(sandbox.counters().token.total).toBe(0);
  });

  it('never prompts: with no token it exits 3 at once, even with a terminal-less stdin left open', async () => {
    const r = await spawnCli(['refresh', ...flags], home);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^td-token: no token is stored/);
  });
});

describe('td-token status', () => {
  it('--json: a stable report with masked tokens, expiry, and the API check', async () => {
    const record = await loggedIn();
    const r = await runCli(['status', '--json', ...flags], home);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toContain(record.access_token);
    expect(r.stdout).not.toContain(record.refresh_token);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      ok: true,
      profile: 'default',
      provider: 'schwab',
      sandbox: null,
      store: { kind: 'file', location: `file ${tokenFile}` },
      loggedIn: true,
      accessToken: {
        token: maskToken(record.access_token),
        expiresAtMs: record.expires_at,
        valid: true,
      },
      refreshToken: {
        token: maskToken(record.refresh_token),
        expiresAtMs: record.refresh_token_expires_at,
        valid: true,
      },
      api: { checked: true, accepted: true, status: 200 },
      problems: [],
      fix: null,
    });
    expect(report.refreshToken.daysLeft).toBeGreaterThan(6.8);
    expect(report.refreshToken.daysLeft).toBeLessThanOrEqual(7);
    expect(report.endpoints.tokenUrl).toBe(sandbox.tokenUrl);
    expect(report.sources.clientId).toEqual({ kind: 'flag', name: '--client-id' });
    expect(report.sources.storeUrl).toEqual({ kind: 'flag', name: '--token-file' });
    expect(sandbox.counters().api).toBe(1);
    expect(sandbox.counters().token.total).toBe(0);
  });

  it('--show-token shows the access token in full, the refresh token masked', async () => {
    const record = await loggedIn();
    const r = await runCli(['status', '--json', '--show-token', '--offline', ...flags], home);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.accessToken.token).toBe(record.access_token);
    // The refresh token is never shown, --show-token or not (its text may land in cron logs).
    expect(report.refreshToken.token).toBe(maskToken(record.refresh_token));
    expect(report.api.checked).toBe(false);
    expect(sandbox.counters().api).toBe(0);
  });

  it('text on stderr like gh auth status, nothing on stdout', async () => {
    const record = await loggedIn();
    const r = await runCli(['status', ...flags], home);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('provider:       schwab (from --provider)');
    expect(r.stderr).toContain(`store:          file ${tokenFile}`);
    expect(r.stderr).toContain(`access token:   ${maskToken(record.access_token)}, valid until`);
    expect(r.stderr).toMatch(/refresh token: .*\((6\.\d|7) days left\)/);
    expect(r.stderr).toContain('API:            accepts the token');
    expect(r.stderr).toContain('ok: logged in');
    expect(r.stderr).not.toContain(record.access_token);
  });

  it('an expired refresh token: exit 3 and the exact login command as the fix', async () => {
    const record = await loggedIn();
    await writeTokenFile(tokenFile, {
      ...record,
      expires_at: Date.now() - 60_000,
      refresh_token_expires_at: Date.now() - 1000,
    });
    const r = await runCli(['status', '--json', ...flags, '--profile', 'ci'], home);
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p: { code: string }) => p.code)).toEqual(['refresh_token_expired']);
    expect(report.fix).toMatch(
      /^td-token login --provider schwab .*--token-file \S+token\.json --profile ci$/,
    );
    expect(report.fix).toContain(`--token-url ${sandbox.tokenUrl}`);
    expect(report.api.checked).toBe(false);
  });

  it('an access token the API refuses: exit 1 and refresh --force as the fix', async () => {
    const record = await loggedIn();
    await writeTokenFile(tokenFile, { ...record, access_token: 'not-a-token-the-sandbox-issued' });
    const r = await runCli(['status', ...flags], home);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'API:            REFUSES the token (GET /trader/v1/accounts/accountNumbers: HTTP 401)',
    );
    expect(r.stderr).toMatch(
      /problem: the API refused the access token.*\n {2}fix: td-token refresh --force --provider schwab/,
    );
  });

  it('not logged in: exit 3, fix td-token login', async () => {
    const r = await runCli(['status', ...flags], home);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('token:          none stored');
    expect(r.stderr).toMatch(/problem: not logged in.*\n {2}fix: td-token login --provider schwab/);
  });
});

describe('td-token logout', () => {
  it('removes the stored token; afterwards token exits 3', async () => {
    await loggedIn();
    const r = await runCli(['logout', ...flags], home);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `logged out of profile default: removed its token from file ${tokenFile}\n`,
    );
    await expect(stat(tokenFile)).rejects.toMatchObject({ code: 'ENOENT' });
    const again = await runCli(['logout', ...flags], home);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/^profile default was not logged in/);
    const token = await runCli(['token', ...flags], home);
    expect(token.code).toBe(3);
  });
});

describe('td-token export', () => {
  it('schwab-py: {creation_timestamp, token} on stdout, times in seconds', async () => {
    const record = await loggedIn();
    const r = await runCli(['export', '--format', 'schwab-py', ...flags], home);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const file = JSON.parse(r.stdout);
    expect(Object.keys(file).sort()).toEqual(['creation_timestamp', 'token']);
    expect(file.creation_timestamp).toBe(
      Math.floor((record.refresh_token_issued_at as number) / 1000),
    );
    expect(file.token).toEqual({
      expires_in: 1800,
      token_type: 'Bearer',
      scope: record.scope,
      refresh_token: record.refresh_token,
      access_token: record.access_token,
      expires_at: Math.floor(record.expires_at / 1000),
    });
  });

  it('--out writes the file 0600 and says where on stderr', async () => {
    const record = await loggedIn();
    const out = join(home.cwd, 'py', 'schwab_token.json');
    const r = await runCli(
      ['export', '--format', 'schwab-py', '--out', 'py/schwab_token.json', ...flags],
      home,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`wrote the schwab-py token file ${out}\n`);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(out, 'utf8')).token.access_token).toBe(record.access_token);
  });

  it('tda-api --out PATH: writes the file 0600 (tda-api fields, times in seconds), nothing on stdout', async () => {
    const record = await loggedIn();
    const out = join(home.cwd, 'bots', 'tda_token.json');
    const r = await runCli(['export', '--format', 'tda-api', '--out', out, ...flags], home);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`wrote the tda-api token file ${out}\n`);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const file = JSON.parse(await readFile(out, 'utf8'));
    expect(Object.keys(file).sort()).toEqual(['creation_timestamp', 'token']);
    expect(file.token).toMatchObject({
      access_token: record.access_token,
      refresh_token: record.refresh_token,
      token_type: 'Bearer',
      expires_at: Math.floor(record.expires_at / 1000),
    });
    expect(file.creation_timestamp + file.token.refresh_token_expires_in).toBe(
      Math.floor(record.refresh_token_expires_at / 1000),
    );
    expect(r.stderr).not.toContain(record.access_token);
  });

  it('exits 3 with the login command when no token is stored, and writes nothing', async () => {
    const out = join(home.cwd, 'tda_token.json');
    const r = await runCli(['export', '--format', 'tda-api', '--out', out, ...flags], home);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^td-token: no token is stored in .*token\.json.*'td-token login /s);
    await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
    const toStdout = await runCli(['export', '--format', 'schwab-py', ...flags], home);
    expect(toStdout.code).toBe(3);
    expect(toStdout.stdout).toBe('');
  });

  it('needs a known --format (usage error, exit 2)', async () => {
    const missing = await runCli(['export', ...flags], home);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^td-token: export needs --format tda-api\|schwab-py/);
    const wrong = await runCli(['export', '--format', 'pickle', ...flags], home);
    expect(wrong.code).toBe(2);
    expect(wrong.stdout).toBe('');
  });
});

describe('usage', () => {
  it('--help and <command> --help print usage on stdout with exit 0', async () => {
    const top = await spawnCli(['--help'], home);
    expect(top.code).toBe(0);
    expect(top.stderr).toBe('');
    expect(top.stdout).toContain('usage: td-token <command> [flags]');
    for (const name of [
      'login',
      'token',
      'refresh',
      'status',
      'logout',
      'export',
      'watch',
      'sandbox',
      'cert',
    ]) {
      expect(top.stdout).toMatch(new RegExp(`\\n  ${name} +\\S`));
    }
    const sub = await spawnCli(['status', '--help'], home);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toMatch(/^usage: td-token status \[--json\]/);
    expect(sub.stdout).toContain('--json fields (stable)');
    expect(sub.stdout).toContain('--token-file PATH');
  });

  it('unknown commands and flags, missing values: stderr, exit 2, nothing on stdout', async () => {
    const cases: [string[], RegExp][] = [
      [['tokne'], /^td-token: unknown command "tokne"\. did you mean 'token'\?/],
      [['token', '--bogus'], /^td-token: unknown flag --bogus for 'td-token token'/],
      [['token', '--client-id'], /^td-token: --client-id needs a value/],
      [['refresh', '--force=yes'], /^td-token: --force takes no value/],
      [['token', 'extra'], /^td-token: unexpected argument "extra"/],
      [
        ['token', '--store', 'floppy'],
        /^td-token: --store is "floppy", which is not a store td-token has\. use one of file, sqlite, redis, memory/,
      ],
      [
        ['token', '--provider', 'etrade'],
        /^td-token: --provider is "etrade".*use one of tdameritrade, schwab, generic, sandbox-tdameritrade, sandbox-schwab/,
      ],
      [['sandbox', '--port', 'http'], /^td-token: --port is "http"/],
      [[], /td-token: no command given/],
    ];
    // The first as a process (exit code and streams as a shell sees them), the rest in-process.
    for (const [i, [args, pattern]] of cases.entries()) {
      const r = i === 0 ? await spawnCli(args, home) : await runCli(args, home);
      expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toMatchObject({
        args,
        code: 2,
        stdout: '',
        stderr: expect.stringMatching(pattern),
      });
    }
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
    const r = await spawnCli(['--version'], home);
    expect(r).toMatchObject({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });
});
