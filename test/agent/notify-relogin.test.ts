/**
 * `td-token serve` with notifications and the phone re-login page: a refresh token inside the
 * announce window is announced once to a real webhook receiver, the announcement carries a
 * one-time link to the page the agent serves, that link opens the page, and a request without a
 * link's secret is refused.
 */
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { assertBuilt } from '../cli/harness.js';
import { type HttpReceiver, startHttpReceiver } from '../notify/receivers.js';
import { type AgentSetup, setupHome, startAgentChild, stopAgent } from './harness.js';

let sandbox: Sandbox;
let setup: AgentSetup;
let hook: HttpReceiver;

beforeAll(async () => {
  assertBuilt();
  sandbox = await startSandbox({ flavor: 'schwab' });
  setup = await setupHome(sandbox);
  hook = await startHttpReceiver();
});

afterAll(async () => {
  await hook?.close();
  await setup?.home.cleanup();
  await sandbox?.close();
});

/** GET `url` over TLS, trusting the page's own certificate (the test checks the fingerprint). */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('td-token serve --notify --relogin-listen', () => {
  it('announces the ending refresh token once, with a one-time link to the page it serves', async () => {
    const agent = await startAgentChild(setup, [
      '--notify',
      `${hook.origin}/hook`,
      // Schwab's refresh token has 7 days (168 h) left: a 200 h lead time is due at once.
      '--notify-before',
      '200h',
      '--relogin-listen',
      '127.0.0.1:0',
    ]);
    try {
      const page = await agent.waitFor(
        'stderr',
        /re-login page (https:\/\/127\.0\.0\.1:\d+)/,
        20_000,
      );
      const deadline = Date.now() + 20_000;
      while (hook.received.length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(hook.received).toHaveLength(1);
      const sent = JSON.parse((hook.received[0] as { body: string }).body) as Record<
        string,
        unknown
      >;
      expect(sent).toMatchObject({ event: 'refresh_token_expiring', profile: 'default' });
      expect(sent['relogin_url']).toMatch(new RegExp(`^${page[1]}/\\?secret=[A-Za-z0-9_-]{43}$`));
      expect(JSON.stringify(sent)).not.toContain(setup.record.refresh_token);

      const opened = await get(sent['relogin_url'] as string);
      expect(opened.status).toBe(200);
      expect(opened.body).toContain('Paste the address');
      expect(opened.body).not.toContain(setup.record.access_token);
      expect((await get(`${page[1]}/`)).status).toBe(404);

      // Once per event: a later tick sends nothing more.
      await new Promise((r) => setTimeout(r, 1500));
      expect(hook.received).toHaveLength(1);
    } finally {
      expect(await stopAgent(agent)).toBe(0);
    }
    expect(agent.stdout()).not.toContain('secret=');
  });
});
