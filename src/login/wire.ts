/**
 * The login server's HTTP plumbing: an answer of the routes sent with the security headers
 * (a page, a redirect, or nothing), and a small urlencoded form body read with a size cap.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Page } from './pages.js';
import type { Answer } from './routes.js';

/** The largest POST body read, in bytes. */
const MAX_BODY_BYTES = 4096;

/** Send pages and redirects with the security headers. */
export function senders(security: Record<string, string>) {
  const sendPage = (
    res: ServerResponse,
    page: Page,
    headers: Record<string, string> = {},
    onSent?: () => void,
  ): void => {
    const body = Buffer.from(page.html, 'utf8');
    res.writeHead(page.status, {
      ...security,
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': String(body.length),
      ...headers,
    });
    if (res.req.method === 'HEAD') res.end(onSent);
    else res.end(body, onSent);
  };
  const sendRedirect = (res: ServerResponse, location: string, status = 302): void => {
    res.writeHead(status, { ...security, Location: location, 'Content-Length': '0' });
    res.end();
  };
  /** Send one of the routes' answers; for "nothing" the run is stopping and closing cuts it. */
  const send = (res: ServerResponse, answer: Answer): void => {
    if ('page' in answer) sendPage(res, answer.page, answer.headers, answer.after);
    else if ('redirect' in answer) sendRedirect(res, answer.redirect, answer.status);
  };
  return { sendPage, send };
}

/** Read a small urlencoded POST body; undefined when it is too big or of another type. */
export function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  return new Promise((resolve) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      req.resume();
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        done = true;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', () => {
      if (done) return;
      done = true;
      resolve(undefined);
    });
  });
}
