/**
 * The agent's Unix socket file: its private folder (0700), a stale socket left by a killed agent
 * told apart from a live one (a live one answers a connect), and the socket itself made 0600 from
 * the moment it exists (file permissions are the access control).
 *
 * @module
 */
import { chmod, lstat, mkdir, stat, unlink } from 'node:fs/promises';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import { FOLDER_MODE } from '../stores/atomic-file.js';

/** Whether something answers on the socket at `path` (within `timeoutMs`). */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    const done = (live: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Make the socket's folder (0700 when this creates it, or when `own` says it is the agent's own
 * folder) and clear the way for a new socket: a stale socket is removed; a live one, or a file
 * that is not a socket, is a configuration error (exit 2) naming the fix.
 */
export async function prepareSocketPath(path: string, own: boolean): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: FOLDER_MODE });
  if (own) await chmod(dir, FOLDER_MODE);
  let info: import('node:fs').Stats;
  try {
    info = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!info.isSocket()) {
    throw new ConfigError(
      `${path} exists and is not a socket. Remove it or choose another path with --socket.`,
    );
  }
  if (await socketAnswers(path)) {
    throw new ConfigError(
      `a td-token agent already answers on ${path}. Stop it first (systemctl --user stop td-token-agent, or kill its process), or choose another path with --socket.`,
    );
  }
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/**
 * Listen on `path` with the socket created 0600 (the umask is narrowed for the bind, which
 * happens synchronously inside `listen`). Resolves with the socket file's inode, so that closing
 * removes only this agent's socket.
 */
export async function listenOnSocket(server: Server, path: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    const old = process.umask(0o177);
    try {
      server.listen({ path, exclusive: true }, () => {
        server.off('error', onError);
        resolve();
      });
    } finally {
      process.umask(old);
    }
  });
  await chmod(path, 0o600);
  return (await stat(path)).ino;
}

/** Remove the socket file when it is still the one this agent made (inode `ino`). */
export async function removeSocket(path: string, ino: number): Promise<void> {
  try {
    if ((await stat(path)).ino === ino) await unlink(path);
  } catch {
    // Gone already, or replaced by another agent: leave it.
  }
}
