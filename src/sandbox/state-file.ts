/**
 * The sandbox's tokens on disk, for a sandbox started with `stateFile`: every refresh and access
 * token it issued, with its app, user, expiry and status, so that they keep working after a
 * restart and in other sandboxes sharing the file. Codes and started browser logins are not
 * kept: a login in progress does not survive a restart.
 *
 * Every request that looks tokens up first merges the file in ({@link StateFile.pull}), and
 * every change that issues, rotates, supersedes or revokes a token writes it
 * ({@link StateFile.push}): merged again just before, then written to a temporary file (0600)
 * renamed over the old one, in a folder created 0700. Tokens more than a day (access) or a week
 * (refresh) past their expiry are dropped then. The file is read and written synchronously, so a
 * request is answered only once its tokens are on disk, and no other request runs in between.
 *
 * Limit: sandboxes in several processes share the file without a lock. A merge is a union in
 * which a token's dead status (rotated, superseded, revoked) wins over `active`, so the order of
 * writes does not matter, except within the instant between one process's read and its rename:
 * tokens another process writes then are missing from the file until that process writes again
 * (it still knows them). Good enough for a test double on one machine; one long-running
 * `td-token sandbox` avoids it altogether.
 *
 * A file that is not valid JSON, or not a state of this flavor, is an error naming the file and
 * the fix (delete it), never silently replaced: ignoring it would turn every stored login into
 * an unexplained "log in again".
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type {
  IssuedAccessToken,
  IssuedRefreshToken,
  RefreshTokenStatus,
  SandboxState,
} from './state.js';
import type { SandboxFlavor } from './types.js';

/** The file's format version. */
const VERSION = 1;

const DAY_MS = 24 * 60 * 60_000;

/** How long past its expiry an access token is kept (an expired one is answered as such). */
const KEEP_ACCESS_MS = DAY_MS;

/** How long past its expiry a refresh token is kept (an expired one is answered as such). */
const KEEP_REFRESH_MS = 7 * DAY_MS;

const STATUSES: readonly RefreshTokenStatus[] = ['active', 'revoked', 'rotated', 'superseded'];

/** What the file holds. */
interface StateFileContents {
  version: typeof VERSION;
  flavor: SandboxFlavor;
  refreshTokens: Record<string, IssuedRefreshToken>;
  accessTokens: Record<string, IssuedAccessToken>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isAccessEntry(value: unknown): value is IssuedAccessToken {
  return (
    isObject(value) &&
    typeof value['clientId'] === 'string' &&
    typeof value['username'] === 'string' &&
    isTime(value['expiresAt'])
  );
}

function isRefreshEntry(value: unknown): value is IssuedRefreshToken {
  return (
    isAccessEntry(value) &&
    isObject(value) &&
    isTime(value['issuedAt']) &&
    STATUSES.includes(value['status'] as RefreshTokenStatus)
  );
}

/** The state file of one sandbox. */
export class StateFile {
  readonly path: string;
  readonly #flavor: SandboxFlavor;

  constructor(path: string, flavor: SandboxFlavor) {
    this.path = path;
    this.#flavor = flavor;
  }

  #invalid(reason: string, cause?: unknown): Error {
    return new Error(
      `sandbox state file ${this.path} ${reason}. delete it to start afresh (the sandbox then forgets the tokens it issued: log in again)`,
      { cause },
    );
  }

  /** The file's tokens; none when there is no file yet. */
  #read(): Pick<StateFileContents, 'refreshTokens' | 'accessTokens'> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return { refreshTokens: {}, accessTokens: {} };
      }
      throw this.#invalid(
        `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        error,
      );
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw this.#invalid('is not valid JSON', error);
    }
    if (!isObject(value) || value['version'] !== VERSION) {
      throw this.#invalid(`is not a version ${VERSION} sandbox state`);
    }
    if (value['flavor'] !== this.#flavor) {
      throw this.#invalid(
        `holds the tokens of a ${String(value['flavor'])} sandbox, not of this ${this.#flavor} one`,
      );
    }
    const { refreshTokens, accessTokens } = value;
    if (
      !isObject(refreshTokens) ||
      !Object.values(refreshTokens).every(isRefreshEntry) ||
      !isObject(accessTokens) ||
      !Object.values(accessTokens).every(isAccessEntry)
    ) {
      throw this.#invalid('has a malformed token entry');
    }
    return {
      refreshTokens: refreshTokens as Record<string, IssuedRefreshToken>,
      accessTokens: accessTokens as Record<string, IssuedAccessToken>,
    };
  }

  /**
   * Merges the file's tokens into `state`: tokens it does not know are added, and a refresh
   * token the file says is dead becomes dead. A missing file changes nothing.
   */
  pull(state: SandboxState): void {
    const file = this.#read();
    for (const [token, entry] of Object.entries(file.refreshTokens)) {
      const known = state.refreshTokens.get(token);
      if (known === undefined) state.refreshTokens.set(token, { ...entry });
      else if (known.status === 'active') known.status = entry.status;
    }
    for (const [token, entry] of Object.entries(file.accessTokens)) {
      if (!state.accessTokens.has(token)) state.accessTokens.set(token, { ...entry });
    }
  }

  /** Merges the file in, drops long-expired tokens, and writes the result atomically. */
  push(state: SandboxState, now: number): void {
    this.pull(state);
    for (const [token, entry] of state.refreshTokens) {
      if (now >= entry.expiresAt + KEEP_REFRESH_MS) state.refreshTokens.delete(token);
    }
    for (const [token, entry] of state.accessTokens) {
      if (now >= entry.expiresAt + KEEP_ACCESS_MS) state.accessTokens.delete(token);
    }
    const contents: StateFileContents = {
      version: VERSION,
      flavor: this.#flavor,
      refreshTokens: Object.fromEntries(state.refreshTokens),
      accessTokens: Object.fromEntries(state.accessTokens),
    };
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      renameSync(tmp, this.path);
    } catch (error) {
      rmSync(tmp, { force: true });
      throw error;
    }
  }
}
