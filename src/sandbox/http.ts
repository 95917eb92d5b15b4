/**
 * Small HTTP helpers: bounded body reading and answers with the right headers.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

/** Largest request body the sandbox reads. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Thrown by {@link readBody} when the body is larger than {@link MAX_BODY_BYTES}. */
export class BodyTooLargeError extends Error {}

/** Reads the whole request body, refusing more than `limit` bytes. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new BodyTooLargeError('request body too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (error) => {
      if (!failed) {
        failed = true;
        reject(error);
      }
    });
  });
}

/** The media type of a request, lowercased, without parameters. */
export function mediaType(req: IncomingMessage): string {
  const header = req.headers['content-type'] ?? '';
  return (header.split(';')[0] ?? '').trim().toLowerCase();
}

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** Answers with JSON (`application/json;charset=UTF-8`, as both providers send). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  send(res, status, 'application/json;charset=UTF-8', JSON.stringify(body), headers);
}

/** Answers with plain text. */
export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  send(res, status, 'text/plain;charset=UTF-8', text, headers);
}

/**
 * Answers with an HTML page. Pages load nothing from elsewhere, cannot be framed, and send
 * no referrer (the callback URL carries the code).
 */
export function sendHtml(
  res: ServerResponse,
  status: number,
  html: string,
  headers: Record<string, string> = {},
): void {
  send(res, status, 'text/html;charset=UTF-8', html, {
    'Content-Security-Policy':
      "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'",
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    ...headers,
  });
}

/** Answers with any body and type; never cached. */
export function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  const buffer = Buffer.from(body, 'utf8');
  res.writeHead(status, {
    ...NO_STORE,
    'Content-Type': contentType,
    'Content-Length': String(buffer.length),
    ...headers,
  });
  res.end(buffer);
}

/** A 302 redirect. */
export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { ...NO_STORE, Location: location, 'Content-Length': '0' });
  res.end();
}

/** A 405 naming the allowed methods. */
export function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, { error: 'method_not_allowed' }, { Allow: allow });
}
