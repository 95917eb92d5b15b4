/**
 * Canned provider answers for unit tests of one module: an ErrorAnswer from a status, a body and
 * headers, and a fetch that records requests and replies from a queue.
 */
import type { ErrorAnswer } from '../../src/providers/types.js';

export function answer(
  status: number,
  body: string | object,
  headers: Record<string, string> = {},
): ErrorAnswer {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const h = new Headers(headers);
  if (typeof body !== 'string' && !h.has('content-type')) h.set('content-type', 'application/json');
  return { status, headers: h, body: text, response: new Response(null, { status, headers: h }) };
}

export interface RecordedRequest {
  url: string;
  method: string;
  headers: Headers;
  body: string;
}

export type Reply =
  | Response
  | Error
  | ((request: RecordedRequest, signal: AbortSignal | undefined) => Promise<Response>);

/** A fetch that records each request and answers with the next reply (the last one repeats). */
export function queueFetch(...replies: Reply[]): typeof fetch & { requests: RecordedRequest[] } {
  const requests: RecordedRequest[] = [];
  const fake = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request: RecordedRequest = {
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : String(init?.body ?? ''),
    };
    requests.push(request);
    const reply = replies[Math.min(requests.length - 1, replies.length - 1)];
    if (reply === undefined) throw new Error('no reply queued');
    if (reply instanceof Error) throw reply;
    if (typeof reply === 'function') return reply(request, init?.signal ?? undefined);
    return reply.clone();
  };
  return Object.assign(fake as typeof fetch, { requests });
}

export function json(status: number, body: object, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** A token a test can search for in messages: it must never appear there. */
export const SECRET_REFRESH = 'RT-secret-refresh-token-value-0123456789abcdef';
export const SECRET_ACCESS = 'AT-secret-access-token-value-0123456789abcdef';
