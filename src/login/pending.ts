/**
 * Two-step login: {@link startPendingLogin} makes the authorization URL and keeps what the
 * callback needs (state, PKCE verifier, redirect URI, profile, app, expiry) privately in the
 * config folder; {@link completePendingLogin}, later and from any shell, reads the redirected
 * URL, finds its pending login, and exchanges the code.
 *
 * Files, in `<config>/pending-logins/` (0700): `<profile>.json` (0600, written atomically), one
 * per profile, replaced by a newer start; `<profile>.used` (0600) keeps a SHA-256 of the states
 * already used, so that a second use says so. A pending login is claimed by renaming its file
 * before the code is exchanged, so two shells completing it at once cannot both use it; it is
 * removed once used, and an expired one is removed when found. A callback whose state belongs
 * to another profile's pending login, an expired one, or a used one is a clear error.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { CallbackError, TdTokenError } from '../errors.js';
import {
  createAuthorizationRequest,
  exchangeAuthorizationCode,
  parseCallbackUrl,
} from '../oauth/index.js';
import { isValidProfileName } from '../paths.js';
import type { Provider } from '../providers/types.js';
import { ensureFolder, FILE_MODE, writeFileAtomic } from '../stores/atomic-file.js';
import type { TokenRecord } from '../token.js';
import { randomHex } from '../util/random.js';

/** How long a pending login can be completed: 10 minutes. */
export const PENDING_LOGIN_LIFETIME_MS = 10 * 60_000;

/** The folder inside the config folder. */
export const PENDING_DIR_NAME = 'pending-logins';

const VERSION = 1;

/** What a pending login keeps. The verifier and state are secrets: never shown. */
export interface PendingLogin {
  version: typeof VERSION;
  profile: string;
  /** The provider's name and the client id sent to it, to refuse completing with another app. */
  provider: string;
  clientId: string;
  redirectUri: string;
  state: string;
  codeVerifier: string | undefined;
  createdAt: number;
  expiresAt: number;
}

/** Where pending logins live, and the clock. */
export interface PendingOptions {
  /** The td-token config folder (`configDir(env)`). */
  configDir: string;
  profile: string;
  /** Default `Date.now`. */
  now?: () => number;
}

/** What {@link startPendingLogin} gives back. */
export interface StartedLogin {
  /** The URL to open in a browser. */
  url: URL;
  expiresAt: number;
  /** The file the pending login is kept in. */
  path: string;
}

function checkOptions(options: PendingOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('"options" must be an object with configDir and profile');
  }
  if (typeof options.configDir !== 'string' || options.configDir === '') {
    throw new TypeError('"options.configDir" must be a non-empty string');
  }
  if (typeof options.profile !== 'string' || !isValidProfileName(options.profile)) {
    throw new TypeError('"options.profile" must be a profile name');
  }
}

function checkProvider(provider: Provider): void {
  if (
    typeof provider !== 'object' ||
    provider === null ||
    typeof provider.redirectUri !== 'string'
  ) {
    throw new TypeError('"provider" must be a Provider');
  }
}

/** The folder of pending logins. */
export function pendingDir(configDir: string): string {
  return join(configDir, PENDING_DIR_NAME);
}

/** The pending login file of a profile. */
export function pendingLoginPath(configDir: string, profile: string): string {
  return join(pendingDir(configDir), `${profile}.json`);
}

function usedPath(configDir: string, profile: string): string {
  return join(pendingDir(configDir), `${profile}.used`);
}

function stateHash(state: string): string {
  return createHash('sha256').update(state).digest('base64url');
}

function isPending(value: unknown): value is PendingLogin {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v['version'] === VERSION &&
    typeof v['profile'] === 'string' &&
    typeof v['provider'] === 'string' &&
    typeof v['clientId'] === 'string' &&
    typeof v['redirectUri'] === 'string' &&
    typeof v['state'] === 'string' &&
    (v['codeVerifier'] === undefined || typeof v['codeVerifier'] === 'string') &&
    typeof v['createdAt'] === 'number' &&
    typeof v['expiresAt'] === 'number'
  );
}

