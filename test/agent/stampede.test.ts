/**
 * One refresh per expiry however many clients ask: 200 concurrent clients of a real agent at the
 * moment its access token stops being fresh, and 100 of each of two agents on two sockets that
 * share one Redis store. The sandbox holds the refresh answer (a `delay` fault) so the clients
 * arrive while the refresh is in flight; its counters say how many refresh grants it saw.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { createStore } from '../../src/stores/index.js';
import type { TokenRecord } from '../../src/token.js';
import { assertBuilt, sandboxFlags, writeTokenFile } from '../cli/harness.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type AgentSetup, ask, setupHome, startAgentChild, stopAgent } from './harness.js';

/** The manager's default margin: a token is handed out only while it has this much life left. */
const MARGIN_MS = 5 * 60_000;
/** How long after the agent starts its access token stops being fresh. */
const FRESH_FOR_MS = 3_000;

let sandbox: Sandbox;
let setup: AgentSetup;

beforeAll(async () => {
  assertBuilt();
  sandbox = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
  setup = await setupHome(sandbox);
});

afterAll(async () => {
  await setup?.home.cleanup();
  await sandbox?.close();
});

/** The record with its access token fresh for `ms` more (as the agent judges it). */
function dueIn(record: TokenRecord, ms: number): TokenRecord {
  return { ...record, expires_at: Date.now() + MARGIN_MS + ms };
}

async function tokensAt(
  sockets: string[],
  perSocket: number,
  freshUntil: number,
): Promise<string[]> {
  await delay(Math.max(0, freshUntil - Date.now() + 30));
  const asks = sockets.flatMap((socketPath) =>
    Array.from({ length: perSocket }, () => ask({ socketPath }, '/v1/token')),
  );
  const answers = await Promise.all(asks);
  for (const a of answers) expect(a.status).toBe(200);
  return answers.map((a) => (JSON.parse(a.body) as { access_token: string }).access_token);
}

describe('one refresh per expiry', () => {
  it('200 concurrent clients of one agent at expiry: 1 refresh, one new token for all', async () => {
    const record = dueIn(setup.record, FRESH_FOR_MS);
    await writeTokenFile(setup.tokenFile, record);
    const agent = await startAgentChild(setup);
    try {
      sandbox.resetCounters();
      sandbox.faults.inject({ kind: 'delay', ms: 400 });
      const tokens = await tokensAt([agent.socketPath], 200, record.expires_at - MARGIN_MS);
      expect(new Set(tokens).size).toBe(1);
      expect(tokens[0]).not.toBe(record.access_token);
      expect(sandbox.counters().token.refresh_token).toBe(1);
    } finally {
      expect(await stopAgent(agent)).toBe(0);
    }
  });

  it('SIGTERM while a refresh is awaited: the answer finishes, the socket goes, exit 0', async () => {
    const record = dueIn(setup.record, 1_500);
    await writeTokenFile(setup.tokenFile, record);
    const agent = await startAgentChild(setup);
    // The refresh due at the margin is held 1 s at the sandbox.
    sandbox.faults.inject({ kind: 'delay', ms: 1_000 });
    await delay(Math.max(0, record.expires_at - MARGIN_MS - Date.now() + 30));
    const t0 = performance.now();
    const pending = ask({ socketPath: agent.socketPath }, '/v1/token');
    await delay(200);
    agent.child.kill('SIGTERM');
    const answer = await pending;
    expect(performance.now() - t0).toBeGreaterThan(500);
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as { expires_in: number }).expires_in).toBeGreaterThan(300);
    expect((await agent.exited).code).toBe(0);
    expect(existsSync(agent.socketPath)).toBe(false);
  });

  it('two agents on two sockets over one Redis store: still 1 refresh', async () => {
    const redis: RedisServer = await startRedis();
    const agents: Awaited<ReturnType<typeof startAgentChild>>[] = [];
    try {
      const store = await createStore({ kind: 'redis', url: redis.url, profile: 'default' });
      const record = dueIn(setup.record, FRESH_FOR_MS + 2_000);
      try {
        await store.save(record);
      } finally {
        await store.close();
      }
      const flags = [
        ...sandboxFlags(sandbox, 'schwab'),
        '--store',
        'redis',
        '--store-url',
        redis.url,
      ];
      for (const name of ['a', 'b']) {
        agents.push(
          await startAgentChild({ ...setup, flags }, [], {
            socketPath: join(setup.home.root, `redis-${name}`, 'agent.sock'),
          }),
        );
      }
      sandbox.resetCounters();
      sandbox.faults.inject({ kind: 'delay', ms: 400 });
      const tokens = await tokensAt(
        agents.map((a) => a.socketPath),
        100,
        record.expires_at - MARGIN_MS,
      );
      expect(new Set(tokens).size).toBe(1);
      expect(tokens[0]).not.toBe(record.access_token);
      expect(sandbox.counters().token.refresh_token).toBe(1);
      const status = await ask({ socketPath: agents[1]?.socketPath as string }, '/v1/status');
      expect(JSON.parse(status.body)).toMatchObject({ store_kind: 'redis' });
    } finally {
      for (const a of agents) expect(await stopAgent(a)).toBe(0);
      await redis.stop();
    }
  });
});
