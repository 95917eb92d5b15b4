/**
 * Real token agents for the tests: a sandbox in the test process, a temporary home with a token
 * file from a real sandbox login, `node dist/cli/main.js serve` as a child, and HTTP clients over
 * its Unix socket and loopback listener.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import type { Sandbox } from '../../src/sandbox/index.js';
import type { TokenRecord } from '../../src/token.js';
import {
  type Flavor,
  type Home,
  makeHome,
  type RunningCli,
  sandboxFlags,
  sandboxLogin,
  startCli,
  writeTokenFile,
} from '../cli/harness.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request to the agent over `socketPath` (or a TCP `host:port` given as `tcp`). */
export function ask(
  where: { socketPath: string } | { host: string; port: number },
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { ...where, path, method, headers: { Host: 'agent', ...headers }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export interface AgentSetup {
  home: Home;
  tokenFile: string;
  socketPath: string;
  record: TokenRecord;
  flags: string[];
}

/** A home with a fresh sandbox login in a token file, and the flags that serve it. */
export async function setupHome(sandbox: Sandbox, flavor: Flavor = 'schwab'): Promise<AgentSetup> {
  const home = await makeHome();
  const tokenFile = join(home.root, 'tokens', 'token.json');
  const record = await sandboxLogin(sandbox, flavor);
  await writeTokenFile(tokenFile, record);
  return {
    home,
    tokenFile,
    socketPath: join(home.root, 'agent', 'agent.sock'),
    record,
    flags: [...sandboxFlags(sandbox, flavor), '--token-file', tokenFile],
  };
}

/** A running agent and the socket it announced. */
export interface RunningAgentChild extends RunningCli {
  socketPath: string;
  /** `host:port` when it listens on loopback HTTP. */
  address: string | undefined;
}

/** Start `td-token serve` and wait for its `agent_listening` line. */
export async function startAgentChild(
  setup: AgentSetup,
  extra: string[] = [],
  options: { env?: Record<string, string | undefined>; socketPath?: string } = {},
): Promise<RunningAgentChild> {
  const socketPath = options.socketPath ?? setup.socketPath;
  const cli = startCli(['serve', '--socket', socketPath, ...setup.flags, ...extra], setup.home, {
    env: options.env ?? {},
  });
  const line = await cli.waitFor('stdout', /\{[^\n]*"event":"agent_listening"[^\n]*\}\n/, 20_000);
  const parsed = JSON.parse(line[0]) as { socket: string; address?: string };
  return {
    ...cli,
    socketPath: parsed.socket,
    address: parsed.address?.replace(/^http:\/\//, ''),
  };
}

/** SIGTERM the agent and wait for it to exit. */
export async function stopAgent(agent: RunningCli): Promise<number | null> {
  agent.child.kill('SIGTERM');
  const result = await agent.exited;
  return result.code;
}
