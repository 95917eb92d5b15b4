/**
 * SIGKILL the agent mid-refresh, over and over (100 times): the store never loses the refresh
 * token, the synced schwab-py file and Schwabdev database are never torn, and the next agent
 * serves. The sandbox's access tokens are fresh for only 1 s past the manager's 5-minute margin,
 * so every agent refreshes as it starts, and each refresh is held 50 ms at the sandbox.
 *
 * Where a kill lands is measured from the agent's own progress, not by the clock alone: once the
 * sandbox holds the agent's refresh grant, at a random point of the 50 ms it holds the answer, so
 * a busy machine moves the kills no closer to start-up. Every tenth agent (and the first five)
 * is let finish its refresh, so the synced files are written and then checked never torn.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { parseTokenRecord } from '../../src/token.js';
import { assertBuilt } from '../cli/harness.js';
import { type AgentSetup, ask, setupHome, startAgentChild, stopAgent } from './harness.js';

const KILLS = process.env['TD_TOKEN_SOAK'] ? 300 : 100;

let sandbox: Sandbox;
let setup: AgentSetup;

beforeAll(async () => {
  assertBuilt();
  sandbox = await startSandbox({
    flavor: 'schwab',
    settings: { accessTokenLifetimeSec: 301, rateLimitPerMinute: 0 },
  });
  setup = await setupHome(sandbox);
});

afterAll(async () => {
  await setup?.home.cleanup();
  await sandbox?.close();
});

function checkSchwabdev(path: string): void {
  const script = `
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute('SELECT access_token, refresh_token FROM schwabdev').fetchall()
assert len(rows) == 1 and rows[0][0] and rows[0][1] == sys.argv[2], 'torn or lost'
`;
  const r = spawnSync('python3', ['-c', script, path, setup.record.refresh_token], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`schwabdev database check failed: ${r.stderr}`);
}

it(`${KILLS} SIGKILLs mid-refresh: nothing lost, nothing torn, the next agent serves`, async () => {
  const dir = join(setup.home.root, 'bot');
  const sync = ['--sync', `schwab-py:${dir}/token.json`, '--sync', `schwabdev:${dir}/tokens.db`];
  let midRefresh = 0;
  for (let i = 0; i < KILLS; i++) {
    sandbox.faults.inject({ kind: 'delay', ms: 50 }, 1);
    const before = sandbox.counters().token.refresh_token;
    const agent = await startAgentChild(setup, sync);
    if (i < 5 || i % 10 === 0) {
      await agent.waitFor('stdout', /"event":"refreshed"/, 20_000).catch(() => undefined);
    } else {
      // Wait until the sandbox has the agent's refresh grant in hand (it holds each answer 50
      // ms), then kill at a random point of that hold: a loaded machine delays the grant, not
      // where the kill lands relative to it. A bounded wait: an agent that never asks is killed
      // anyway and counted as not mid-refresh.
      const until = performance.now() + 20_000;
      while (sandbox.counters().token.refresh_token === before && performance.now() < until) {
        await delay(1);
      }
      await delay(Math.random() * 45);
    }
    agent.child.kill('SIGKILL');
    await agent.exited;
    const done = /"event":"refreshed"/.test(agent.stdout());
    if (!done && sandbox.counters().token.refresh_token > before) midRefresh++;

    const stored = parseTokenRecord(await readFile(setup.tokenFile, 'utf8'), setup.tokenFile);
    expect(stored.refresh_token).toBe(setup.record.refresh_token);
    try {
      const text = await readFile(join(dir, 'token.json'), 'utf8');
      const parsed = JSON.parse(text) as { token: { refresh_token: string } };
      expect(parsed.token.refresh_token).toBe(setup.record.refresh_token);
      checkSchwabdev(join(dir, 'tokens.db'));
    } catch (err) {
      // Before the first sync ever finished, the files may not exist yet; never half-written.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || i > 20) throw err;
    }
  }
  // The kills landed inside refreshes (the sandbox saw the grant, the agent never said done).
  expect(midRefresh).toBeGreaterThanOrEqual(10);
  const last = await startAgentChild(setup, sync);
  try {
    const answer = await ask({ socketPath: last.socketPath }, '/v1/token');
    expect(answer.status).toBe(200);
  } finally {
    expect(await stopAgent(last)).toBe(0);
  }
  process.stdout.write(
    `agent crash loop: ${KILLS} kills, ${midRefresh} with a refresh in flight\n`,
  );
}, 600_000);
