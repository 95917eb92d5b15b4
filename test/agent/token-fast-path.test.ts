/**
 * `td-token token` asks a running agent on the default socket first, only when that agent serves
 * the same profile from the same store; `--no-agent` and any mismatch take the command's own path.
 * The agent's request counter tells which path answered.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { assertBuilt, runCli, writeTokenFile } from '../cli/harness.js';
import {
  type AgentSetup,
  ask,
  type RunningAgentChild,
  setupHome,
  startAgentChild,
  stopAgent,
} from './harness.js';

let sandbox: Sandbox;
let setup: AgentSetup;
let agent: RunningAgentChild;
let runtime: string;

async function served(): Promise<number> {
  const metrics = await ask({ socketPath: agent.socketPath }, '/metrics');
  return Number(/^td_token_requests_total\{profile="default"\} (\d+)$/m.exec(metrics.body)?.[1]);
}

beforeAll(async () => {
  assertBuilt();
  sandbox = await startSandbox({ flavor: 'schwab' });
  setup = await setupHome(sandbox);
  runtime = await mkdtemp(join(tmpdir(), 'td-token-run-'));
  const env = { XDG_RUNTIME_DIR: runtime };
  setup.home.env['XDG_RUNTIME_DIR'] = runtime;
  await mkdir(join(runtime, 'td-token'), { recursive: true, mode: 0o700 });
  agent = await startAgentChild(setup, [], {
    env,
    socketPath: join(runtime, 'td-token', 'agent.sock'),
  });
});

afterAll(async () => {
  if (agent) await stopAgent(agent);
  await setup?.home.cleanup();
  await rm(runtime, { recursive: true, force: true });
  await sandbox?.close();
});

it('takes the token from the agent serving the same profile and store', async () => {
  const before = await served();
  const result = await runCli(['token', ...setup.flags], setup.home);
  expect(result).toMatchObject({ code: 0, stdout: `${setup.record.access_token}\n`, stderr: '' });
  expect(await served()).toBe(before + 1);
});

it('--no-agent, another store or another profile take their own path', async () => {
  const before = await served();
  const own = await runCli(['token', '--no-agent', ...setup.flags], setup.home);
  expect(own).toMatchObject({ code: 0, stdout: `${setup.record.access_token}\n` });

  const otherFile = join(setup.home.root, 'tokens', 'other.json');
  await writeTokenFile(otherFile, setup.record);
  const otherStore = await runCli(['token', ...setup.flags, '--token-file', otherFile], setup.home);
  expect(otherStore).toMatchObject({ code: 0, stdout: `${setup.record.access_token}\n` });

  const flags = setup.flags.filter(
    (f, i, all) => f !== '--token-file' && all[i - 1] !== '--token-file',
  );
  const otherProfile = await runCli(['token', ...flags, '--profile', 'other'], setup.home);
  expect(otherProfile.code).toBe(3);
  expect(await served()).toBe(before);
});
