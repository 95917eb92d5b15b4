import { afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { basic, postToken, TD_KEY } from './support.js';

const frozen = () => 1_750_000_000_000;

function tdRefresh(sandbox: Sandbox, clientId = TD_KEY): Promise<Response> {
  return postToken(sandbox, {
    grant_type: 'refresh_token',
    refresh_token: 'unknown',
    client_id: clientId,
  });
}

describe('token endpoint rate limit', () => {
  let sandbox: Sandbox | undefined;
  afterEach(async () => {
    await sandbox?.close();
  });

  it('allows 120 requests per app per rolling minute, then answers 429 with Retry-After', async () => {
    sandbox = await startSandbox({
      flavor: 'tdameritrade',
      now: frozen,
      apps: [
        { clientId: TD_KEY, redirectUris: ['https://localhost:8000'] },
        { clientId: 'SECOND', redirectUris: ['https://localhost:8000'] },
      ],
    });
    for (let i = 0; i < 100; i += 1) expect((await tdRefresh(sandbox)).status).toBe(400);
    sandbox.clock.advance(30_000);
    for (let i = 0; i < 20; i += 1) expect((await tdRefresh(sandbox)).status).toBe(400);
    const limited = await tdRefresh(sandbox);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('30');
    expect(await limited.json()).toMatchObject({ error: 'rate_limit_exceeded' });
    // The suffix does not make it another app; another app has its own budget.
    expect((await tdRefresh(sandbox, `${TD_KEY}@AMER.OAUTHAP`)).status).toBe(429);
    expect((await tdRefresh(sandbox, 'SECOND')).status).toBe(400);
    // The first 100 leave the window after a minute.
    sandbox.clock.advance(30_000);
    expect((await tdRefresh(sandbox)).status).toBe(400);
    const counters = sandbox.counters().token;
    expect(counters.total).toBe(124);
    expect(counters.refresh_token).toBe(124);
    expect(counters.failed).toBe(124);
  });

  it('applies to Schwab apps keyed by their Basic credentials, and can be turned off', async () => {
    sandbox = await startSandbox({
      flavor: 'schwab',
      now: frozen,
      settings: { rateLimitPerMinute: 3 },
    });
    const call = () =>
      postToken(
        sandbox as Sandbox,
        { grant_type: 'refresh_token', refresh_token: 'x' },
        { Authorization: basic() },
      );
    for (let i = 0; i < 3; i += 1) expect((await call()).status).toBe(400);
    const limited = await call();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    await sandbox.close();
    sandbox = await startSandbox({
      flavor: 'schwab',
      now: frozen,
      settings: { rateLimitPerMinute: 0 },
    });
    for (let i = 0; i < 150; i += 1) expect((await call()).status).toBe(400);
  });
});
