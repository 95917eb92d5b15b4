/**
 * The login server's routes without a socket: plain requests in, answers out. The server's tests
 * run the same routes over real HTTPS.
 */
import { describe, expect, it } from 'vitest';
import { loginSite, redirectTarget } from '../../src/login/address.js';
import { createLoginFlow, type LoginOutcome } from '../../src/login/flow.js';
import { type Answer, createLoginRoutes, type RouteRequest } from '../../src/login/routes.js';
import { createProvider } from '../../src/providers/index.js';

const SECRET = 'per-run-secret-of-the-routes-test-0123456789';
const provider = createProvider('schwab', {
  clientId: 'APPKEY',
  clientSecret: 'APPSECRET',
  redirectUri: 'https://127.0.0.1:8182',
});

function routes(options: { keepRunning?: boolean } = {}) {
  const logs: string[] = [];
  const stops: LoginOutcome[] = [];
  const flow = createLoginFlow(provider);
  const made = createLoginRoutes({
    provider,
    label: 'the sandbox (schwab flavor)',
    site: loginSite(redirectTarget(provider.redirectUri)),
    secret: SECRET,
    flow,
    keepRunning: options.keepRunning === true,
    log: (line) => logs.push(line),
    isStopping: () => stops.length > 0,
    stop: (outcome) => stops.push(outcome),
    keptRunning: () => {},
  });
  return { ...made, logs, stops };
}

function request(
  method: string,
  url: string,
  headers: Record<string, string> = {},
  form?: string,
): RouteRequest {
  return {
    method,
    url,
    headers: { host: '127.0.0.1:8182', ...headers },
    readForm: async () => (form === undefined ? undefined : new URLSearchParams(form)),
  };
}

function pageOf(answer: Answer) {
  if (!('page' in answer)) throw new Error(`expected a page, got ${JSON.stringify(answer)}`);
  return answer;
}

describe('login routes', () => {
  it('refuses a foreign Host before anything else', async () => {
    const r = routes();
    const answer = pageOf(await r.answer(request('GET', '/', { host: 'rebound.example:8182' })));
    expect(answer.page.status).toBe(421);
    expect(answer.headers).toEqual({ Connection: 'close' });
  });

  it('shows the status page naming the provider as told, with buttons only with the secret', async () => {
    const r = routes();
    const open = pageOf(await r.answer(request('GET', '/')));
    expect(open.page.status).toBe(200);
    expect(open.page.html).toContain('<dt>Provider</dt><dd>the sandbox (schwab flavor)</dd>');
    expect(open.page.html).not.toContain(SECRET);
    const withSecret = pageOf(await r.answer(request('GET', `/?secret=${SECRET}`)));
    expect(withSecret.page.html).toContain(`value="${SECRET}"`);
  });

  it('starts a login only for the address with the secret, as a top-level navigation', async () => {
    const r = routes();
    const framed = pageOf(
      await r.answer(request('GET', `/login?secret=${SECRET}`, { 'sec-fetch-dest': 'iframe' })),
    );
    expect(framed.page.status).toBe(403);
    const plain = pageOf(await r.answer(request('GET', '/login')));
    expect(plain.page.status).toBe(403);
    const started = await r.answer(
      request('GET', `/login?secret=${SECRET}`, {
        'sec-fetch-mode': 'navigate',
        'sec-fetch-dest': 'document',
        'sec-fetch-site': 'none',
      }),
    );
    expect('redirect' in started && started.status).toBe(302);
    const location = 'redirect' in started ? new URL(started.redirect) : undefined;
    expect(location?.searchParams.get('redirect_uri')).toBe(provider.redirectUri);
    expect(r.refusals()).toEqual([
      'refused 1 request(s) from another site or a frame to start a login',
      "refused 1 request(s) without this run's secret to start a login",
    ]);
  });

  it('stops on a POST with the secret from its own page, and only then', async () => {
    const r = routes();
    expect(pageOf(await r.answer(request('GET', '/shutdown'))).page.status).toBe(405);
    const foreign = await r.answer(
      request('POST', '/shutdown', { origin: 'https://elsewhere.example' }, `secret=${SECRET}`),
    );
    expect(pageOf(foreign).page.status).toBe(403);
    expect(pageOf(await r.answer(request('POST', '/shutdown', {}, 'secret=x'))).page.status).toBe(
      403,
    );
    const stopped = pageOf(await r.answer(request('POST', '/shutdown', {}, `secret=${SECRET}`)));
    expect(stopped.page.html).toContain('data-result="stopped"');
    expect(r.stops).toEqual([]);
    stopped.after?.();
    expect(r.stops).toHaveLength(1);
    // Stopping: every later request is refused.
    expect(pageOf(await r.answer(request('GET', '/'))).page.status).toBe(503);
  });

  it('answers a callback of no login it started without exchanging anything', async () => {
    const r = routes();
    const answer = pageOf(await r.answer(request('GET', '/?code=abc&state=nope')));
    expect(answer.page.status).toBe(400);
    expect(answer.page.html).toContain('data-code="state_mismatch"');
    expect(r.logs).toEqual([
      'refused a callback with a state this login did not send; still waiting for the login',
    ]);
    expect(pageOf(await r.answer(request('POST', '/?code=abc&state=nope'))).page.status).toBe(405);
  });

  it('has nothing to refresh without a way to refresh', async () => {
    const r = routes();
    const answer = pageOf(
      await r.answer(request('POST', '/login/refresh', {}, `secret=${SECRET}`)),
    );
    expect(answer.page.status).toBe(409);
    expect(pageOf(await r.answer(request('GET', '/nowhere'))).page.status).toBe(404);
  });
});
