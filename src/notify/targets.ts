/**
 * Notification targets from strings (`--notify`, `TD_TOKEN_NOTIFY`, the config file): which kind,
 * where to, and how each is shown to people, with every secret in it (an SMTP password, a
 * webhook's path and query, an ntfy topic, an exec command's arguments) masked.
 *
 * @module
 */
import { ConfigError } from '../errors.js';
import { assertSecureUrl, isLoopbackHost } from '../util/url.js';
import type { Notification } from './message.js';
import { sendEmail } from './send-email.js';
import { sendNtfy, sendWebhook } from './send-http.js';
import { sendDesktop, sendExec } from './send-local.js';

export type TargetKind = 'webhook' | 'ntfy' | 'email' | 'exec' | 'desktop';

/** What a send gets besides the notification. */
export interface SendContext {
  /** Aborts when the send must stop (its time is up, or the notifier closes). */
  signal: AbortSignal;
  /** The send's time limit, ms (also enforced through `signal`). */
  timeoutMs: number;
}

/** A parsed target. `display` is safe to show anywhere; `secrets` are what {@link scrubTarget} masks. */
export interface NotifyTarget {
  readonly kind: TargetKind;
  /** The target for people, secrets masked. */
  readonly display: string;
  /** Parts of the target string that must never be shown. */
  readonly secrets: readonly string[];
  /** Send `notification`; rejects with an Error whose message may hold secrets: scrub it. */
  send(notification: Notification, context: SendContext): Promise<void>;
}

/** Where an e-mail goes: nodemailer's transport settings, from an `smtp://` or `smtps://` URL. */
export interface EmailSettings {
  host: string;
  port: number;
  /** smtps: TLS from the first byte; smtp: STARTTLS when the server offers it. */
  secure: boolean;
  /** smtp:// to a host that is not loopback with a password: STARTTLS is required. */
  requireTls: boolean;
  user?: string;
  password?: string;
  from: string;
  to: string[];
}

const MASK = '…';
const EMAIL = /^[^@\s,;<>]+@[^@\s,;<>]+$/;

function unknownTarget(spec: string): ConfigError {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(spec)?.[1];
  const shown = scheme === undefined ? '' : ` "${scheme}:${MASK}"`;
  return new ConfigError(
    `the notification target${shown} is not one td-token knows. use https://HOST/PATH (a webhook), ntfy+https://HOST/TOPIC, smtps://USER:PASSWORD@HOST:PORT?to=YOU@EXAMPLE.COM (or smtp://), exec:COMMAND or desktop`,
  );
}

function parseUrl(text: string, shown: string): URL {
  try {
    return new URL(text);
  } catch (cause) {
    throw new ConfigError(
      `the notification target "${shown}" is not a valid URL. give an absolute URL such as https://hooks.example.com/PATH`,
      { cause },
    );
  }
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** The secrets of a URL: credentials, path, query values (raw and decoded). */
function urlSecrets(url: URL): string[] {
  const out = new Set<string>();
  const add = (v: string) => {
    if (v.length >= 4) {
      out.add(v);
      out.add(decode(v));
    }
  };
  add(url.password);
  if (url.pathname.length > 1) {
    add(url.pathname.slice(1));
    for (const segment of url.pathname.split('/')) add(segment);
  }
  for (const [, value] of url.searchParams) add(value);
  add(url.search.slice(1));
  return [...out];
}

/** `scheme://[…@]host[:port][/…][?…]`. */
function maskedUrl(prefix: string, url: URL): string {
  const creds = url.username !== '' || url.password !== '' ? `${MASK}@` : '';
  const path = url.pathname.length > 1 ? `/${MASK}` : '';
  const query = url.search === '' ? '' : `?${MASK}`;
  return `${prefix}${url.protocol}//${creds}${url.host}${path}${query}`;
}

/** Check the scheme and the loopback rule on the origin alone, so no error shows a path. */
function checkSecure(url: URL, prefix: string): void {
  try {
    assertSecureUrl(`${url.protocol}//${url.host}/`, 'notification target');
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ConfigError(
        `the notification target ${maskedUrl(prefix, url)} uses plain http, which is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost). use ${prefix}https://${url.host}/${MASK} instead`,
      );
    }
    throw err;
  }
}

