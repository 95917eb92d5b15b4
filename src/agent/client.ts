/**
 * Asking a running agent over its Unix socket, for `td-token token`'s fast path: `/v1/status`,
 * then, only when it says the agent serves the same profile from the same store, `/v1/token`
 * (raw HTTP/1.1 on the socket: no HTTP module to load). Anything
 * unexpected is `undefined`, and the command takes its own path.
 *
 * @module
 */
import { connect } from 'node:net';

/** What the fast path needs from the agent. */
export interface AgentToken {
  accessToken: string;
  /** When the refresh token expires, ms epoch (for the "log in soon" warning). */
  refreshTokenExpiresAt: number;
}

interface RawAnswer {
  status: number;
  body: string;
}

/** Split `text` into whole HTTP/1.1 answers with a Content-Length; undefined while incomplete. */
function parseAnswers(text: string, count: number): RawAnswer[] | undefined {
  const answers: RawAnswer[] = [];
  let at = 0;
  while (answers.length < count) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) return undefined;
    const head = text.slice(at, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? Number.NaN);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? Number.NaN);
    if (!Number.isFinite(length) || !Number.isFinite(status)) throw new Error('unexpected answer');
    if (text.length < end + 4 + length) return undefined;
    answers.push({ status, body: text.slice(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return answers;
}

function exchange(
  socketPath: string,
  request: string,
  count: number,
  timeoutMs: number,
): Promise<RawAnswer[] | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ path: socketPath });
    let text = '';
    const done = (answers: RawAnswer[] | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answers);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
    socket.on('data', (chunk: string) => {
      text += chunk;
      try {
        const answers = parseAnswers(text, count);
        if (answers !== undefined) done(answers);
      } catch {
        done(undefined);
      }
    });
    socket.write(request);
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
  const query = `?profile=${encodeURIComponent(profile)}`;
  const head = 'Host: agent\r\nAccept: application/json\r\n\r\n';
  const status = (
    await exchange(socketPath, `GET /v1/status${query} HTTP/1.1\r\n${head}`, 1, 2_000)
  )?.[0];
  if (status?.status !== 200) return undefined;
  try {
    const info = JSON.parse(status.body) as Record<string, unknown>;
    if (info['profile'] !== profile || info['store'] !== store) return undefined;
    // Only now the token: an agent serving another store is never asked for one.
    const token = (
      await exchange(socketPath, `GET /v1/token${query} HTTP/1.1\r\n${head}`, 1, timeoutMs)
    )?.[0];
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
  }
}
