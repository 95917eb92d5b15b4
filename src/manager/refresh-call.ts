/**
 * One call to the token endpoint under the store's lock: retries of transient failures, a time
 * budget that ends before the lock can expire, the error that says what went wrong when the
 * budget runs out, and the save of a renewal whose lock was lost meanwhile.
 *
 * @module
 */
import { isTdTokenError, LoginRequiredError, ProviderError } from '../errors.js';
import { type RetryOptions, refreshAccessToken } from '../oauth/index.js';
import type { Provider } from '../providers/types.js';
import type { TokenStore } from '../stores/types.js';
import type { TokenRecord } from '../token.js';
import { endpointHost } from './messages.js';

/** What the call needs of the manager. */
export interface RefreshCallContext {
  provider: Provider;
  /** The manager's clock. */
  now: () => number;
  fetch: typeof fetch | undefined;
  retry: RetryOptions | false | undefined;
  lockTtlMs: number;
}

/**
 * Refresh `stored` at the token endpoint, renewing its refresh token with `renewRefreshToken`.
 * When the provider refuses the refresh token, `onRefused` runs (and is awaited) before the
 * refusal is thrown.
 */
export async function refreshWithinLock(
  ctx: RefreshCallContext,
  stored: TokenRecord,
  renewRefreshToken: boolean,
  onRefused: () => Promise<void>,
): Promise<TokenRecord> {
  const budgetMs = Math.max(1, Math.floor(ctx.lockTtlMs * 0.8));
  const budget = AbortSignal.timeout(budgetMs);
  let lastFailure: unknown;
  const own = ctx.retry;
  const retry: RetryOptions | false =
    own === false
      ? false
      : {
          ...own,
          onRetry: (info) => {
            lastFailure = info.error;
            own?.onRetry?.(info);
          },
        };
  try {
    return await refreshAccessToken(ctx.provider, stored, {
      renewRefreshToken,
      now: ctx.now,
      // Give up before the lock can expire under us.
      signal: budget,
      ...(ctx.fetch === undefined ? {} : { fetch: ctx.fetch }),
      retry,
    });
  } catch (err) {
    // The provider refused the refresh token: remember it, so it is never sent again.
    if (err instanceof LoginRequiredError) await onRefused();
    // Out of time (a provider that hangs, or a Retry-After longer than the lock allows):
    // say what went wrong last, as one of our errors, never a bare AbortError.
    if (budget.aborted && !isTdTokenError(err)) {
      const renewing = renewRefreshToken && ctx.provider.canRenewRefreshToken;
      // A renewal cut off in flight may have been answered by TD with a new refresh token
      // (retiring the old one) that never arrived: say so rather than only "try again".
      if (isTdTokenError(lastFailure) && !renewing) throw lastFailure;
      const fix = renewing
        ? "the refresh-token renewal may have reached TD, which then issued a new refresh token and retired the old one. run 'td-token refresh' again; if it says to log in, run 'td-token login'"
        : "try again in a few minutes (td-token retries on its own); if it persists, check the provider's status and the token URL";
      throw new ProviderError(
        'provider_unavailable',
        `the token endpoint ${endpointHost(ctx.provider.tokenUrl)} did not answer within ${budgetMs} ms. ${fix}`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * After a renewal whose lock was lost: save `record` if `store` still holds the refresh token
 * of `started` (the store's compare-and-set). False when the store cannot, holds another
 * refresh token, or fails.
 */
export async function saveRenewalAfterLostLock(
  store: TokenStore,
  started: TokenRecord,
  record: TokenRecord,
): Promise<boolean> {
  if (typeof store.compareAndSave !== 'function') return false;
  try {
    return await store.compareAndSave(started.refresh_token, record);
  } catch {
    return false;
  }
}