async function readPending(path: string): Promise<PendingLogin | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (isPending(parsed)) return parsed;
  } catch {
    // Treated below as unreadable.
  }
  await fsp.rm(path, { force: true });
  return undefined;
}

/** Removes expired pending logins and stale used-state lists of every profile. */
async function sweep(dir: string, now: number): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (name.endsWith('.json')) {
      const pending = await readPending(path).catch(() => undefined);
      if (pending !== undefined && pending.expiresAt <= now) await fsp.rm(path, { force: true });
    } else if (name.endsWith('.used') || name.includes('.claimed.')) {
      const info = await fsp.stat(path).catch(() => undefined);
      if (info !== undefined && now - info.mtimeMs > 2 * PENDING_LOGIN_LIFETIME_MS) {
        await fsp.rm(path, { force: true });
      }
    }
  }
}

/**
 * Starts a login to finish later: makes the authorization request and keeps the pending login
 * (replacing an earlier one of the profile). Open the returned URL in any browser, then pass the
 * address it was redirected to to {@link completePendingLogin} within 10 minutes.
 *
 * @example
 * const { url } = await startPendingLogin(provider, { configDir: configDir(), profile: 'default' });
 * console.log(url.href);
 */
export async function startPendingLogin(
  provider: Provider,
  options: PendingOptions,
): Promise<StartedLogin> {
  checkProvider(provider);
  checkOptions(options);
  const now = (options.now ?? Date.now)();
  const dir = pendingDir(options.configDir);
  await ensureFolder(options.configDir);
  await ensureFolder(dir);
  await sweep(dir, now);
  const request = createAuthorizationRequest(provider);
  const pending: PendingLogin = {
    version: VERSION,
    profile: options.profile,
    provider: provider.name,
    clientId: provider.clientId,
    redirectUri: provider.redirectUri,
    state: request.state,
    codeVerifier: request.codeVerifier,
    createdAt: now,
    expiresAt: now + PENDING_LOGIN_LIFETIME_MS,
  };
  const path = pendingLoginPath(options.configDir, options.profile);
  await writeFileAtomic(path, `${JSON.stringify(pending)}\n`);
  return { url: request.url, expiresAt: pending.expiresAt, path };
}

const AGAIN = "start a new one with 'td-token login --print-url'";

async function wasUsed(configDir: string, profile: string, state: string): Promise<boolean> {
  try {
    const lines = (await fsp.readFile(usedPath(configDir, profile), 'utf8')).split('\n');
    return lines.includes(stateHash(state));
  } catch {
    return false;
  }
}

async function markUsed(configDir: string, profile: string, state: string): Promise<void> {
  await fsp.appendFile(usedPath(configDir, profile), `${stateHash(state)}\n`, { mode: FILE_MODE });
}

/** Another profile whose pending login (or used list) holds `state`, if any. */
async function otherProfileOf(
  configDir: string,
  profile: string,
  state: string,
): Promise<{ profile: string; used: boolean } | undefined> {
  let names: string[];
  try {
    names = await fsp.readdir(pendingDir(configDir));
  } catch {
    return undefined;
  }
  for (const name of names) {
    const match = /^(.+)\.(json|used)$/.exec(name);
    const other = match?.[1];
    if (other === undefined || other === profile) continue;
    if (match?.[2] === 'json') {
      const pending = await readPending(join(pendingDir(configDir), name)).catch(() => undefined);
      if (pending?.state === state) return { profile: other, used: false };
    } else if (await wasUsed(configDir, other, state)) {
      return { profile: other, used: true };
    }
  }
  return undefined;
}

