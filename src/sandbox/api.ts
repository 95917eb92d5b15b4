/**
 * The few API endpoints that prove a token works: accounts and quotes, with each provider's
 * 401 answer for a missing, unknown or expired access token.
 *
 * @module
 */

import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SandboxContext } from './context.js';
import { methodNotAllowed, sendJson } from './http.js';
import type { IssuedAccessToken } from './state.js';

/** TD's 401 body for an expired or unknown access token. */
export const TD_API_UNAUTHORIZED_BODY = {
  error: 'The access token being passed has expired or is invalid.',
} as const;

/** TD's `WWW-Authenticate` for an expired access token. */
export const TD_EXPIRED_TOKEN_CHALLENGE =
  'Bearer realm="null",error="invalid_token",error_description="keymanagement.service.access_token_expired: Access Token expired"';

/** TD's `WWW-Authenticate` for a missing or unknown access token. */
export const TD_INVALID_TOKEN_CHALLENGE =
  'Bearer realm="null",error="invalid_token",error_description="keymanagement.service.invalid_access_token: Invalid Access Token"';

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match?.[1];
}

/** Handles GET accounts and GET quotes for either flavor. */
export function handleApi(
  ctx: SandboxContext,
  route: 'accounts' | 'quotes',
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  ctx.state.counters.api += 1;
  if (req.method !== 'GET') {
    methodNotAllowed(res, 'GET');
    return;
  }
  const token = bearerToken(req);
  ctx.stateFile?.pull(ctx.state);
  const entry = token === undefined ? undefined : ctx.state.accessTokens.get(token);
  const expired = entry !== undefined && ctx.clock.now() >= entry.expiresAt;
  if (entry === undefined || expired) {
    unauthorized(ctx, res, expired);
    return;
  }
  if (route === 'accounts') {
    sendJson(res, 200, accounts(ctx, entry));
    return;
  }
  const symbols = (url.searchParams.get(ctx.paths.quotesParam) ?? '')
    .split(',')
    .map((symbol) => symbol.trim().toUpperCase())
    .filter((symbol) => symbol !== '');
  if (symbols.length === 0) {
    badRequest(ctx, res, `${ctx.paths.quotesParam} is required`);
    return;
  }
  sendJson(res, 200, quotes(ctx, symbols));
}

function unauthorized(ctx: SandboxContext, res: ServerResponse, expired: boolean): void {
  if (ctx.flavor === 'tdameritrade') {
    sendJson(res, 401, TD_API_UNAUTHORIZED_BODY, {
      'WWW-Authenticate': expired ? TD_EXPIRED_TOKEN_CHALLENGE : TD_INVALID_TOKEN_CHALLENGE,
    });
    return;
  }
  sendJson(res, 401, {
    errors: [
      { id: randomUUID(), status: 401, title: 'Unauthorized', detail: 'Client not authorized' },
    ],
  });
}

function badRequest(ctx: SandboxContext, res: ServerResponse, detail: string): void {
  if (ctx.flavor === 'tdameritrade') {
    sendJson(res, 400, { error: detail });
    return;
  }
  sendJson(res, 400, {
    errors: [{ id: randomUUID(), status: 400, title: 'Bad Request', detail }],
  });
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A stable fake account number for a user: 9 digits (TD) or 8 digits (Schwab). */
export function accountNumber(username: string, digits: number): string {
  const value = digest(`account:${username}`).readUInt32BE(0) % 10 ** digits;
  const first = 1 + (value % 9);
  return `${first}${String(value).padStart(digits, '0').slice(1)}`;
}

function accounts(ctx: SandboxContext, entry: IssuedAccessToken): unknown {
  if (ctx.flavor === 'schwab') {
    const accountNumberValue = accountNumber(entry.username, 8);
    return [
      {
        accountNumber: accountNumberValue,
        hashValue: digest(`hash:${accountNumberValue}`).toString('hex').toUpperCase(),
      },
    ];
  }
  const balance = 25_000 + (digest(`balance:${entry.username}`).readUInt16BE(0) % 75_000);
  return [
    {
      securitiesAccount: {
        type: 'MARGIN',
        accountId: accountNumber(entry.username, 9),
        roundTrips: 0,
        isDayTrader: false,
        isClosingOnlyRestricted: false,
        currentBalances: {
          cashBalance: balance,
          liquidationValue: balance,
          buyingPower: balance * 2,
          availableFunds: balance,
          equity: balance,
        },
      },
    },
  ];
}

function price(symbol: string, now: number): { last: number; close: number } {
  const hash = digest(`price:${symbol}`);
  const close = 10 + (hash.readUInt32BE(0) % 49_000) / 100;
  const minute = Math.floor(now / 60_000);
  const wiggle = (digest(`tick:${symbol}:${minute}`).readUInt16BE(0) % 200) / 10_000 - 0.01;
  const last = Math.round(close * (1 + wiggle) * 100) / 100;
  return { last, close: Math.round(close * 100) / 100 };
}

function quotes(ctx: SandboxContext, symbols: string[]): Record<string, unknown> {
  const now = ctx.clock.now();
  const result: Record<string, unknown> = {};
  for (const symbol of symbols) {
    const { last, close } = price(symbol, now);
    const bid = Math.round((last - 0.01) * 100) / 100;
    const ask = Math.round((last + 0.01) * 100) / 100;
    const netChange = Math.round((last - close) * 100) / 100;
    if (ctx.flavor === 'tdameritrade') {
      result[symbol] = {
        assetType: 'EQUITY',
        assetMainType: 'EQUITY',
        symbol,
        description: `${symbol} Common Stock (sandbox)`,
        bidPrice: bid,
        bidSize: 100,
        askPrice: ask,
        askSize: 100,
        lastPrice: last,
        lastSize: 100,
        closePrice: close,
        netChange,
        totalVolume: 1_000_000,
        quoteTimeInLong: now,
        tradeTimeInLong: now,
        mark: last,
        exchange: 'q',
        exchangeName: 'NASD',
        delayed: false,
        realtimeEntitled: true,
      };
    } else {
      result[symbol] = {
        assetMainType: 'EQUITY',
        symbol,
        quoteType: 'NBBO',
        realtime: true,
        ssid: digest(`ssid:${symbol}`).readUInt32BE(0),
        reference: {
          description: `${symbol} Common Stock (sandbox)`,
          exchange: 'Q',
          exchangeName: 'NASDAQ',
        },
        quote: {
          askPrice: ask,
          askSize: 100,
          bidPrice: bid,
          bidSize: 100,
          closePrice: close,
          lastPrice: last,
          lastSize: 100,
          mark: last,
          netChange,
          netPercentChange: Math.round((netChange / close) * 10_000) / 100,
          quoteTime: now,
          totalVolume: 1_000_000,
          tradeTime: now,
        },
      };
    }
  }
  return result;
}
