/** The one-time link book and the rate limiter, alone, on a test clock. */
import { describe, expect, it } from 'vitest';
import { createLinkBook, createRateLimiter } from '../../src/relogin/index.js';
import { MAX_LIVE_LINKS } from '../../src/relogin/links.js';

const authorize = (state: string) => new URL(`https://auth.example/authorize?state=${state}`);

describe('the link book', () => {
  it('finds a live link by its exact secret only', () => {
    const links = createLinkBook({ now: () => 1000 });
    const a = links.issue(authorize('s1'));
    const b = links.issue(authorize('s2'));
    expect(a.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.state).toBe('s1');
    expect(links.find(a.secret)).toBe(a);
    expect(links.find(b.secret)).toBe(b);
    for (const wrong of [
      '',
      null,
      undefined,
      a.secret.slice(1),
      `${a.secret}x`,
      a.secret.toUpperCase(),
    ]) {
      if (wrong === a.secret) continue;
      expect(links.find(wrong)).toBeUndefined();
    }
  });

  it('forgets a link when it is spent or its life is over', () => {
    let now = 0;
    const links = createLinkBook({ lifeMs: 600_000, now: () => now });
    const a = links.issue(authorize('s1'));
    const b = links.issue(authorize('s2'));
    links.spend(a);
    expect(links.find(a.secret)).toBeUndefined();
    now = 599_999;
    expect(links.find(b.secret)).toBe(b);
    now = 600_000;
    expect(links.find(b.secret)).toBeUndefined();
    expect(links.live()).toBe(0);
  });

  it(`keeps at most ${MAX_LIVE_LINKS} live links, forgetting the oldest`, () => {
    const links = createLinkBook({ now: () => 0 });
    const first = links.issue(authorize('first'));
    for (let i = 0; i < MAX_LIVE_LINKS; i++) links.issue(authorize(`s${i}`));
    expect(links.live()).toBe(MAX_LIVE_LINKS);
    expect(links.find(first.secret)).toBeUndefined();
  });

  it('needs the pending login’s state in its authorization URL', () => {
    const links = createLinkBook();
    expect(() => links.issue(new URL('https://auth.example/authorize'))).toThrow(TypeError);
    expect(() => createLinkBook({ lifeMs: 0 })).toThrow(TypeError);
  });
});

describe('the rate limiter', () => {
  it('counts every request per address and overall, in fixed windows', () => {
    let now = 0;
    const limiter = createRateLimiter({ perAddress: 3, overall: 5, windowMs: 60_000 }, () => now);
    const a = [1, 2, 3, 4].map(() => limiter.take('a').ok);
    expect(a).toEqual([true, true, true, false]);
    now = 15_000;
    const refused = limiter.take('a');
    expect(refused).toEqual({ ok: false, scope: 'address', retryAfterMs: 45_000, windowStart: 0 });
    // Refusals of one address do not use up the others' share.
    expect([1, 2, 3].map(() => limiter.take('b').ok)).toEqual([true, true, false]);
    expect(limiter.take('c')).toMatchObject({ ok: false, scope: 'overall' });
    now = 60_000;
    expect(limiter.take('a').ok).toBe(true);
    expect(limiter.take('c').ok).toBe(true);
  });

  it('takes only positive whole limits', () => {
    expect(() => createRateLimiter({ perAddress: 0 })).toThrow(TypeError);
    expect(() => createRateLimiter({ overall: 1.5 })).toThrow(TypeError);
    expect(() => createRateLimiter({ windowMs: -1 })).toThrow(TypeError);
  });
});
