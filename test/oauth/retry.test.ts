import { describe, expect, it } from 'vitest';
import { LoginRequiredError, ProviderError } from '../../src/errors.js';
import { backoffDelay, withRetry } from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import { answer } from '../providers/canned.js';

function unavailable(): ProviderError {
  return new ProviderError('provider_unavailable', 'down. try again');
}

function recorder() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

describe('withRetry', () => {
  it('retries transient errors with exponential backoff and succeeds after', async () => {
    const { waits, sleep } = recorder();
    const attempts: number[] = [];
    const result = await withRetry(
      async (attempt) => {
        attempts.push(attempt);
        if (attempt < 3) throw unavailable();
        return 'ok';
      },
      { sleep, random: () => 1, baseDelayMs: 100 },
    );
    expect(result).toBe('ok');
    expect(attempts).toEqual([1, 2, 3]);
    expect(waits).toEqual([100, 200]);
  });

  it('stops after `retries` retries and throws the last error', async () => {
    const { waits, sleep } = recorder();
    let calls = 0;
    const last = unavailable();
    await expect(
      withRetry(
        async () => {
          calls++;
          throw calls === 3 ? last : unavailable();
        },
        { retries: 2, sleep, random: () => 0, baseDelayMs: 100 },
      ),
    ).rejects.toBe(last);
    expect(calls).toBe(3);
    expect(waits).toEqual([50, 100]);
  });

  it('default: 3 retries, 4 tries', async () => {
    const { waits, sleep } = recorder();
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw unavailable();
        },
        { sleep },
      ),
    ).rejects.toThrow('down');
    expect(calls).toBe(4);
    expect(waits).toHaveLength(3);
    // equal jitter: between half and all of 500, 1000, 2000
    for (const [i, w] of waits.entries()) {
      expect(w).toBeGreaterThanOrEqual(250 * 2 ** i);
      expect(w).toBeLessThanOrEqual(500 * 2 ** i);
    }
  });

  it('honours Retry-After up to maxDelayMs', async () => {
    const { waits, sleep } = recorder();
    let calls = 0;
    await withRetry(
      async () => {
        calls++;
        if (calls === 1)
          throw new ProviderError('rate_limited', 'slow down', { retryAfterMs: 7000 });
        if (calls === 2)
          throw new ProviderError('rate_limited', 'slow down', { retryAfterMs: 30_000 });
        return 'ok';
      },
      { sleep, maxDelayMs: 30_000 },
    );
    expect(waits).toEqual([7000, 30_000]);
  });

  it('a Retry-After longer than maxDelayMs: the rate_limited error at once, naming the wait', async () => {
    const { waits, sleep } = recorder();
    const provider = createProvider('schwab', {
      clientId: 'APPKEY',
      clientSecret: 'SECRET',
      redirectUri: '',
    });
    const limited = provider.tokenError(
      answer(429, { error: 'rate_limit_exceeded' }, { 'retry-after': '90' }),
      'refresh_token',
    );
    const retried: number[] = [];
    let calls = 0;
    const run = withRetry(
      async () => {
        calls++;
        throw limited;
      },
      { sleep, onRetry: (info) => void retried.push(info.attempt) },
    );
    await expect(run).rejects.toBe(limited);
    expect(limited.code).toBe('rate_limited');
    expect(limited.retryAfterMs).toBe(90_000);
    expect(limited.message).toContain('wait 90 s and try again');
    expect(calls).toBe(1);
    expect(waits).toEqual([]);
    expect(retried).toEqual([]);

    // a cap raised above the wait: waited in full, then retried
    calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          if (calls === 1) throw limited;
          return 'ok';
        },
        { sleep, maxDelayMs: 120_000 },
      ),
    ).resolves.toBe('ok');
    expect(waits).toEqual([90_000]);
  });

  it('a Retry-After 1 ms over the cap is not retried', async () => {
    const { waits, sleep } = recorder();
    const over = new ProviderError('rate_limited', 'wait 2 s', { retryAfterMs: 2001 });
    await expect(
      withRetry(
        async () => {
          throw over;
        },
        { sleep, maxDelayMs: 2000 },
      ),
    ).rejects.toBe(over);
    expect(waits).toEqual([]);
  });

  it('never retries errors that are not transient', async () => {
    const { waits, sleep } = recorder();
    for (const error of [
      new LoginRequiredError('log in'),
      new ProviderError('invalid_client', 'bad client'),
      new ProviderError('invalid_response', 'odd'),
      new TypeError('bug'),
    ]) {
      let calls = 0;
      await expect(
        withRetry(
          async () => {
            calls++;
            throw error;
          },
          { sleep },
        ),
      ).rejects.toBe(error);
      expect(calls).toBe(1);
    }
    expect(waits).toEqual([]);
  });

  it('retries: 0 means one try', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw unavailable();
        },
        { retries: 0 },
      ),
    ).rejects.toThrow('down');
    expect(calls).toBe(1);
  });

  it('an aborted signal stops retrying', async () => {
    const controller = new AbortController();
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw unavailable();
        },
        { signal: controller.signal, sleep: async () => controller.abort(new Error('stop')) },
      ),
    ).rejects.toThrow('stop');
    expect(calls).toBe(1);
  });

  it('the default sleep waits on a real timer and can be aborted', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const run = withRetry(
      async () => {
        throw unavailable();
      },
      { signal: controller.signal, baseDelayMs: 60_000, maxDelayMs: 60_000 },
    );
    controller.abort(new Error('cancelled'));
    await expect(run).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('names bad options', async () => {
    await expect(withRetry(async () => 1, { retries: -1 })).rejects.toThrow(
      new TypeError('"retries" must be a non-negative number'),
    );
    await expect(withRetry(undefined as never)).rejects.toThrow(
      new TypeError('"fn" must be a function'),
    );
  });
});

describe('backoffDelay', () => {
  it('doubles, jitters, and caps', () => {
    const o = { baseDelayMs: 500, maxDelayMs: 3000, random: () => 0.5 };
    expect([1, 2, 3, 4, 5].map((r) => backoffDelay(r, unavailable(), o))).toEqual([
      375, 750, 1500, 2250, 2250,
    ]);
  });
});
