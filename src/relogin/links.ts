/**
 * The re-login page's one-time links: each pending login gets a fresh secret (32 random bytes,
 * base64url) that lives as long as the login (10 minutes by default) and is spent by the login
 * it leads to. A secret is looked up by comparing it in constant time with every live link (there
 * are at most a few), so neither a match nor a near miss shows in the timing.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { secretsEqual } from '../login/guard.js';

/** How long a link (and its pending login) lives by default: 10 minutes. */
export const DEFAULT_LINK_LIFE_MS = 10 * 60_000;

/** Live links kept at most; making one more forgets the oldest. */
export const MAX_LIVE_LINKS = 16;

/** One link: its secret and the pending login it belongs to. */
export interface ReloginLink {
  readonly secret: string;
  /** The provider's authorization URL of this link's pending login. */
  readonly authorizeUrl: URL;
  /** The `state` of that pending login. */
  readonly state: string;
  readonly expiresAt: number;
  /** A pasted address of this link is being completed. */
  busy: boolean;
}

/** The live links of one re-login page. */
export interface LinkBook {
  /** A new link for the pending login that `authorizeUrl` starts. */
  issue(authorizeUrl: URL): ReloginLink;
  /** The live link whose secret is `given`, compared in constant time; undefined otherwise. */
  find(given: string | null | undefined): ReloginLink | undefined;
  /** Spend a link: it leads nowhere from now on. */
  spend(link: ReloginLink): void;
  /** How many links are live now. */
  live(): number;
}

/** A fresh link secret: 32 random bytes, base64url (43 characters). */
export function newLinkSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The link book of one page.
 *
 * @example
 * const links = createLinkBook({ now: Date.now });
 * const link = links.issue(flow.start());
 * links.find(url.searchParams.get('secret')) === link; // true until it expires or is spent
 */
export function createLinkBook(
  options: { lifeMs?: number | undefined; now?: (() => number) | undefined } = {},
): LinkBook {
  const lifeMs = options.lifeMs ?? DEFAULT_LINK_LIFE_MS;
  if (!Number.isFinite(lifeMs) || lifeMs <= 0) {
    throw new TypeError('"options.lifeMs" must be a positive number');
  }
  const now = options.now ?? Date.now;
  /** Oldest first. */
  const links: ReloginLink[] = [];

  const forgetExpired = (): void => {
    const at = now();
    for (let i = links.length - 1; i >= 0; i--) {
      if ((links[i] as ReloginLink).expiresAt <= at) links.splice(i, 1);
    }
  };

  return {
    issue(authorizeUrl) {
      if (!(authorizeUrl instanceof URL)) throw new TypeError('"authorizeUrl" must be a URL');
      const state = authorizeUrl.searchParams.get('state');
      if (state === null || state === '') {
        throw new TypeError('"authorizeUrl" must carry the login\'s state');
      }
      forgetExpired();
      const link: ReloginLink = {
        secret: newLinkSecret(),
        authorizeUrl,
        state,
        expiresAt: now() + lifeMs,
        busy: false,
      };
      links.push(link);
      while (links.length > MAX_LIVE_LINKS) links.shift();
      return link;
    },
    find(given) {
      forgetExpired();
      const text = typeof given === 'string' ? given : '';
      let found: ReloginLink | undefined;
      // Every live link is compared, match or not: the time taken says nothing.
      for (const link of links) {
        if (secretsEqual(text, link.secret) && text !== '') found = link;
      }
      return found;
    },
    spend(link) {
      const at = links.indexOf(link);
      if (at >= 0) links.splice(at, 1);
    },
    live() {
      forgetExpired();
      return links.length;
    },
  };
}
