/**
 * `td-token doctor` as a person runs it: the built command line in a temporary home against
 * the sandbox, all checks passing (exit 0), then each failure the sandbox reproduces (exit 1,
 * the failed check named with its fix, in text and in --json).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, type SandboxSettings, startSandbox } from '../../src/sandbox/index.js';
import { assertBuilt, type Home, makeHome, runCli } from '../cli/harness.js';
import { freePort } from '../helpers/redis.js';

const KEY = 'DoctorCliAppKey00000000000000000';
const SECRET = 'DoctorCliSecret0';

interface Report {
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string; fix: string }[];
}

let home: Home;
let port: number;
let trustBundle: string;
let sandbox: Sandbox | undefined;

beforeAll(async () => {
  assertBuilt();
  home = await makeHome();
  port = await freePort();
  // `td-token cert` makes the login certificate; a bundle holding it stands for a system store
  // that trusts it.
  const cert = await runCli(['cert'], home);
  expect(cert.code, cert.stderr).toBe(0);
  trustBundle = join(home.root, 'trusted.pem');
  const { readFile } = await import('node:fs/promises');
  await writeFile(trustBundle, await readFile(cert.stdout.trim(), 'utf8'));
});
afterAll(async () => {
  await home.cleanup();
});
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function start(
  app: { redirectUris?: string[]; status?: 'ready' | 'pending' } = {},
  settings: Partial<SandboxSettings> = {},
): Promise<Sandbox> {
  sandbox = await startSandbox({
    flavor: 'schwab',
    apps: [
      {
        clientId: KEY,
        clientSecret: SECRET,
        redirectUris: app.redirectUris ?? [`https://127.0.0.1:${port}`],
        status: app.status ?? 'ready',
      },
    ],
    settings,
  });
  return sandbox;
}

function doctor(box: Sandbox, extra: string[] = [], redirectUri = `https://127.0.0.1:${port}`) {
  return runCli(
    [
      'doctor',
      '--provider',
      'schwab',
      '--client-id',
      KEY,
      '--redirect-uri',
      redirectUri,
      '--authorize-url',
      box.authorizeUrl,
      '--token-url',
      box.tokenUrl,
      '--api-url',
      box.apiUrl,
      ...extra,
    ],
    home,
    { env: { TD_TOKEN_CLIENT_SECRET: SECRET, SSL_CERT_FILE: trustBundle } },
  );
}

function failed(report: Report): string[] {
  return report.checks.filter((c) => !c.ok).map((c) => c.name);
}

describe('td-token doctor', () => {
  it('passes every check for a ready app, its callback, a free port and a trusted certificate', async () => {
    const box = await start();
    const result = await doctor(box);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/all 9 checks passed/);
    for (const name of [
      'redirect-uri',
      'authorize',
      'app-credentials',
      'clock',
      'port',
      'certificate',
      'config-folder',
      'store-modes',
      'store',
    ]) {
      expect(result.stderr).toMatch(new RegExp(`^  ok    ${name} `, 'm'));
    }
    const json = await doctor(box, ['--json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as Report;
    expect(report.ok).toBe(true);
    expect(report.checks).toHaveLength(9);
    expect(json.stdout).not.toContain(SECRET);
    expect(json.stderr).not.toContain(SECRET);
  });

  it('an app still pending approval: exit 1, authorize fails with "Ready For Use"', async () => {
    const box = await start({ status: 'pending' });
    const result = await doctor(box, ['--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.ok).toBe(false);
    expect(failed(report)).toEqual(['authorize']);
    expect(report.checks.find((c) => c.name === 'authorize')?.fix).toMatch(/Ready For Use/);
  });

  it('a callback registered with a trailing slash: exit 1, the fix names the registered one', async () => {
    const box = await start({ redirectUris: [`https://127.0.0.1:${port}/`] });
    const result = await doctor(box);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ {2}FAIL {2}authorize /m);
    expect(result.stderr).toContain(
      `fix: use exactly the registered one: --redirect-uri https://127.0.0.1:${port}/`,
    );
    expect(result.stderr).toMatch(/1 of 9 checks failed/);
  });

  it('a provider clock 2 minutes ahead: exit 1, the clock fails', async () => {
    const box = await start({}, { clockSkewMs: 120_000 });
    const result = await doctor(box, ['--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as Report;
    expect(failed(report)).toEqual(['clock']);
    expect(report.checks.find((c) => c.name === 'clock')?.detail).toMatch(
      /1[12]\d s behind the provider's/,
    );
  });

  it('a wrong secret and a localhost callback: both named', async () => {
    const box = await start();
    const result = await runCli(
      [
        'doctor',
        '--json',
        '--provider',
        'schwab',
        '--client-id',
        KEY,
        '--redirect-uri',
        `https://localhost:${port}`,
        '--authorize-url',
        box.authorizeUrl,
        '--token-url',
        box.tokenUrl,
      ],
      home,
      { env: { TD_TOKEN_CLIENT_SECRET: 'NotTheSecret0000', SSL_CERT_FILE: trustBundle } },
    );
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as Report;
    expect(failed(report)).toEqual(['redirect-uri', 'authorize', 'app-credentials']);
    expect(report.checks.find((c) => c.name === 'authorize')?.fix).toContain(
      `--redirect-uri https://127.0.0.1:${port}`,
    );
  });

  it('is listed in the top help and has its own --help', async () => {
    const top = await runCli(['--help'], home);
    expect(top.stdout).toMatch(/\n {2}doctor +check the app registration/);
    const own = await runCli(['doctor', '--help'], home);
    expect(own.code).toBe(0);
    expect(own.stdout).toMatch(/^usage: td-token doctor \[--json\]/);
    expect(own.stdout).toContain('app-credentials');
  });
});
