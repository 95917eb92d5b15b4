/**
 * `serve --sync`: the schwab-py and tda-api token files and Schwabdev's tokens_db are written at
 * start and rewritten after a refresh, 0600; Python's own json and sqlite3 modules read them the
 * way those libraries do.
 */
import { spawnSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { assertBuilt, startCli, writeTokenFile } from '../cli/harness.js';
import { type AgentSetup, ask, setupHome, startAgentChild, stopAgent } from './harness.js';

const MARGIN_MS = 5 * 60_000;

let sandbox: Sandbox;
let setup: AgentSetup;

beforeAll(async () => {
  assertBuilt();
  sandbox = await startSandbox({ flavor: 'schwab' });
  setup = await setupHome(sandbox);
});

afterAll(async () => {
  await setup?.home.cleanup();
  await sandbox?.close();
});

/** What Python reads from the three targets: access tokens and the libraries' own times. */
function pythonRead(dir: string): Record<string, unknown> {
  const script = `
import json, sqlite3, sys, datetime
d = sys.argv[1]
out = {}
for name in ('schwab-py', 'tda-api'):
    with open(d + '/' + name + '.json') as f:
        doc = json.load(f)
    out[name] = {'access_token': doc['token']['access_token'], 'creation_timestamp': doc['creation_timestamp'], 'expires_at': doc['token']['expires_at']}
con = sqlite3.connect(d + '/schwabdev.db')
row = con.execute('SELECT access_token_issued, refresh_token_issued, access_token, refresh_token, id_token, expires_in FROM schwabdev').fetchall()
assert len(row) == 1, row
at, rt, access, refresh, id_token, expires_in = row[0]
out['schwabdev'] = {'access_token': access, 'at_issued': datetime.datetime.fromisoformat(at).timestamp(), 'rt_issued': datetime.datetime.fromisoformat(rt).timestamp(), 'id_token': id_token, 'expires_in': expires_in}
print(json.dumps(out))
`;
  const result = spawnSync('python3', ['-c', script, dir], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

it('writes all three at start and again after a refresh; Python reads them', async () => {
  const dir = join(setup.home.root, 'bot');
  const record = { ...setup.record, expires_at: Date.now() + MARGIN_MS + 2_500 };
  await writeTokenFile(setup.tokenFile, record);
  const agent = await startAgentChild(setup, [
    '--sync',
    `schwab-py:${dir}/schwab-py.json`,
    '--sync',
    `tda-api:${dir}/tda-api.json`,
    '--sync',
    `schwabdev:${dir}/schwabdev.db`,
  ]);
  try {
    await agent.waitFor('stdout', /"event":"synced"[^\n]*schwabdev/);
    const first = pythonRead(dir) as Record<string, Record<string, number | string>>;
    for (const name of ['schwab-py', 'tda-api', 'schwabdev']) {
      expect(first[name]?.['access_token']).toBe(record.access_token);
    }
    expect(first['schwab-py']?.['expires_at']).toBe(Math.floor(record.expires_at / 1000));
    // Schwabdev takes the token as issued 30 minutes before its expiry, the login 7 days before the refresh token's.
    expect(first['schwabdev']?.['at_issued']).toBeCloseTo(record.expires_at / 1000 - 1800, 0);
    expect(first['schwabdev']?.['rt_issued']).toBeCloseTo(
      record.refresh_token_expires_at / 1000 - 7 * 86_400,
      0,
    );
    for (const file of ['schwab-py.json', 'tda-api.json', 'schwabdev.db']) {
      expect((await stat(join(dir, file))).mode & 0o777).toBe(0o600);
    }

    // The agent refreshes at the margin; the synced files follow.
    await delay(Math.max(0, record.expires_at - MARGIN_MS - Date.now()));
    const fresh = JSON.parse((await ask({ socketPath: agent.socketPath }, '/v1/token')).body) as {
      access_token: string;
    };
    expect(fresh.access_token).not.toBe(record.access_token);
    const deadline = Date.now() + 10_000;
    let now = pythonRead(dir) as Record<string, Record<string, string>>;
    while (now['schwabdev']?.['access_token'] !== fresh.access_token && Date.now() < deadline) {
      await delay(100);
      now = pythonRead(dir) as Record<string, Record<string, string>>;
    }
    for (const name of ['schwab-py', 'tda-api', 'schwabdev']) {
      expect(now[name]?.['access_token']).toBe(fresh.access_token);
    }
  } finally {
    expect(await stopAgent(agent)).toBe(0);
  }
  expect(agent.stdout()).not.toContain(setup.record.refresh_token);
});

it('watch --sync writes the schwab-py file at start; Python reads the login from it', async () => {
  const dir = join(setup.home.root, 'watch-bot');
  await writeTokenFile(setup.tokenFile, setup.record);
  const watch = startCli(
    ['watch', ...setup.flags, '--sync', `schwab-py:${dir}/token.json`],
    setup.home,
  );
  try {
    await watch.waitFor('stdout', /"event":"synced"/, 20_000);
    expect((await stat(join(dir, 'token.json'))).mode & 0o777).toBe(0o600);
    const read = spawnSync(
      'python3',
      [
        '-c',
        'import json,sys; print(json.load(open(sys.argv[1]))["token"]["refresh_token"])',
        `${dir}/token.json`,
      ],
      { encoding: 'utf8' },
    );
    expect(read.stdout.trim()).toBe(setup.record.refresh_token);
  } finally {
    watch.child.kill('SIGTERM');
    expect((await watch.exited).code).toBe(0);
  }
  expect(watch.stdout()).not.toContain(setup.record.refresh_token);
});
