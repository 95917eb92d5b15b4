/**
 * docs/agent.md's recipes, run as written against a real agent: Python's standard library over
 * the Unix socket and over loopback HTTP with the secret, curl, Node, and the schwab-py
 * `client_from_access_functions` read function.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { assertBuilt } from '../cli/harness.js';
import {
  type AgentSetup,
  type RunningAgentChild,
  setupHome,
  startAgentChild,
  stopAgent,
} from './harness.js';

const DOC = fileURLToPath(new URL('../../docs/agent.md', import.meta.url));

/** The recipes: the fenced block after each `<!-- recipe: NAME -->`. */
function recipes(): Map<string, { lang: string; code: string }> {
  const text = readFileSync(DOC, 'utf8');
  const found = new Map<string, { lang: string; code: string }>();
  for (const m of text.matchAll(/<!-- recipe: ([\w-]+) -->\n```(\w+)\n([\s\S]*?)\n```/g)) {
    found.set(m[1] as string, { lang: m[2] as string, code: m[3] as string });
  }
  return found;
}

let sandbox: Sandbox;
let setup: AgentSetup;
let agent: RunningAgentChild;
let env: Record<string, string>;

beforeAll(async () => {
  assertBuilt();
  sandbox = await startSandbox({ flavor: 'schwab' });
  setup = await setupHome(sandbox);
  const secretFile = join(setup.home.root, 'run', 'agent.secret');
  agent = await startAgentChild(setup, ['--listen', '127.0.0.1:0', '--secret-file', secretFile]);
  env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: setup.home.home,
    TD_TOKEN_AGENT_SOCKET: agent.socketPath,
    TD_TOKEN_AGENT_ADDR: agent.address as string,
    TD_TOKEN_AGENT_SECRET_FILE: secretFile,
  };
});

afterAll(async () => {
  if (agent) expect(await stopAgent(agent)).toBe(0);
  await setup?.home.cleanup();
  await sandbox?.close();
});

async function run(name: string): Promise<string> {
  const recipe = recipes().get(name);
  if (recipe === undefined) throw new Error(`docs/agent.md has no recipe ${name}`);
  let result: ReturnType<typeof spawnSync>;
  if (recipe.lang === 'python') {
    result = spawnSync('python3', ['-c', recipe.code], { env, encoding: 'utf8' });
  } else if (recipe.lang === 'sh') {
    result = spawnSync('sh', ['-c', recipe.code], { env, encoding: 'utf8' });
  } else {
    const file = join(setup.home.root, `${name}.mjs`);
    await writeFile(file, recipe.code);
    result = spawnSync(process.execPath, [file], { env, encoding: 'utf8' });
  }
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout as string;
}

describe('docs/agent.md recipes', () => {
  it('lists the five recipes', () => {
    expect([...recipes().keys()].sort()).toEqual([
      'curl',
      'node',
      'python-http',
      'python-socket',
      'schwab-py',
    ]);
  });

  for (const name of ['python-socket', 'python-http', 'curl', 'node']) {
    it(`${name} prints the agent's token`, async () => {
      expect(await run(name)).toBe(`${setup.record.access_token}\n`);
    });
  }

  it("schwab-py: the read function gives the token in schwab-py's metadata-wrapped shape", async () => {
    const out = JSON.parse(await run('schwab-py')) as {
      creation_timestamp: number;
      token: { access_token: string; expires_at: number };
    };
    expect(out.token.access_token).toBe(setup.record.access_token);
    expect(out.token.expires_at).toBe(Math.floor(setup.record.expires_at / 1000));
    expect(out.creation_timestamp).toBe(
      Math.floor(setup.record.refresh_token_expires_at / 1000) - 7 * 86_400,
    );
  });
});