/** Options of {@link completePendingLogin}. */
export interface CompleteOptions extends PendingOptions {
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/**
 * Completes the profile's pending login with the address the browser was redirected to (or its
 * query): checks that it belongs to this profile's pending login, that this has not expired or
 * been used, and that the provider is the same app; then claims it and exchanges the code.
 *
 * @throws CallbackError `state_mismatch` for a callback of no pending login of this profile (used
 *   already, another profile's, or replaced by a newer start) or for another app; the callback's
 *   own refusals (`access_denied`, ...); TdTokenError `login_timeout` once 10 minutes have passed;
 *   the exchange's ProviderError.
 */
export async function completePendingLogin(
  provider: Provider,
  callbackUrl: string,
  options: CompleteOptions,
): Promise<TokenRecord> {
  checkProvider(provider);
  checkOptions(options);
  if (typeof callbackUrl !== 'string' || callbackUrl.trim() === '') {
    throw new TypeError('"callbackUrl" must be a non-empty string');
  }
  const { configDir, profile } = options;
  const now = (options.now ?? Date.now)();
  // Reads the state (and the provider's refusal, if it sent one) without judging it yet.
  const { state } = parseCallbackUrl(callbackUrl, undefined);
  if (state === undefined) {
    throw new CallbackError(
      'state_mismatch',
      `the callback URL carries no state, so it cannot be matched to a pending login. paste the whole address the browser ended on, or ${AGAIN}`,
    );
  }
  const path = pendingLoginPath(configDir, profile);
  const pending = await readPending(path);
  if (pending !== undefined && pending.expiresAt <= now) {
    await fsp.rm(path, { force: true });
    throw new TdTokenError(
      'login_timeout',
      `the pending login of profile ${profile} expired ${Math.round((now - pending.expiresAt) / 60_000)} min ago (a pending login lasts ${PENDING_LOGIN_LIFETIME_MS / 60_000} minutes). ${AGAIN}, then finish it sooner`,
    );
  }
  if (pending === undefined || pending.state !== state) {
    if (await wasUsed(configDir, profile, state)) {
      throw new CallbackError(
        'state_mismatch',
        `this callback's pending login of profile ${profile} was used already (a pending login completes once). ${AGAIN} to log in again`,
      );
    }
    const other = await otherProfileOf(configDir, profile, state);
    if (other !== undefined) {
      throw new CallbackError(
        'state_mismatch',
        `this callback belongs to ${other.used ? 'a used' : 'the'} pending login of profile ${other.profile}, not ${profile}. ${other.used ? AGAIN : `complete it with --profile ${other.profile}`}`,
      );
    }
    throw new CallbackError(
      'state_mismatch',
      pending === undefined
        ? `there is no pending login for profile ${profile} with this callback (never started here, expired, or used). ${AGAIN}`
        : `this callback belongs to an older login of profile ${profile}, which a newer 'td-token login --print-url' replaced. open the newest URL, or ${AGAIN}`,
    );
  }
  if (
    pending.provider !== provider.name ||
    pending.clientId !== provider.clientId ||
    pending.redirectUri !== provider.redirectUri
  ) {
    throw new CallbackError(
      'state_mismatch',
      `the pending login of profile ${profile} was started for another app or redirect URI (${pending.provider}, ${pending.redirectUri}) than the one configured now. use the same configuration as for --print-url, or ${AGAIN}`,
    );
  }
  // Claim it: only one rename wins, so a pending login is exchanged once.
  const claimed = `${path}.claimed.${randomHex(6)}`;
  try {
    await fsp.rename(path, claimed);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CallbackError(
        'state_mismatch',
        `the pending login of profile ${profile} is being completed by another command, or was just now. ${AGAIN} if that one fails`,
      );
    }
    throw error;
  }
  try {
    await markUsed(configDir, profile, state);
    const grant: Parameters<typeof exchangeAuthorizationCode>[2] = { expectedState: pending.state };
    if (pending.codeVerifier !== undefined) grant.codeVerifier = pending.codeVerifier;
    if (options.fetch !== undefined) grant.fetch = options.fetch;
    if (options.signal !== undefined) grant.signal = options.signal;
    if (options.now !== undefined) grant.now = options.now;
    return await exchangeAuthorizationCode(provider, callbackUrl, grant);
  } finally {
    await fsp.rm(claimed, { force: true });
  }
}
