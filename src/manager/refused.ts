/**
 * The refusal memory: refresh tokens the token endpoint refused are never sent again, whether
 * refused in this process (kept here) or in another (the store's `refresh_token_refused_at`).
 *
 * @module
 */
import { LoginRequiredError } from '../errors.js';
import type { StoreLock } from '../stores/types.js';
import type { TokenRecord } from '../token.js';
import { endpointNameOf } from './messages.js';

/** The refresh tokens refused in this process, and how a refusal is checked and remembered. */
export class RefusedTokens {
  readonly #refused = new Set<string>();

  /** Trust `refreshToken` again (a login handed it back). */
  forget(refreshToken: string): void {
    this.#refused.delete(refreshToken);
  }

  /**
   * Throw {@link LoginRequiredError} when `record`'s refresh token was refused before, by the
   * token endpoint in this process or in another (the store's `refresh_token_refused_at`):
   * sending it again would only be refused again, and spend the app's rate limit.
   */
  check(record: TokenRecord, tokenUrl: string, location: string): void {
    const at = record.refresh_token_refused_at;
    if (at === undefined && !this.#refused.has(record.refresh_token)) return;
    this.#refused.add(record.refresh_token);
    const when = at === undefined ? '' : ` on ${new Date(at).toISOString()}`;
    throw new LoginRequiredError(
      `${endpointNameOf(tokenUrl)} refused the refresh token in ${location}${when} (revoked, expired, or replaced by a newer login), and td-token does not send a refused refresh token again. run 'td-token login' to log in again`,
    );
  }

  /**
   * Remember that the token endpoint refused `stored`'s refresh token: in this process, and in
   * the store (under `lock`) so that other processes ask for a login without asking the
   * provider. `saved` gets the marked record once it is saved; `failed` runs when the save
   * fails, which leaves the process's memory: the refusal is still thrown.
   */
  async remember(
    stored: TokenRecord,
    lock: StoreLock,
    now: () => number,
    saved: (marked: TokenRecord) => void,
    failed: () => void,
  ): Promise<void> {
    this.#refused.add(stored.refresh_token);
    const marked: TokenRecord = { ...stored, refresh_token_refused_at: now() };
    try {
      await lock.save(marked);
      saved(marked);
    } catch {
      failed();
    }
  }
}
