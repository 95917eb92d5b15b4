/**
 * Nothing td-token reads from a provider is unbounded: a token answer, an error page or an API
 * error larger than 1 MiB is `provider_unavailable` naming the size, read no further (an endless
 * chunked body ends at the cap), and the store keeps what it held.
 *
 * The sandbox has no fault that sends an oversized or endless body, so these tests run a small
 * real HTTP server on 127.0.0.1 that does.
 */

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isTdTokenError } from '../../src/errors.js';
import { TokenManager } from '../../src/manager.js';
import { MAX_BODY_BYTES } from '../../src/oauth/http.js';
import { refreshAccessToken } from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import type { Provider } from '../../src/providers/types.js';
import { FileStore } from '../../src/stores/index.js';
import type { TokenRecord } from '../../src/token.js';

type Handler = (res: ServerResponse) => void;

let server: Server;
let base = '';
let handler: Handler = (res) => res.end();
/** Bytes the server managed to write for the last request before the client hung up. */
let written = 0;
let closed: Promise<void> = Promise.resolve();

/** Write 64 KiB chunks for as long as the client reads them (an endless chunked body). */
function endless(res: ServerResponse, status: number, type: string, head = ''): void {
  res.writeHead(status, { 'content-type': type });
  const chunk = Buffer.alloc(64 * 1024, 'a');
  res.write(head);
  written += head.length;
  const pump = () => {
    while (!res.destroyed && res.write(chunk)) written += chunk.length;
    if (!res.destroyed) written += chunk.length;
  };
  res.on('drain', pump);
  pump();
}

beforeAll(async () => {
  server = createServer((req, res) => {
    written = 0;
    closed = new Promise((resolve) => res.on('close', () => resolve()));
    req.resume();
    req.on('end', () => handler(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  handler = (res) => res.end();
});

function provider(): Provider {
  return createProvider('generic', {
    clientId: 'client',
    redirectUri: 'http://127.0.0.1:8765/callback',
    authorizeUrl: `${base}/authorize`,
    tokenUrl: `${base}/token`,
    apiUrl: base,
  });
}

const NOW = Date.now();
const RECORD: TokenRecord = {
  access_token: 'cap-test-access',
  expires_at: NOW - 1000,
  refresh_token: 'cap-test-refresh',
  refresh_token_expires_at: NOW + 86_400_000,
  scope: '',
  token_type: 'Bearer',
};

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as Error & { code?: string },
  );
}

describe('a token answer past 1 MiB', () => {
  it('an endless chunked 200: provider_unavailable naming the cap, read no further than about the cap', async () => {
    handler = (res) => endless(res, 200, 'application/json', '{"access_token":"');
    const started = performance.now();
    const error = await failure(refreshAccessToken(provider(), RECORD, { retry: false }));
    expect(isTdTokenError(error, 'provider_unavailable')).toBe(true);
    expect(error.message).toMatch(
      /the token endpoint 127\.0\.0\.1:\d+ answered HTTP 200 with a body of more than 1 MB \(td-token stopped reading there\); .*try again in a few minutes/,
    );
    await closed;
    // The client hung up at the cap: the server got no further than the cap plus what the
    // socket buffers held.
    expect(written).toBeLessThan(MAX_BODY_BYTES + 8 * 1024 * 1024);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('a 10 MB access_token in a valid JSON answer: refused at the cap, never stored; the token file as it was', async () => {
    const big = JSON.stringify({
      access_token: 'A'.repeat(10 * 1024 * 1024),
      refresh_token: 'r',
      expires_in: 1800,
    });
    handler = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(big);
    };
    const root = await mkdtemp(join(tmpdir(), 'td-token-cap-'));
    try {
      const path = join(root, 'token.json');
      const m = new TokenManager(provider(), new FileStore(path), { retry: false });
      await m.saveLogin(RECORD);
      const before = await readFile(path);
      const error = await failure(m.getAccessToken());
      expect(isTdTokenError(error, 'provider_unavailable')).toBe(true);
      expect(error.message).toMatch(
        /answered HTTP 200 with a body of (more than 1 MB|\d+ bytes \(Content-Length\))/,
      );
      expect((await readFile(path)).equals(before)).toBe(true);
      await m.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('a Content-Length above the cap is refused before reading', async () => {
    handler = (res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(5_000_000),
      });
      res.write('{');
      // Never finishes: only the refusal ends the request.
    };
    const error = await failure(refreshAccessToken(provider(), RECORD, { retry: false }));
    expect(isTdTokenError(error, 'provider_unavailable')).toBe(true);
    expect(error.message).toContain(
      'a body of 5000000 bytes (Content-Length), more than the 1 MB td-token reads',
    );
  });

  it('an endless HTML error page (503): provider_unavailable naming the size, retried like any outage', async () => {
    let requests = 0;
    handler = (res) => {
      requests += 1;
      endless(res, 503, 'text/html', '<html>');
    };
    const error = await failure(
      refreshAccessToken(provider(), RECORD, { retry: { retries: 1, baseDelayMs: 1 } }),
    );
    expect(isTdTokenError(error, 'provider_unavailable')).toBe(true);
    expect(error.message).toMatch(/answered HTTP 503 with a body of more than 1 MB/);
    expect(requests).toBe(2);
  });

  it('a body just under the cap is read', async () => {
    const body = JSON.stringify({
      access_token: 'a',
      refresh_token: 'r',
      expires_in: 1800,
      padding: 'p'.repeat(MAX_BODY_BYTES - 100),
    });
    expect(body.length).toBeLessThanOrEqual(MAX_BODY_BYTES);
    handler = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    };
    const record = await refreshAccessToken(provider(), RECORD, { retry: false });
    expect(record.access_token).toBe('a');
  });
});

describe('an API error past 1 MiB', () => {
  it("an endless error body from the API: provider_unavailable naming the size, not the body's classification", async () => {
    const root = await mkdtemp(join(tmpdir(), 'td-token-cap-'));
    try {
      const m = new TokenManager(provider(), new FileStore(join(root, 'token.json')));
      await m.saveLogin({ ...RECORD, expires_at: Date.now() + 3_600_000 });
      handler = (res) => endless(res, 500, 'application/json', '{"errors":["');
      const error = await failure(m.fetch('/v1/anything'));
      expect(isTdTokenError(error, 'provider_unavailable')).toBe(true);
      expect(error.message).toMatch(
        /the API at http:\/\/127\.0\.0\.1:\d+ answered HTTP 500 with a body of more than 1 MB/,
      );
      await m.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
