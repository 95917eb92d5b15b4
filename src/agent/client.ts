/**
 * Asking a running agent over its Unix socket, for `td-token token`'s fast path: a cheap connect
 * (nobody there: `undefined` at once), then `/v1/status` to check that the agent serves the same
 * profile from the same store, then the token. Anything unexpected is `undefined`, and the
 * command takes its own path.
 *
 * @module
 */
import { Agent, request } from 'node:http';

/** What the fast path needs from the agent. */
export interface AgentToken {
  accessToken: string;
  /** When the refresh token expires, ms epoch (for the "log in soon" warning). */
  refreshTokenExpiresAt: number;
}

function get(
  agent: Agent,
  socketPath: string,
  path: string,
  accept: string,
  timeoutMs: number,
): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request(
      { socketPath, path, agent, headers: { Host: 'agent', Accept: accept }, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/**
 * The token from the agent on `socketPath` when it serves `profile` from the store described as
 * `store` (the `describeStore` text); otherwise `undefined`.
 */
export async function tokenFromAgent(
  socketPath: string,
  profile: string,
  store: string,
  timeoutMs = 30_000,
): Promise<AgentToken | undefined> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const query = `?profile=${encodeURIComponent(profile)}`;
    const status = await get(agent, socketPath, `/v1/status${query}`, 'application/json', 2_000);
    if (status?.status !== 200) return undefined;
    const info = JSON.parse(status.body) as Record<string, unknown>;
    if (info['profile'] !== profile || info['store'] !== store) return undefined;
    const token = await get(agent, socketPath, `/v1/token${query}`, 'application/json', timeoutMs);
    if (token?.status !== 200) return undefined;
    const body = JSON.parse(token.body) as Record<string, unknown>;
    const accessToken = body['access_token'];
    if (typeof accessToken !== 'string' || accessToken === '') return undefined;
    const rtExpires = info['refresh_token_expires_at'];
    return {
      accessToken,
      refreshTokenExpiresAt: typeof rtExpires === 'number' ? rtExpires : Number.POSITIVE_INFINITY,
    };
  } catch {
    return undefined;
  } finally {
    agent.destroy();
  }
}
