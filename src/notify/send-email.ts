/**
 * The e-mail target, through nodemailer (an optional peer dependency, loaded only when an
 * `smtp://` or `smtps://` target is used): smtps speaks TLS from the start; smtp upgrades with
 * STARTTLS whenever the server offers it, and requires it when a password would otherwise cross
 * the network in the clear.
 *
 * @module
 */
import { ConfigError } from '../errors.js';
import type { Notification } from './message.js';
import { notificationText } from './message.js';
import type { EmailSettings, SendContext } from './targets.js';

/** The part of nodemailer td-token uses. */
interface Transporter {
  sendMail(message: {
    from: string;
    to: string[];
    subject: string;
    text: string;
  }): Promise<unknown>;
  close(): void;
}
interface Nodemailer {
  createTransport(options: Record<string, unknown>): Transporter;
}

let loaded: Promise<Nodemailer> | undefined;

/** Load nodemailer once, only when an e-mail target sends. */
export function loadNodemailer(): Promise<Nodemailer> {
  // A name in a variable: nodemailer is optional, so nothing resolves it before it is needed.
  const name = 'nodemailer';
  loaded ??= import(name).then(
    (mod: { default?: Nodemailer } & Partial<Nodemailer>) => {
      const m = typeof mod.createTransport === 'function' ? (mod as Nodemailer) : mod.default;
      if (m === undefined || typeof m.createTransport !== 'function') {
        throw new Error('nodemailer exports no createTransport');
      }
      return m;
    },
    (cause: unknown) => {
      loaded = undefined;
      throw new ConfigError(
        'e-mail notifications need the nodemailer package, which is not installed. install it: npm install nodemailer',
        { cause },
      );
    },
  );
  return loaded;
}

/** Send the notification as a plain-text e-mail. */
export async function sendEmail(
  settings: EmailSettings,
  n: Notification,
  ctx: SendContext,
): Promise<void> {
  const nodemailer = await loadNodemailer();
  const options: Record<string, unknown> = {
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    requireTLS: settings.requireTls,
    connectionTimeout: ctx.timeoutMs,
    greetingTimeout: ctx.timeoutMs,
    socketTimeout: ctx.timeoutMs,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  if (settings.user !== undefined) {
    options['auth'] = { user: settings.user, pass: settings.password ?? '' };
  }
  const transporter = nodemailer.createTransport(options);
  const onAbort = (): void => transporter.close();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (ctx.signal.aborted) throw new Error('did not answer in time');
    await Promise.race([
      transporter.sendMail({
        from: settings.from,
        to: settings.to,
        subject: n.title,
        text: notificationText(n),
      }),
      new Promise((_, reject) => {
        ctx.signal.addEventListener('abort', () => reject(new Error('did not answer in time')), {
          once: true,
        });
      }),
    ]);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${typeof code === 'string' ? `${code}: ` : ''}${message}`);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    transporter.close();
  }
}
