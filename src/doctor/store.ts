/**
 * The store check: the configured store answers (Redis connects and answers a read; the SQLite
 * file opens; the token file's folder can be reached), and the configured key opens a stored
 * record. A store that does not exist yet is fine: the first login makes it.
 *
 * @module
 */
import { constants, promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { isTdTokenError } from '../errors.js';
import { createStore } from '../stores/create.js';
import { describeStoreSpec } from '../stores/registry.js';
import type { StoreSpec } from '../stores/spec.js';
import { type CheckResult, fail, pass } from './types.js';

const NAME = 'store';

/** How long the store may take to answer. */
const STORE_TIMEOUT_MS = 8000;

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The nearest folder of `path` that exists, and whether this user may write in it. */
async function writableAncestor(path: string): Promise<{ dir: string; writable: boolean }> {
  let dir = dirname(path);
  for (;;) {
    if (await exists(dir)) {
      try {
        await fsp.access(dir, constants.W_OK | constants.X_OK);
        return { dir, writable: true };
      } catch {
        return { dir, writable: false };
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return { dir, writable: false };
    dir = parent;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Checks that the store answers and that a stored record can be read. */
export async function checkStore(store: StoreSpec, spec: StoreSpec): Promise<CheckResult> {
  const where = describeStoreSpec(store);
  if (store.kind === 'memory') return pass(NAME, `${where}: nothing to reach`);
  if ((store.kind === 'file' || store.kind === 'sqlite') && !(await exists(store.path))) {
    const { dir, writable } = await writableAncestor(store.path);
    if (!writable) {
      return fail(
        NAME,
        `${store.path} does not exist and cannot be made: ${dir} is not writable by this user`,
        'choose a writable place with --token-file (or --store-url for SQLite), or fix the folder owner',
      );
    }
    return pass(NAME, `${where}: not made yet; 'td-token login' makes it`);
  }
  let opened: Awaited<ReturnType<typeof createStore>> | undefined;
  try {
    opened = await withTimeout(createStore(spec), STORE_TIMEOUT_MS);
    const record = await withTimeout(opened.load(), STORE_TIMEOUT_MS);
    return pass(
      NAME,
      `${where} answers${record === undefined ? '; no login stored' : '; the stored login can be read'}`,
    );
  } catch (error) {
    if (isTdTokenError(error, 'decrypt_failed')) {
      return fail(
        NAME,
        `${where} holds a login the configured passphrase or key file cannot open`,
        'give the passphrase or key file it was saved with (a mistyped passphrase is the usual cause), or log in again to replace it',
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    if (isTdTokenError(error, 'invalid_token_file')) {
      return fail(NAME, `${where} holds a record that does not parse`, message);
    }
    return fail(
      NAME,
      `${where} cannot be reached: ${message.split('. ')[0]}`,
      store.kind === 'redis'
        ? 'check that redis-server runs at that address and that --store-url is right (redis-cli -u URL ping)'
        : 'check the path and its permissions, or choose another place with --token-file',
    );
  } finally {
    await opened?.close().catch(() => undefined);
  }
}
