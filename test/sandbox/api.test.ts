import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { loginTokens } from './support.js';

const frozen = () => 1_750_000_000_000;
const TD_BODY = { error: 'The access token being passed has expired or is invalid.' };
const TD_EXPIRED =
  'Bearer realm="null",error="invalid_token",error_description="keymanagement.service.access_token_expired: Access Token expired"';

function call(url: string, token?: string): Promise<Response> {
  return fetch(url, token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } });
}

describe('TD Ameritrade API', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ flavor: 'tdameritrade', now: frozen });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('returns accounts for a valid token', async () => {
    const accessToken = String((await loginTokens(sandbox)).access_token);
    const response = await call(`${sandbox.apiUrl}/v1/accounts`, accessToken);
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      securitiesAccount: { accountId: string; type: string };
    }[];
    expect(body).toHaveLength(1);
    expect(body[0]?.securitiesAccount.accountId).toMatch(/^[1-9]\d{8}$/);
    expect(body[0]?.securitiesAccount.type).toBe('MARGIN');
  });

  it('returns a quote per requested symbol', async () => {
    const accessToken = String((await loginTokens(sandbox)).access_token);
    const response = await call(
      `${sandbox.apiUrl}/v1/marketdata/quotes?symbol=AAPL,msft`,
      accessToken,
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<
      string,
      { symbol: string; lastPrice: number; bidPrice: number; askPrice: number }
    >;
    expect(Object.keys(body)).toEqual(['AAPL', 'MSFT']);
    for (const [symbol, quote] of Object.entries(body)) {
      expect(quote.symbol).toBe(symbol);
      expect(quote.lastPrice).toBeGreaterThan(0);
      expect(quote.bidPrice).toBeLessThan(quote.askPrice);
    }
    const missing = await call(`${sandbox.apiUrl}/v1/marketdata/quotes`, accessToken);
    expect(missing.status).toBe(400);
  });

  it('answers a missing or unknown token with 401, WWW-Authenticate and the TD body', async () => {
    for (const token of [undefined, 'not-a-token']) {
      const response = await call(`${sandbox.apiUrl}/v1/accounts`, token);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(
        /^Bearer realm="null",error="invalid_token"/,
      );
      expect(await response.json()).toEqual(TD_BODY);
    }
  });

  it('answers an expired token (30 minutes of sandbox time) with the expired challenge', async () => {
    const fresh = String((await loginTokens(sandbox)).access_token);
    sandbox.clock.advance(1800 * 1000 - 1);
    expect((await call(`${sandbox.apiUrl}/v1/accounts`, fresh)).status).toBe(200);
    sandbox.clock.advance(1);
    const response = await call(`${sandbox.apiUrl}/v1/accounts`, fresh);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(TD_EXPIRED);
    expect(await response.json()).toEqual(TD_BODY);
  });

  it('counts API calls and answers unknown paths with 404', async () => {
    sandbox.resetCounters();
    await call(`${sandbox.apiUrl}/v1/accounts`);
    await call(`${sandbox.apiUrl}/v1/marketdata/quotes?symbol=X`);
    expect(sandbox.counters().api).toBe(2);
    expect((await call(`${sandbox.apiUrl}/v1/nothing`)).status).toBe(404);
    expect(sandbox.counters().api).toBe(2);
  });
});

describe('Schwab API', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox({ flavor: 'schwab', now: frozen });
  });
  afterAll(async () => {
    await sandbox.close();
  });

  it('returns account numbers with hash values', async () => {
    const accessToken = String((await loginTokens(sandbox)).access_token);
    const response = await call(`${sandbox.apiUrl}/trader/v1/accounts/accountNumbers`, accessToken);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { accountNumber: string; hashValue: string }[];
    expect(body[0]?.accountNumber).toMatch(/^[1-9]\d{7}$/);
    expect(body[0]?.hashValue).toMatch(/^[0-9A-F]{64}$/);
  });

  it('returns quotes for the symbols parameter', async () => {
    const accessToken = String((await loginTokens(sandbox)).access_token);
    const response = await call(
      `${sandbox.apiUrl}/marketdata/v1/quotes?symbols=SPY,QQQ,IBM`,
      accessToken,
    );
    const body = (await response.json()) as Record<
      string,
      { symbol: string; quote: { lastPrice: number } }
    >;
    expect(Object.keys(body)).toEqual(['SPY', 'QQQ', 'IBM']);
    expect(body.SPY?.quote.lastPrice).toBeGreaterThan(0);
    // TD's parameter name does not work here.
    const wrong = await call(`${sandbox.apiUrl}/marketdata/v1/quotes?symbol=SPY`, accessToken);
    expect(wrong.status).toBe(400);
    const error = (await wrong.json()) as { errors: { status: number }[] };
    expect(error.errors[0]?.status).toBe(400);
  });

  it('answers missing, unknown and expired tokens with the errors[] body', async () => {
    const expiring = String((await loginTokens(sandbox)).access_token);
    sandbox.clock.advance(1800 * 1000);
    for (const token of [undefined, 'nope', expiring]) {
      const response = await call(`${sandbox.apiUrl}/trader/v1/accounts/accountNumbers`, token);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBeNull();
      const body = (await response.json()) as { errors: Record<string, unknown>[] };
      expect(body.errors).toHaveLength(1);
      const [error] = body.errors;
      expect(error?.id).toMatch(/^[0-9a-f-]{36}$/);
      expect({ ...error, id: 'x' }).toEqual({
        id: 'x',
        status: 401,
        title: 'Unauthorized',
        detail: 'Client not authorized',
      });
    }
  });
});
