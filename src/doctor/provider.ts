/**
 * Asking the provider without logging in: one GET of its authorization endpoint with the
 * configured app and redirect URI (read like a browser would, never followed), and one refresh
 * grant with a made-up refresh token, whose refusal says whether the app key and secret are
 * right. From their answers: an unknown app key, an app not ready for use yet, a redirect URI
 * the app did not register (and which near variant it did), and the provider's clock.
 *
 * @module
 */
import { codeChallengeS256 } from '../oauth/authorize.js';
import { createProvider } from '../providers/index.js';
import type { Provider, ProviderName, ProviderOptions } from '../providers/types.js';
import { redirectVariants } from './redirect.js';
import { type CheckResult, fail, pass } from './types.js';

/** How long one probe may take. */
export const PROBE_TIMEOUT_MS = 10_000;

/** The most of a page a probe reads. */
const MAX_PAGE_BYTES = 256 * 1024;

/** What the authorization endpoint answered, as far as the checks need. */
export interface AuthorizeAnswer {
  status: number;
  /** `Location` of a redirect. */
  location: string | undefined;
  contentType: string;
  /** The body's start (at most 256 KiB), as text. */
  body: string;
  /** The `Date` header, ms epoch, when present and valid. */
  date: number | undefined;
  /** Local time when the answer arrived, ms epoch. */
  receivedAt: number;
}

/** How the provider judged an authorize request. */
export type AuthorizeVerdict =
  | { kind: 'accepted'; how: string }
  | { kind: 'unknown-app' }
  | { kind: 'not-ready' }
  | { kind: 'redirect-refused'; page: string }
  | { kind: 'unavailable'; why: string };

async function readCapped(response: Response): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_PAGE_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, MAX_PAGE_BYTES).toString('utf8');
}

/** GETs the provider's authorization URL for a made-up state; never follows a redirect. */
export async function probeAuthorize(
  provider: Provider,
  options: { fetch?: typeof fetch; timeoutMs?: number } = {},
): Promise<AuthorizeAnswer> {
  const url = provider.authorizationUrl({
    state: 'td-token-doctor',
    codeChallenge: provider.usesPkce ? codeChallengeS256('td-token-doctor') : undefined,
  });
  const response = await (options.fetch ?? fetch)(url, {
    redirect: 'manual',
    headers: { Accept: 'text/html,application/json;q=0.9,*/*;q=0.8' },
    signal: AbortSignal.timeout(options.timeoutMs ?? PROBE_TIMEOUT_MS),
  });
  const body = await readCapped(response);
  const dateHeader = response.headers.get('date');
  const date = dateHeader === null ? Number.NaN : Date.parse(dateHeader);
  return {
    status: response.status,
    location: response.headers.get('location') ?? undefined,
    contentType: (response.headers.get('content-type') ?? '').toLowerCase(),
    body,
    date: Number.isNaN(date) ? undefined : date,
    receivedAt: Date.now(),
  };
}

function jsonError(answer: AuthorizeAnswer): string | undefined {
  if (!answer.contentType.includes('json')) return undefined;
  try {
    const parsed = JSON.parse(answer.body) as { error?: unknown };
    return typeof parsed.error === 'string' ? parsed.error : undefined;
  } catch {
    return undefined;
  }
}

/** Reads an authorize answer the way a person reading the page would. */
export function judgeAuthorize(answer: AuthorizeAnswer, redirectUri: string): AuthorizeVerdict {
  const body = answer.body;
  if (/unable to complete your request|Whitelabel Error Page/i.test(body)) {
    return { kind: 'not-ready' };
  }
  if (jsonError(answer) === 'invalid_client') return { kind: 'unknown-app' };
  if (answer.status >= 300 && answer.status < 400 && answer.location !== undefined) {
    if (answer.location.startsWith(redirectUri)) {
      return { kind: 'accepted', how: 'it sent the browser back to the redirect URI' };
    }
    return { kind: 'accepted', how: 'it sent the browser on to its login page' };
  }
  if (/Access Denied/i.test(body)) return { kind: 'redirect-refused', page: '"Access Denied"' };
  if (/unauthorized access to your account/i.test(body)) {
    return { kind: 'redirect-refused', page: '"unauthorized access to your account"' };
  }
  if (answer.status === 200 && answer.contentType.includes('html')) {
    return { kind: 'accepted', how: 'it showed its login page' };
  }
  if (answer.status >= 500) return { kind: 'unavailable', why: `HTTP ${answer.status}` };
  return { kind: 'unavailable', why: `an unexpected answer (HTTP ${answer.status})` };
}

