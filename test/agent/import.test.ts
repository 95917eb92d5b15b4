/**
 * `td-token import`: a schwab-py token file and a Schwabdev tokens_db written by Python itself are
 * adopted with the refresh token's real expiry; an expired or malformed file is an error naming
 * it and leaves the store untouched.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { assertBuilt, readTokenFile, runCli } from '../cli/harness.js';
import { type AgentSetup, setupHome } from './harness.js';

let sandbox: Sandbox;
let setup: AgentSetup;
let dir: string;

beforeAll(async () => {
  assertBuilt();
  sandbox = await startSandbox({ flavor: 'schwab' });
  setup = await setupHome(sandbox);
  dir = join(setup.home.root, 'py');
  await mkdir(dir, { recursive: true });
});

afterAll(async () => {
  await setup?.home.cleanup();
  await sandbox?.close();
});

function flagsFor(tokenFile: string): string[] {
  const i = setup.flags.indexOf('--token-file');
  return [...setup.flags.slice(0, i), '--token-file', tokenFile];
}

it('adopts a schwab-py file with creation_timestamp + 7 days as the refresh expiry', async () => {
  const created = Math.floor(Date.now() / 1000) - 86_400;
  const file = join(dir, 'token.json');
  await writeFile(
    file,
    JSON.stringify({
      creation_timestamp: created,
      token: {
        expires_in: 1800,
        token_type: 'Bearer',
        scope: 'api',
        refresh_token: setup.record.refresh_token,
        access_token: setup.record.access_token,
        expires_at: Math.floor(setup.record.expires_at / 1000),
      },
    }),
  );
  const target = join(setup.home.root, 'imported', 'a.json');
  const result = await runCli(
    ['import', '--from', 'schwab-py', '--file', file, ...flagsFor(target)],
    setup.home,
  );
  expect(result.code).toBe(0);
  const stored = await readTokenFile(target);
  expect(stored.refresh_token).toBe(setup.record.refresh_token);
  expect(stored.refresh_token_expires_at).toBe((created + 7 * 86_400) * 1000);
  const token = await runCli(['token', '--no-agent', ...flagsFor(target)], setup.home);
  expect(token.stdout).toBe(`${setup.record.access_token}\n`);
});

it('adopts a Schwabdev tokens_db written by Python', async () => {
  const db = join(dir, 'tokens.db');
  const script = `
import sqlite3, sys, datetime
con = sqlite3.connect(sys.argv[1])
con.execute('''CREATE TABLE IF NOT EXISTS schwabdev (access_token_issued TEXT NOT NULL, refresh_token_issued TEXT NOT NULL, access_token TEXT NOT NULL, refresh_token TEXT NOT NULL, id_token TEXT NOT NULL, expires_in INTEGER, token_type TEXT, scope TEXT)''')
now = datetime.datetime.now(datetime.timezone.utc)
con.execute('INSERT INTO schwabdev VALUES (?, ?, ?, ?, ?, ?, ?, ?)', (now.isoformat(), (now - datetime.timedelta(days=2)).isoformat(), sys.argv[2], sys.argv[3], '', 1800, 'Bearer', 'api'))
con.commit()
print(int((now - datetime.timedelta(days=2)).timestamp() * 1000))
`;
  const py = spawnSync(
    'python3',
    ['-c', script, db, setup.record.access_token, setup.record.refresh_token],
    {
      encoding: 'utf8',
    },
  );
  expect(py.status).toBe(0);
  const rtIssued = Number(py.stdout.trim());
  const target = join(setup.home.root, 'imported', 'b.json');
  const result = await runCli(
    ['import', '--from', 'schwabdev', '--file', db, ...flagsFor(target)],
    setup.home,
  );
  expect(result.code).toBe(0);
  const stored = await readTokenFile(target);
  expect(stored.access_token).toBe(setup.record.access_token);
  expect(Math.abs(stored.refresh_token_expires_at - (rtIssued + 7 * 86_400_000))).toBeLessThan(
    1000,
  );
});

it('an expired or malformed file is an error naming it, and the store stays as it was', async () => {
  const target = join(setup.home.root, 'imported', 'c.json');
  const expired = join(dir, 'expired.json');
  await writeFile(
    expired,
    JSON.stringify({
      creation_timestamp: Math.floor(Date.now() / 1000) - 8 * 86_400,
      token: { access_token: 'a', refresh_token: 'r', expires_at: 1, expires_in: 1800 },
    }),
  );
  const one = await runCli(
    ['import', '--from', 'schwab-py', '--file', expired, ...flagsFor(target)],
    setup.home,
  );
  expect(one.code).toBe(2);
  expect(one.stderr).toContain(expired);
  expect(one.stderr).toMatch(/expired .*td-token login/);
  const garbage = join(dir, 'garbage.json');
  await writeFile(garbage, '{"token": 5}');
  const two = await runCli(
    ['import', '--from', 'tda-api', '--file', garbage, ...flagsFor(target)],
    setup.home,
  );
  expect(two.code).toBe(2);
  expect(two.stderr).toContain(garbage);
  const three = await runCli(
    ['import', '--from', 'schwabdev', '--file', garbage, ...flagsFor(target)],
    setup.home,
  );
  expect(three.code).toBe(2);
  expect(existsSync(target)).toBe(false);
  expect(await readFile(garbage, 'utf8')).toBe('{"token": 5}');
});
