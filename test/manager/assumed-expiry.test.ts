/**
 * A refresh-token expiry td-token assumed (a generic server that did not say how long its
 * refresh tokens live, and no `refreshTokenLifetime` configured) is unknown: the manager warns of
 * nothing and refuses nothing on its account; the server decides.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RefreshTokenExpiringEvent } from '../../src/manager.js';
import { advanceTo, HOUR, MINUTE, type Setup, setup } from './setup.js';

let s: Setup | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe('an assumed refresh-token expiry', () => {
  it('raises no refresh-token-expiring warning, where a known one 10 h away does', async () => {
    s = await setup('schwab', { warnAtHours: [48, 24] });
    const { manager, sandbox, login } = s;
    const warnings: RefreshTokenExpiringEvent[] = [];
    manager.on('refresh-token-expiring', (e) => warnings.push(e));
    const soon = sandbox.clock.now() + 10 * HOUR;

    await manager.saveLogin({
      ...login,
      refresh_token_expires_at: soon,
      refresh_token_expiry_assumed: true,
    });
    await manager.refresh({ force: true });
    expect(warnings).toEqual([]);

    await manager.saveLogin({ ...login, refresh_token_expires_at: soon });
    await manager.refresh({ force: true });
    expect(warnings.length).toBe(1);
  });

  it('past its assumed date the refresh token is still offered to the server, which accepts it', async () => {
    s = await setup('schwab');
    const { manager, sandbox, login } = s;
    await manager.saveLogin({
      ...login,
      refresh_token_expires_at: sandbox.clock.now() + MINUTE,
      refresh_token_expiry_assumed: true,
    });
    advanceTo(sandbox, login.expires_at);
    const token = await manager.getAccessToken();
    expect(token).not.toBe(login.access_token);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    const stored = await manager.peek();
    expect(stored?.refresh_token_expiry_assumed).toBe(true);
  });
});
