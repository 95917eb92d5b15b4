import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';
import { authorizeUrl } from './support.js';

describe('approveInSandbox', () => {
  let td: Sandbox;
  let schwab: Sandbox;
  beforeAll(async () => {
    td = await startSandbox({ flavor: 'tdameritrade' });
    schwab = await startSandbox({ flavor: 'schwab', https: true });
  });
  afterAll(async () => {
    await td.close();
    await schwab.close();
  });

  it('accepts a string or a URL and returns the callback Location', async () => {
    td.resetCounters();
    const fromString = await approveInSandbox(authorizeUrl(td).href);
    const fromUrl = await approveInSandbox(authorizeUrl(td));
    expect(fromString).toMatch(/^https:\/\/localhost:8000\/\?code=/);
    expect(fromUrl).toMatch(/^https:\/\/localhost:8000\/\?code=/);
    expect(td.counters().authorize).toBe(2);
  });

  it('throws quoting the error page on a mismatch', async () => {
    await expect(
      approveInSandbox(authorizeUrl(td, { client_id: 'SANDBOXCONSUMERKEY' })),
    ).rejects.toThrow(
      /^sandbox authorize answered 400: .*A third-party application may be attempting to make unauthorized access to your account\./,
    );
    await expect(
      approveInSandbox(authorizeUrl(schwab, { redirect_uri: 'https://localhost:8182' }), {
        ca: schwab.certificate ?? '',
      }),
    ).rejects.toThrow(/^sandbox authorize answered 403: Access Denied/);
  });

  it('returns an error redirect the authorize request answers with', async () => {
    const location = await approveInSandbox(
      authorizeUrl(td, { response_type: 'token', state: 'k' }),
    );
    expect(new URL(location).searchParams.get('error')).toBe('unsupported_response_type');
  });

  it('works over HTTPS with the sandbox certificate, and with a custom fetch', async () => {
    const location = await approveInSandbox(authorizeUrl(schwab), { ca: schwab.certificate ?? '' });
    expect(new URL(location).searchParams.get('session')).toMatch(/^[0-9a-f-]{36}$/);
    const seen: string[] = [];
    const recording: typeof fetch = (input, init) => {
      seen.push(String(input));
      return fetch(input, init);
    };
    await approveInSandbox(authorizeUrl(td), { fetch: recording, deny: true });
    expect(seen.map((url) => new URL(url).pathname)).toEqual([
      '/auth',
      '/auth/login',
      '/auth/consent',
    ]);
  });
});
