/**
 * The HTTP targets: a webhook gets the notification as JSON (with `text` and `content` too, so a
 * Slack or Discord incoming-webhook URL works as it is); ntfy gets plain text with its `Title`,
 * `Priority`, `Tags` and `Click` headers.
 *
 * @module
 */
import type { Notification } from './message.js';
import { notificationText } from './message.js';
import type { SendContext } from './targets.js';

/** Read and drop at most this much of an answer. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The URL without its credentials, and an Authorization header made of them. */
function split(url: URL): { href: string; headers: Record<string, string> } {
  const bare = new URL(url.href);
  bare.username = '';
  bare.password = '';
  const headers: Record<string, string> = { 'user-agent': 'td-token' };
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  if (user === '' && password !== '') headers['authorization'] = `Bearer ${password}`;
  else if (user !== '') {
    headers['authorization'] = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }
  return { href: bare.href, headers };
}

/** Drop the answer's body (bounded), and fail on anything but 2xx. */
async function check(response: Response): Promise<void> {
  const reader = response.body?.getReader();
  if (reader !== undefined) {
    let read = 0;
    try {
      while (read <= MAX_ANSWER_BYTES) {
        const { done, value } = await reader.read();
        if (done) break;
        read += value.byteLength;
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }
  if (response.status >= 300 && response.status < 400) {
    throw new Error(
      `answered HTTP ${response.status} (a redirect, which td-token does not follow)`,
    );
  }
  if (!response.ok) throw new Error(`answered HTTP ${response.status}`);
}

function describe(err: unknown): Error {
  if (err instanceof Error && err.name === 'AbortError') return new Error('did not answer in time');
  if (err instanceof Error && err.name === 'TimeoutError')
    return new Error('did not answer in time');
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return new Error(`${err instanceof Error ? err.message : String(err)}${cause}`);
}

/** POST the notification as JSON, plus `text` (Slack) and `content` (Discord). */
export async function sendWebhook(url: URL, n: Notification, ctx: SendContext): Promise<void> {
  const { href, headers } = split(url);
  const text = `${n.title}\n${notificationText(n)}`;
  try {
    const response = await fetch(href, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ ...n, text, content: text }),
      redirect: 'manual',
      signal: ctx.signal,
    });
    await check(response);
  } catch (err) {
    throw describe(err);
  }
}

/** Header values are bytes: keep them ASCII. */
function ascii(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, '-');
}

const PRIORITY: Record<Notification['event'], string> = {
  login_required: 'urgent',
  refresh_token_expiring: 'high',
  refresh_failing: 'high',
  refresh_recovered: 'default',
};

const TAGS: Record<Notification['event'], string> = {
  login_required: 'rotating_light',
  refresh_token_expiring: 'warning',
  refresh_failing: 'warning',
  refresh_recovered: 'white_check_mark',
};

/**
 * POST the text to an ntfy topic, with ntfy's headers.
 *
 * @see https://docs.ntfy.sh/publish/
 */
export async function sendNtfy(url: URL, n: Notification, ctx: SendContext): Promise<void> {
  const { href, headers } = split(url);
  const sent: Record<string, string> = {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    title: ascii(n.title),
    priority: PRIORITY[n.event],
    tags: TAGS[n.event],
  };
  if (n.relogin_url !== undefined) sent['click'] = ascii(n.relogin_url);
  try {
    const response = await fetch(href, {
      method: 'POST',
      headers: sent,
      body: notificationText(n),
      redirect: 'manual',
      signal: ctx.signal,
    });
    await check(response);
  } catch (err) {
    throw describe(err);
  }
}