/** What the checks below need to know about the configuration. */
export interface ProbeTarget {
  protocol: ProviderName;
  options: ProviderOptions;
  /** Where the provider's settings live, for fixes (`developer.schwab.com`, ...). */
  portal: string;
}

/** Each protocol's developer portal. */
export function portalOf(protocol: ProviderName): string {
  switch (protocol) {
    case 'schwab':
      return "the app's page on developer.schwab.com (Dashboard > View Details)";
    case 'tdameritrade':
      return "the app's page on developer.tdameritrade.com";
    default:
      return "the client's registration with the provider";
  }
}

/**
 * The authorize check: the app key is known, the app is ready for use, and the redirect URI is
 * registered. When the provider refuses the redirect URI, its near variants are asked too, and
 * one that is accepted is named in the fix.
 */
export async function checkAuthorize(
  target: ProbeTarget,
  answer: AuthorizeAnswer | Error,
  options: { fetch?: typeof fetch } = {},
): Promise<CheckResult> {
  const name = 'authorize';
  const redirectUri = target.options.redirectUri;
  if (answer instanceof Error) {
    return fail(
      name,
      `the authorization endpoint could not be asked (${answer.name === 'TimeoutError' ? 'no answer in time' : answer.message})`,
      'check the network and the --authorize-url, then run td-token doctor again',
    );
  }
  const verdict = judgeAuthorize(answer, redirectUri);
  switch (verdict.kind) {
    case 'accepted':
      return pass(
        name,
        `the provider accepts the app and the redirect URI ${redirectUri} (${verdict.how})`,
      );
    case 'unknown-app':
      return fail(
        name,
        'the provider does not know this app key (invalid_client)',
        `copy the App Key from ${target.portal} into --client-id (TD_TOKEN_CLIENT_ID), with nothing added or missing`,
      );
    case 'not-ready':
      return fail(
        name,
        'the provider says the app is not ready for use yet ("We are unable to complete your request"): a new app stays "Approved - Pending" for a while',
        `wait until ${target.portal} shows the status "Ready For Use" (often a day or more), then run td-token doctor again`,
      );
    case 'unavailable':
      return fail(
        name,
        `the authorization endpoint gave ${verdict.why}`,
        'the provider may be down: try again later, and check --authorize-url',
      );
    case 'redirect-refused': {
      const accepted = await acceptedVariant(target, options);
      const what =
        target.protocol === 'tdameritrade'
          ? 'the client id or the redirect URI does not match the registered app'
          : 'the redirect URI is not registered for this app';
      if (accepted !== undefined) {
        return fail(
          name,
          `the provider refuses the redirect URI ${redirectUri} with its ${verdict.page} page, but accepts ${accepted}: the registration differs by a character`,
          `use exactly the registered one: --redirect-uri ${accepted} (or TD_TOKEN_REDIRECT_URI), or change ${target.portal} to ${redirectUri}`,
        );
      }
      return fail(
        name,
        `the provider answers with its ${verdict.page} page: ${what} (they are compared exactly: scheme, host, port, path, trailing slash, case)`,
        `copy the Callback URL from ${target.portal} into --redirect-uri character for character${target.protocol === 'tdameritrade' ? ', and the consumer key into --client-id' : ''}`,
      );
    }
  }
}

async function acceptedVariant(
  target: ProbeTarget,
  options: { fetch?: typeof fetch },
): Promise<string | undefined> {
  for (const variant of redirectVariants(target.options.redirectUri)) {
    let provider: Provider;
    try {
      provider = createProvider(target.protocol, { ...target.options, redirectUri: variant });
    } catch {
      continue;
    }
    try {
      const answer = await probeAuthorize(provider, options);
      if (judgeAuthorize(answer, variant).kind === 'accepted') return variant;
    } catch {
      // An unanswered variant says nothing.
    }
  }
  return undefined;
}

