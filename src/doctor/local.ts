/**
 * Checks of this computer: the login server's port is free, and the config folder and the
 * store's files keep others out.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { loopbackBindHosts } from '../login/address.js';
import type { StoreSpec } from '../stores/spec.js';
import { shellQuote } from '../util/shell.js';
import { type CheckResult, fail, pass } from './types.js';

/** Listens on `host:port` for a moment; the error code when that is refused. */
function tryListen(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve(undefined));
    });
  });
}

/** The port check: the login server can listen on the redirect URI's loopback host and port. */
export async function checkPort(redirectUri: string): Promise<CheckResult> {
  const name = 'port';
  if (!URL.canParse(redirectUri))
    return pass(name, 'no port to check (the redirect URI is not a URL)');
  const url = new URL(redirectUri);
  const hosts = loopbackBindHosts(url.hostname);
  if (hosts === undefined) {
    return pass(
      name,
      `not checked: ${url.hostname} is not this computer, so no login server listens`,
    );
  }
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  for (const host of hosts) {
    const code = await tryListen(host, port);
    if (code === undefined) continue;
    // localhost binds ::1 too; a machine without IPv6 is fine with 127.0.0.1 alone.
    if (
      host === '::1' &&
      hosts.length > 1 &&
      (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')
    ) {
      continue;
    }
    if (code === 'EADDRINUSE') {
      return fail(
        name,
        `port ${port} on ${host} is taken by another program, so 'td-token login' cannot receive the callback`,
        `stop what listens there (find it with: ss -ltnp 'sport = :${port}', or lsof -i :${port}; a 'td-token login --keep-running' left open is one), or register a callback with another port and use it`,
      );
    }
    if (code === 'EACCES') {
      return fail(
        name,
        `port ${port} on ${host} needs privileges this user does not have${url.port === '' ? ' (the redirect URI gives no port, so it is the default)' : ''}`,
        "register a callback with a port of 1024 or more (e.g. https://127.0.0.1:8182) and use it exactly, or log in with 'td-token login --print-url' and '--callback-url'",
      );
    }
    return fail(
      name,
      `cannot listen on ${host} port ${port} (${code})`,
      'check the redirect URI and the network settings of this computer',
    );
  }
  return pass(name, `port ${port} is free on ${hosts.join(' and ')}`);
}

async function modeOf(path: string): Promise<number | undefined> {
  try {
    return (await fsp.stat(path)).mode;
  } catch {
    return undefined;
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** The config folder check: it exists only for its owner (0700) or not yet. */
export async function checkConfigFolder(configDir: string): Promise<CheckResult> {
  const name = 'config-folder';
  if (process.platform === 'win32')
    return pass(name, `${configDir} (modes are not checked on Windows)`);
  const mode = await modeOf(configDir);
  if (mode === undefined)
    return pass(name, `${configDir} does not exist yet (td-token makes it 0700)`);
  if ((mode & 0o077) !== 0) {
    return fail(
      name,
      `${configDir} has mode ${octal(mode)}: other users can look into it (pending logins, certificates, tokens)`,
      `chmod 700 ${shellQuote(configDir)}`,
    );
  }
  return pass(name, `${configDir} has mode ${octal(mode)}`);
}

/** The store modes check: a file or SQLite store's file is 0600 and its folder not open to others. */
export async function checkStoreModes(store: StoreSpec): Promise<CheckResult> {
  const name = 'store-modes';
  if (store.kind !== 'file' && store.kind !== 'sqlite') {
    return pass(name, `not applicable to the ${store.kind} store`);
  }
  if (process.platform === 'win32')
    return pass(name, `${store.path} (modes are not checked on Windows)`);
  const problems: string[] = [];
  const fixes: string[] = [];
  const fileMode = await modeOf(store.path);
  if (fileMode !== undefined && (fileMode & 0o077) !== 0) {
    problems.push(`${store.path} has mode ${octal(fileMode)}: other users can read the token`);
    fixes.push(`chmod 600 ${shellQuote(store.path)}`);
  }
  const dir = dirname(store.path);
  const dirMode = await modeOf(dir);
  if (dirMode !== undefined && (dirMode & 0o002) !== 0 && (dirMode & 0o1000) === 0) {
    problems.push(`its folder ${dir} has mode ${octal(dirMode)}: other users can replace the file`);
    fixes.push(`chmod o-w ${shellQuote(dir)}`);
  }
  if (problems.length > 0) return fail(name, problems.join('; '), fixes.join(' && '));
  if (fileMode === undefined)
    return pass(name, `${store.path} does not exist yet (it is made 0600)`);
  return pass(name, `${store.path} has mode ${octal(fileMode)}`);
}
