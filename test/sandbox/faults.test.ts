import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Sandbox, type SandboxFault, startSandbox } from '../../src/sandbox/index.js';
import {
  basic,
  json,
  loginCode,
  loginTokens,
  postToken,
  schwabCodeGrant,
  TD_KEY,
  tdCodeGrant,
} from './support.js';

function tdRefresh(sandbox: Sandbox, refreshToken: string): Promise<Response> {
  return postToken(sandbox, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: TD_KEY,
  });
}

describe('token endpoint faults', () => {
  let sandbox: Sandbox;
  beforeEach(async () => {
    sandbox = await startSandbox({ flavor: 'tdameritrade' });
  });
  afterEach(async () => {
    await sandbox.close();
  });

  it('answers the next N requests with the fault, then processes normally, and counts them', async () => {
    const refreshToken = String((await loginTokens(sandbox)).refresh_token);
    sandbox.resetCounters();
    sandbox.faults.inject({ kind: 'status', status: 503 }, 2);
    expect(sandbox.faults.pending()).toBe(2);
    const first = await tdRefresh(sandbox, refreshToken);
    expect(first.status).toBe(503);
    expect(first.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await first.text()).toBe('503 Service Unavailable\n');
    expect(sandbox.faults.pending()).toBe(1);
    expect((await tdRefresh(sandbox, refreshToken)).status).toBe(503);
    expect(sandbox.faults.pending()).toBe(0);
    expect((await tdRefresh(sandbox, refreshToken)).status).toBe(200);
    expect(sandbox.counters().token).toEqual({
      authorization_code: 0,
      refresh_token: 3,
      total: 3,
      ok: 1,
      failed: 2,
    });
  });

  it.each([
    [
      { kind: 'status', status: 500 } as SandboxFault,
      500,
      /^application\/json/,
      '{"error":"Internal Server Error"}',
    ],
    [{ kind: 'status', status: 502 } as SandboxFault, 502, /^text\/plain/, '502 Bad Gateway\n'],
    [
      { kind: 'status', status: 503, body: 'json' } as SandboxFault,
      503,
      /^application\/json/,
      '{"error":"Service Unavailable"}',
    ],
    [
      { kind: 'status', status: 500, body: 'text' } as SandboxFault,
      500,
      /^text\/plain/,
      '500 Internal Server Error\n',
    ],
  ])('status fault %o', async (fault, status, type, body) => {
    sandbox.faults.inject(fault);
    const response = await tdRefresh(sandbox, 'x');
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(type);
    expect(await response.text()).toBe(body);
  });

  it('html fault: an HTML page with 200 by default, or the given status', async () => {
    sandbox.faults.inject({ kind: 'html' });
    sandbox.faults.inject({ kind: 'html', status: 503 });
    const ok = await tdRefresh(sandbox, 'x');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await ok.text()).toMatch(/^<!doctype html>/);
    const unavailable = await tdRefresh(sandbox, 'x');
    expect(unavailable.status).toBe(503);
    expect(await unavailable.text()).toContain('temporarily unavailable');
  });

  it('malformed-json fault: 200 with a truncated JSON body', async () => {
    sandbox.faults.inject({ kind: 'malformed-json' });
    const response = await tdRefresh(sandbox, 'x');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await response.text();
    expect(text.startsWith('{"access_token":"')).toBe(true);
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
    expect(sandbox.counters().token.failed).toBe(1);
  });

  it('drop fault: the connection closes without an answer', async () => {
    sandbox.faults.inject({ kind: 'drop' });
    await expect(tdRefresh(sandbox, 'x')).rejects.toThrow(TypeError);
    expect(sandbox.counters().token).toMatchObject({ total: 1, failed: 1, refresh_token: 1 });
    expect((await tdRefresh(sandbox, 'x')).status).toBe(400);
  });

  it('rate-limit fault: 429 with the given Retry-After', async () => {
    sandbox.faults.inject({ kind: 'rate-limit', retryAfterSec: 7 });
    const response = await tdRefresh(sandbox, 'x');
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
    expect(await response.json()).toMatchObject({ error: 'rate_limit_exceeded' });
  });

  it('delay fault: waits, then processes the request normally', async () => {
    const refreshToken = String((await loginTokens(sandbox)).refresh_token);
    sandbox.faults.inject({ kind: 'delay', ms: 300 });
    const started = performance.now();
    const response = await tdRefresh(sandbox, refreshToken);
    const elapsed = performance.now() - started;
    expect(response.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(sandbox.counters().token.ok).toBe(2);
  });

  it('close() does not wait for a delayed request', async () => {
    sandbox.faults.inject({ kind: 'delay', ms: 60_000 });
    const pending = tdRefresh(sandbox, 'x');
    pending.catch(() => undefined);
    // Bounded wait until the server has taken the fault for this request.
    for (let i = 0; i < 400 && sandbox.faults.pending() > 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(sandbox.faults.pending()).toBe(0);
    const started = performance.now();
    await sandbox.close();
    expect(performance.now() - started).toBeLessThan(2000);
    await expect(pending).rejects.toThrow(TypeError);
  });

  it('faults do not spend the code: the same code works after the fault', async () => {
    const code = await loginCode(sandbox);
    for (const fault of [
      { kind: 'status', status: 500 },
      { kind: 'html' },
      { kind: 'malformed-json' },
      { kind: 'rate-limit', retryAfterSec: 1 },
    ] as SandboxFault[]) {
      sandbox.faults.inject(fault);
      expect((await tdCodeGrant(sandbox, code)).status).not.toBe(400);
    }
    sandbox.faults.inject({ kind: 'drop' });
    await expect(tdCodeGrant(sandbox, code)).rejects.toThrow();
    const response = await tdCodeGrant(sandbox, code);
    expect(response.status).toBe(200);
    expect(await json(response)).toHaveProperty('refresh_token');
  });

  it('clear() forgets pending faults; faults never touch the authorize or API endpoints', async () => {
    sandbox.faults.inject({ kind: 'status', status: 500 }, 5);
    sandbox.faults.clear();
    expect(sandbox.faults.pending()).toBe(0);
    sandbox.faults.inject({ kind: 'status', status: 500 }, 1);
    const code = await loginCode(sandbox);
    expect((await fetch(`${sandbox.url}/v1/accounts`)).status).toBe(401);
    expect(sandbox.faults.pending()).toBe(1);
    expect((await tdCodeGrant(sandbox, code)).status).toBe(500);
  });

  it('checks faults and counts', () => {
    expect(() =>
      sandbox.faults.inject({ kind: 'status', status: 404 } as unknown as SandboxFault),
    ).toThrow('"fault.status" must be 500, 502 or 503');
    expect(() => sandbox.faults.inject({ kind: 'nope' } as unknown as SandboxFault)).toThrow(
      TypeError,
    );
    expect(() => sandbox.faults.inject({ kind: 'delay', ms: -1 })).toThrow(
      '"fault.ms" must be a finite number >= 0',
    );
    expect(() => sandbox.faults.inject({ kind: 'rate-limit', retryAfterSec: 1.5 })).toThrow(
      TypeError,
    );
    expect(() => sandbox.faults.inject({ kind: 'drop' }, 0)).toThrow(
      '"count" must be an integer >= 1',
    );
    expect(sandbox.faults.pending()).toBe(0);
  });
});

describe('faults on the Schwab flavor', () => {
  it('html fault is the Access Denied page', async () => {
    const sandbox = await startSandbox({ flavor: 'schwab' });
    try {
      const code = await loginCode(sandbox);
      sandbox.faults.inject({ kind: 'html', status: 403 });
      const denied = await schwabCodeGrant(sandbox, code);
      expect(denied.status).toBe(403);
      expect(await denied.text()).toContain('<H1>Access Denied</H1>');
      const ok = await schwabCodeGrant(sandbox, code, {}, { Authorization: basic() });
      expect(ok.status).toBe(200);
    } finally {
      await sandbox.close();
    }
  });
});
