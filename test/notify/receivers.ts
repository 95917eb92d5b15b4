/**
 * Real receivers on loopback for the notification tests: an HTTP(S) server that records what
 * webhooks and ntfy topics are sent (and answers as told), and an SMTP server from the
 * smtp-server package that records each mail with its sender, recipients, subject and body.
 */
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/** One request a receiver got. */
export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpReceiver {
  /** `http://127.0.0.1:PORT` (or https). */
  origin: string;
  received: Received[];
  /** Answer the next requests with these statuses, in order (then 200). */
  failNext(...statuses: number[]): void;
  close(): Promise<void>;
}

/**
 * Start a receiver. With `ntfy`, it answers as ntfy does (a JSON message with id, time and
 * topic) and refuses anything but a plain-text POST to a topic.
 */
export async function startHttpReceiver(
  options: { tls?: { key: string; cert: string }; ntfy?: boolean } = {},
): Promise<HttpReceiver> {
  const received: Received[] = [];
  const statuses: number[] = [];
  const handler = (
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
  ) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const status = statuses.shift() ?? 200;
      if (options.ntfy && status === 200) {
        const topic = (req.url ?? '/').slice(1);
        if (req.method !== 'POST' || !/^[-_A-Za-z0-9]{1,64}$/.test(topic)) {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end('{"code":40010,"http":400,"error":"invalid request: topic invalid"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: `m${received.length}`,
            time: Math.floor(Date.now() / 1000),
            event: 'message',
            topic,
            message: body,
          }),
        );
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : 'no');
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler)
    : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    received,
    failNext: (...s) => statuses.push(...s),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One mail the SMTP server accepted. */
export interface Mail {
  from: string;
  to: string[];
  /** The user that logged in, if any. */
  user: string | undefined;
  /** True when the connection was TLS (smtps, or upgraded by STARTTLS) when the mail came. */
  secure: boolean;
  subject: string;
  /** The body, quoted-printable decoded. */
  text: string;
  raw: string;
}

export interface SmtpReceiver {
  port: number;
  mails: Mail[];
  /** Refuse the next `n` mails with a 451 (a temporary failure). */
  refuseNext(n: number): void;
  close(): Promise<void>;
}

interface SmtpSession {
  secure: boolean;
  user?: unknown;
  envelope: { mailFrom: false | { address: string }; rcptTo: { address: string }[] };
}
interface SmtpServerLike {
  listen(port: number, host: string, cb: () => void): void;
  close(cb: () => void): void;
  server: Server;
}
type SmtpServerClass = new (options: Record<string, unknown>) => SmtpServerLike;

function decodeQuotedPrintable(text: string): string {
  const bytes = text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function parseMail(raw: string): { subject: string; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const body = raw.slice(split + 4);
  const subject = /^subject: (.*)$/im.exec(head)?.[1] ?? '';
  const qp = /^content-transfer-encoding: quoted-printable/im.test(head);
  const b64 = /^content-transfer-encoding: base64/im.test(head);
  const text = qp
    ? decodeQuotedPrintable(body)
    : b64
      ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
      : body;
  return { subject, text: text.replace(/\r\n/g, '\n').trim() };
}

/**
 * Start an SMTP server on 127.0.0.1 that takes mail only from `user`/`password` (when given).
 * `secure`: TLS from the first byte (smtps). `starttls`: offer STARTTLS with this certificate;
 * without it, STARTTLS is not offered.
 */
export async function startSmtpReceiver(options: {
  user?: string;
  password?: string;
  tls?: { key: string; cert: string };
  secure?: boolean;
}): Promise<SmtpReceiver> {
  const name = 'smtp-server';
  const { SMTPServer } = (await import(name)) as { SMTPServer: SmtpServerClass };
  const mails: Mail[] = [];
  let refuse = 0;
  const server = new SMTPServer({
    secure: options.secure === true,
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    disabledCommands: options.tls ? [] : ['STARTTLS'],
    authOptional: options.user === undefined,
    allowInsecureAuth: true,
    logger: false,
    onAuth(
      auth: { username: string; password: string },
      _session: SmtpSession,
      cb: (err: Error | null, res?: { user: string }) => void,
    ) {
      if (auth.username === options.user && auth.password === options.password) {
        cb(null, { user: auth.username });
      } else {
        cb(new Error('Invalid username or password'));
      }
    },
    onData(stream: NodeJS.ReadableStream, session: SmtpSession, cb: (err?: Error | null) => void) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (refuse > 0) {
          refuse -= 1;
          const err = new Error('try again later') as Error & { responseCode: number };
          err.responseCode = 451;
          cb(err);
          return;
        }
        const raw = Buffer.concat(chunks).toString('latin1');
        mails.push({
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === 'string' ? session.user : undefined,
          secure: session.secure,
          ...parseMail(raw),
          raw,
        });
        cb(null);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    mails,
    refuseNext: (n) => {
      refuse += n;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
