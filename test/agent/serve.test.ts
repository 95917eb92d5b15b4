/**
 * `td-token serve` as a real process against the sandbox: the socket's place and modes, each
 * route's answer, loopback HTTP behind the secret and the Host check, a stale socket replaced, a
 * live one refused with exit 2, and a clean stop on SIGTERM.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { assertBuilt, runCli } from '../cli/harness.js';
import { type AgentSetup, ask, setupHome, startAgentChild, stopAgent } from './harness.js';

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

describe('td-token serve over the Unix socket', () => {
  it('answers tokens, status, health and metrics; 0600 socket in a 0700 folder; clean stop', async () => {
    const agent = await startAgentChild(setup);
    try {
      const sock = { socketPath: agent.socketPath };
      expect((await stat(agent.socketPath)).mode & 0o777).toBe(0o600);
      expect((await stat(join(agent.socketPath, '..'))).mode & 0o777).toBe(0o700);

      const json = await ask(sock, '/v1/token');
      expect(json.status).toBe(200);
      const body = JSON.parse(json.body) as Record<string, unknown>;
      expect(body).toMatchObject({
        access_token: setup.record.access_token,
        token_type: 'Bearer',
        expires_at: setup.record.expires_at,
        profile: 'default',
      });
      expect(body['expires_in']).toBeGreaterThan(300);

      const text = await ask(sock, '/v1/token', { Accept: 'text/plain' });
      expect(text.body).toBe(`${setup.record.access_token}\n`);
      expect(text.headers['content-type']).toMatch(/^text\/plain/);

      const status = await ask(sock, '/v1/status');
      expect(status.status).toBe(200);
      expect(JSON.parse(status.body)).toMatchObject({
        profile: 'default',
        store_kind: 'file',
        store: `file ${setup.tokenFile}`,
        refresh_token_expires_at: setup.record.refresh_token_expires_at,
      });
      expect(status.body).not.toContain(setup.record.access_token);
      expect(status.body).not.toContain(setup.record.refresh_token);

      expect(await ask(sock, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
      const metrics = await ask(sock, '/metrics');
      expect(metrics.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(metrics.body).toMatch(/^td_token_requests_total\{profile="default"\} 2$/m);
      expect(metrics.body).toMatch(
        /^td_token_refresh_token_expiry_seconds\{profile="default"\} \d/m,
      );
      expect(metrics.body).toMatch(/^td_token_login_required\{profile="default"\} 0$/m);

      const unknownProfile = await ask(sock, '/v1/token?profile=nope');
      expect(unknownProfile.status).toBe(404);
      expect(JSON.parse(unknownProfile.body)).toMatchObject({ error: 'unknown_profile' });
      const unknownPath = await ask(sock, '/v1/tokens');
      expect(unknownPath.status).toBe(404);
      expect(JSON.parse(unknownPath.body)).toHaveProperty('fix');
      const post = await ask(sock, '/v1/token', {}, 'POST');
      expect(post.status).toBe(405);
      expect(post.headers['allow']).toBe('GET');
      for (const a of [unknownProfile, unknownPath, post]) {
        expect(a.body).not.toContain(setup.record.access_token);
      }
    } finally {
      const code = await stopAgent(agent);
      expect(code).toBe(0);
    }
    expect(existsSync(agent.socketPath)).toBe(false);
    expect(agent.stdout()).toMatch(/"event":"agent_stopped"/);
    expect(agent.stdout()).not.toContain(setup.record.access_token);
    expect(agent.stdout()).not.toContain(setup.record.refresh_token);
  });

  it('replaces a stale socket and refuses a live one with exit 2', async () => {
    const path = join(setup.home.root, 'stale', 'agent.sock');
    await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
    // A socket file nobody answers on: an agent killed with SIGKILL leaves its socket behind.
    const child = await startAgentChild(setup, [], { socketPath: path });
    child.child.kill('SIGKILL');
    await child.exited;
    expect(existsSync(path)).toBe(true);

    const agent = await startAgentChild(setup, [], { socketPath: path });
    try {
      expect((await ask({ socketPath: path }, '/healthz')).status).toBe(200);
      const second = await runCli(['serve', '--socket', path, ...setup.flags], setup.home);
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(/already answers on .*agent\.sock.*Stop it first/);
      expect((await ask({ socketPath: path }, '/healthz')).status).toBe(200);
    } finally {
      expect(await stopAgent(agent)).toBe(0);
    }
  });
});

describe('td-token serve on loopback HTTP', () => {
  it('needs the bearer secret and its own Host; makes a 0600 secret file', async () => {
    const secretFile = join(setup.home.root, 'run', 'agent.secret');
    const agent = await startAgentChild(setup, [
      '--listen',
      '127.0.0.1:0',
      '--secret-file',
      secretFile,
    ]);
    try {
      expect(agent.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const [host, port] = (agent.address as string).split(':') as [string, string];
      const where = { host, port: Number(port) };
      expect((await stat(secretFile)).mode & 0o777).toBe(0o600);
      const secret = (await readFile(secretFile, 'utf8')).trim();
      expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const right = { Host: agent.address as string, Authorization: `Bearer ${secret}` };

      const ok = await ask(where, '/v1/token', right);
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body)).toMatchObject({ access_token: setup.record.access_token });

      const none = await ask(where, '/v1/token', { Host: right.Host });
      expect(none.status).toBe(401);
      expect(JSON.parse(none.body)).toMatchObject({ error: 'unauthorized' });
      const wrong = await ask(where, '/v1/token', {
        ...right,
        Authorization: `Bearer ${'A'.repeat(43)}`,
      });
      expect(wrong.status).toBe(401);
      const foreign = await ask(where, '/v1/token', { ...right, Host: `evil.example:${port}` });
      expect(foreign.status).toBe(403);
      expect(JSON.parse(foreign.body)).toMatchObject({ error: 'forbidden_host' });
      for (const a of [none, wrong, foreign]) {
        expect(a.body).not.toContain(setup.record.access_token);
        expect(a.body).not.toContain(secret);
      }
      expect(agent.stdout()).not.toContain(secret);
      expect(agent.stderr()).not.toContain(secret);
    } finally {
      expect(await stopAgent(agent)).toBe(0);
    }
  });

  it('refuses a non-loopback --listen address with exit 2', async () => {
    const result = await runCli(
      [
        'serve',
        '--socket',
        join(setup.home.root, 'x', 'a.sock'),
        '--listen',
        '0.0.0.0:0',
        ...setup.flags,
      ],
      setup.home,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not a loopback address/);
  });
});