/** The most a clock may differ from the provider's before the check fails. */
export const MAX_SKEW_MS = 30_000;

/** The clock check: this machine's time against the provider's `Date` header. */
export function checkClock(answer: AuthorizeAnswer | Error): CheckResult {
  const name = 'clock';
  if (answer instanceof Error || answer.date === undefined) {
    return fail(
      name,
      "the provider's time could not be read (no answer, or no Date header)",
      'check the network, then run td-token doctor again',
    );
  }
  // The Date header has whole seconds: allow for the truncation.
  const skew = answer.receivedAt - answer.date;
  const shown = `${Math.abs(Math.round(skew / 1000))} s ${skew > 0 ? 'ahead of' : 'behind'} the provider's`;
  if (Math.abs(skew) - 1000 > MAX_SKEW_MS) {
    return fail(
      name,
      `this computer's clock is ${shown} (by its Date header), more than ${MAX_SKEW_MS / 1000} s: token lifetimes and refresh times will be wrong`,
      'turn on time synchronisation (Linux: sudo timedatectl set-ntp true; macOS: System Settings > General > Date & Time > Set time automatically)',
    );
  }
  return pass(
    name,
    `this computer's clock is within ${MAX_SKEW_MS / 1000} s of the provider's (${shown} by its Date header)`,
  );
}

/**
 * The app-credentials check: a refresh grant with a made-up refresh token. A refusal of the
 * token means the app key (and secret) passed; `invalid_client` with 401 means they did not.
 */
export async function checkAppCredentials(
  target: ProbeTarget,
  provider: Provider,
  options: { fetch?: typeof fetch; timeoutMs?: number } = {},
): Promise<CheckResult> {
  const name = 'app-credentials';
  const request = provider.refreshGrantRequest('td-token-doctor-made-up-refresh-token', {
    renewRefreshToken: false,
  });
  let status: number;
  let body: string;
  try {
    const response = await (options.fetch ?? fetch)(request.url, {
      method: 'POST',
      headers: request.headers,
      body: request.body.toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? PROBE_TIMEOUT_MS),
    });
    status = response.status;
    body = await readCapped(response);
  } catch (error) {
    return fail(
      name,
      `the token endpoint could not be asked (${(error as Error).name === 'TimeoutError' ? 'no answer in time' : (error as Error).message})`,
      'check the network and the --token-url, then run td-token doctor again',
    );
  }
  let error: string | undefined;
  let description = '';
  try {
    const parsed = JSON.parse(body) as { error?: unknown; error_description?: unknown };
    if (typeof parsed.error === 'string') error = parsed.error;
    if (typeof parsed.error_description === 'string') description = parsed.error_description;
  } catch {
    error = undefined;
  }
  const secret = target.protocol === 'tdameritrade' ? '' : ' and secret';
  if (status === 401 || (error === 'invalid_client' && !/refresh token/i.test(description))) {
    return fail(
      name,
      `the token endpoint refuses the app key${secret} (HTTP ${status}${error ? ` ${error}` : ''})`,
      `copy the App Key${secret === '' ? '' : ' and Secret'} from ${target.portal} into --client-id${secret === '' ? '' : ' and TD_TOKEN_CLIENT_SECRET'}; a secret that was reset there must be copied again`,
    );
  }
  if (status === 400 && error !== undefined) {
    return pass(
      name,
      `the token endpoint accepts the app key${secret} (it refused only the made-up refresh token doctor sent, with ${error})`,
    );
  }
  if (status === 429) {
    return fail(
      name,
      'the token endpoint answered 429 (too many requests)',
      'wait a minute, then run td-token doctor again',
    );
  }
  return fail(
    name,
    `the token endpoint gave an unexpected answer (HTTP ${status}${error ? ` ${error}` : ''})`,
    'the provider may be down: try again later, and check --token-url',
  );
}