function webhookTarget(spec: string): NotifyTarget {
  const url = parseUrl(spec, spec.replace(/^(https?:\/\/[^/?#]*).*$/i, `$1/${MASK}`));
  checkSecure(url, '');
  const display = maskedUrl('', url);
  const secrets = urlSecrets(url);
  return {
    kind: 'webhook',
    display,
    secrets,
    send: (n, ctx) => sendWebhook(url, n, ctx),
  };
}

function ntfyTarget(spec: string): NotifyTarget {
  const inner = spec.slice('ntfy+'.length);
  const url = parseUrl(inner, `ntfy+${inner.replace(/^(https?:\/\/[^/?#]*).*$/i, `$1/${MASK}`)}`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw unknownTarget(spec);
  checkSecure(url, 'ntfy+');
  if (url.pathname.length <= 1) {
    throw new ConfigError(
      `the ntfy target ${maskedUrl('ntfy+', url)} names no topic. give it as ntfy+https://${url.host}/TOPIC`,
    );
  }
  return {
    kind: 'ntfy',
    display: maskedUrl('ntfy+', url),
    secrets: urlSecrets(url),
    send: (n, ctx) => sendNtfy(url, n, ctx),
  };
}

function emailTarget(spec: string): NotifyTarget {
  const url = parseUrl(
    spec,
    spec.replace(/^(smtps?:\/\/)[^@/]*@/i, `$1${MASK}@`).split('?')[0] ?? '',
  );
  const secure = url.protocol === 'smtps:';
  const user = url.username === '' ? undefined : decode(url.username);
  const password = url.password === '' ? undefined : decode(url.password);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const shown = `${url.protocol}//${user === undefined ? '' : `${user}${password === undefined ? '' : `:${MASK}`}@`}${url.host}`;
  if (host === '') {
    throw new ConfigError(
      `the e-mail target ${shown} names no host. give it as smtps://USER:PASSWORD@HOST:465?to=YOU@EXAMPLE.COM`,
    );
  }
  const to = url.searchParams
    .getAll('to')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (to.length === 0 || !to.every((a) => EMAIL.test(a))) {
    throw new ConfigError(
      `the e-mail target ${shown} needs one or more recipients. add ?to=YOU@EXAMPLE.COM (repeat to= for more)`,
    );
  }
  const fromParam = url.searchParams.get('from');
  const from = fromParam ?? (user !== undefined && EMAIL.test(user) ? user : `td-token@${host}`);
  if (!EMAIL.test(from)) {
    throw new ConfigError(
      `the e-mail target ${shown} has a from= that is not an address. give from=ME@EXAMPLE.COM`,
    );
  }
  const known = new Set(['to', 'from']);
  for (const key of url.searchParams.keys()) {
    if (!known.has(key)) {
      throw new ConfigError(
        `the e-mail target ${shown} has an unknown parameter "${key}". only to= and from= are read`,
      );
    }
  }
  const settings: EmailSettings = {
    host,
    port: url.port === '' ? (secure ? 465 : 587) : Number(url.port),
    secure,
    requireTls: !secure && password !== undefined && !isLoopbackHost(host),
    from,
    to,
  };
  if (user !== undefined) settings.user = user;
  if (password !== undefined) settings.password = password;
  const display = `${shown}?to=${to.join(',')}`;
  return {
    kind: 'email',
    display,
    secrets:
      password === undefined
        ? []
        : [...new Set([password, url.password])].filter((s) => s.length >= 1),
    send: (n, ctx) => sendEmail(settings, n, ctx),
  };
}

function execTarget(spec: string): NotifyTarget {
  const command = spec.slice('exec:'.length).trim();
  if (command === '')
    throw new ConfigError(
      'the notification target exec: names no command. give it as exec:COMMAND',
    );
  const first = command.split(/\s+/)[0] ?? '';
  const rest = command.slice(first.length).trim();
  return {
    kind: 'exec',
    display: rest === '' ? `exec:${first}` : `exec:${first} ${MASK}`,
    secrets: rest.length >= 4 ? [rest, ...rest.split(/\s+/).filter((w) => w.length >= 4)] : [],
    send: (n, ctx) => sendExec(command, n, ctx),
  };
}

/**
 * Parse one notification target.
 *
 * @throws ConfigError (`invalid_config`) naming the problem with the target masked, and the fix.
 * @example
 * parseNotifyTarget('ntfy+https://ntfy.sh/my-secret-topic').display; // 'ntfy+https://ntfy.sh/…'
 * parseNotifyTarget('smtps://me:pw@smtp.example.com?to=me@example.com').display;
 * // 'smtps://me:…@smtp.example.com?to=me@example.com'
 */
export function parseNotifyTarget(spec: string): NotifyTarget {
  if (typeof spec !== 'string') throw new TypeError('"spec" must be a string');
  const text = spec.trim();
  const lower = text.toLowerCase();
  if (lower === 'desktop') {
    return {
      kind: 'desktop',
      display: 'desktop',
      secrets: [],
      send: (n, ctx) => sendDesktop(n, ctx),
    };
  }
  if (lower.startsWith('exec:')) return execTarget(text);
  if (/\s/.test(text)) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1] ?? 'a';
    throw new ConfigError(
      `the notification target "${scheme}:…" holds a space. give each target as its own --notify, or separate them in TD_TOKEN_NOTIFY with spaces or commas (a space inside a URL is written %20)`,
    );
  }
  if (lower.startsWith('ntfy+')) return ntfyTarget(text);
  if (lower.startsWith('https://') || lower.startsWith('http://')) return webhookTarget(text);
  if (lower.startsWith('smtp://') || lower.startsWith('smtps://')) return emailTarget(text);
  throw unknownTarget(text);
}

const TARGET_START = /^(?:https?:\/\/|ntfy\+|smtps?:\/\/|exec:|desktop(?![^\s,]))/i;

/**
 * Split a list of targets (`TD_TOKEN_NOTIFY`): separated by spaces, commas or newlines, each new
 * target starting with its scheme (so a comma inside `?to=a@x,b@y` stays); an `exec:` target
 * takes the rest of the value, so it comes last.
 *
 * @example
 * splitNotifyTargets('desktop, https://hooks.example.com/x exec:notify-send "log in"');
 * // ['desktop', 'https://hooks.example.com/x', 'exec:notify-send "log in"']
 */
export function splitNotifyTargets(list: string): string[] {
  if (typeof list !== 'string') throw new TypeError('"list" must be a string');
  const out: string[] = [];
  let rest = list.trim();
  while (rest !== '') {
    if (/^exec:/i.test(rest)) {
      out.push(rest);
      break;
    }
    // The next separator followed by the start of a target ends this one.
    let end = rest.length;
    const sep = /[\s,]+/g;
    for (let m = sep.exec(rest); m !== null; m = sep.exec(rest)) {
      if (TARGET_START.test(rest.slice(m.index + m[0].length))) {
        end = m.index;
        break;
      }
    }
    const piece = rest.slice(0, end).replace(/[\s,]+$/, '');
    if (piece !== '') out.push(piece);
    rest = rest.slice(end).replace(/^[\s,]+/, '');
  }
  return out;
}

/** Mask every secret of `targets` in `text` (an error message from a send, say). */
export function scrubTargets(text: string, targets: readonly NotifyTarget[]): string {
  let out = text;
  const secrets = targets.flatMap((t) => t.secrets).sort((a, b) => b.length - a.length);
  for (const secret of secrets) {
    if (secret.length > 0 && out.includes(secret)) out = out.split(secret).join(MASK);
  }
  return out;
}
