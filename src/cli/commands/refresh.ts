/**
 * `td-token refresh`: refresh the access token when less than half of its life is left, or always
 * with `--force`. Safe from cron: it never prompts, and a failure leaves the stored token as it was.
 *
 * @internal
 * @module
 */
import { LoginRequiredError } from '../../errors.js';
import { TokenManager } from '../../manager.js';
import { NOTIFY_HELP, NOTIFY_OPTIONS } from '../../notify/cli-options.js';
import { keepNotificationState } from '../../notify/keep-state.js';
import type { Notifier } from '../../notify/notifier.js';
import type { TokenRecord } from '../../token.js';
import { openContext, storeLocation } from '../context.js';
import { fixCommand } from '../fix-command.js';
import { timeLeft, when } from '../format.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT, say, warn } from '../io.js';
import { openNotifier } from '../notifier.js';
import { warnIfRefreshEnding } from '../refresh-warning.js';
import type { CommandContext } from '../world.js';

/** The access lifetime assumed when a record does not say when it was issued. */
const DEFAULT_ACCESS_LIFETIME_MS = 30 * 60_000;
/** The longest `refresh` waits for its notifications once the refresh is done. */
const NOTIFY_WAIT_MS = 30_000;

export const spec: CommandSpec = {
  name: 'refresh',
  summary:
    'Refresh the access token when less than half of its life is left (15 of 30 minutes), or always with --force.',
  usage: 'td-token refresh [--force] [--notify TARGET]... [flags]',
  options: { force: { type: 'boolean' }, ...NOTIFY_OPTIONS },
  help: `flags:
  --force    refresh now even if the access token is still fresh
${NOTIFY_HELP}
             from cron: each run announces what is due (at most once per profile across every
             process sharing the store) and waits for it at most 30 s after the refresh.

Made for cron: it never prompts, takes the store's lock (one refresh at a time across processes),
and leaves the stored token untouched when anything fails. Run every 10 minutes, it keeps the
token file holding an access token valid for at least 5 more minutes, for programs that read the
file directly (the seed-era output/token.json):
  */10 * * * * td-token refresh --token-file ~/td-token/output/token.json

TD refresh tokens are renewed when fewer than 7 days of their 90 remain. Schwab refresh tokens
last 7 days from the browser login and cannot be renewed: a warning on stderr says when the end is
within 48 hours.

exit codes: 0 refreshed or still fresh; 1 failed (provider down: try again later); 2 usage or
configuration; 3 a person must log in again (no token, refresh token expired or revoked).`,
};

function lifetimeOf(record: TokenRecord): number {
  const issued = record.issued_at;
  if (issued !== undefined && record.expires_at > issued) return record.expires_at - issued;
  return DEFAULT_ACCESS_LIFETIME_MS;
}

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const ctx = await openContext(cli, io, args.values);
  let notifier: Notifier | undefined;
  try {
    notifier = openNotifier(cli, ctx, args.values, io.env, (_level, event, fields) => {
      const target = typeof fields['target'] === 'string' ? ` to ${fields['target']}` : '';
      const what = typeof fields['notification'] === 'string' ? fields['notification'] : '';
      if (event === 'notified') say(io, `notified ${what}${target}`);
      else
        warn(
          io,
          `notification ${what}${target} not sent: ${String(fields['error'] ?? fields['message'] ?? '')}; the next run tries again`,
        );
    });
    const force = args.values['force'] === true;
    const before = await ctx.manager.peek();
    if (before) cli.secrets.remember(before.access_token, before.refresh_token);
    // Refresh once less than half the access token's life is left; other processes that hold the
    // lock first make this one find a fresh token and stop.
    const marginMs = before
      ? Math.max(ctx.manager.marginMs, lifetimeOf(before) / 2)
      : ctx.manager.marginMs;
    // Refreshes keep the fleet's record of what was announced.
    const manager = new TokenManager(ctx.provider, keepNotificationState(ctx.store), {
      marginMs,
      fetch: cli.deps.fetch,
      now: cli.deps.now,
    });
    let after: TokenRecord;
    try {
      after = await manager.refresh({ force });
      if (notifier !== undefined) {
        // Before the manager closes the store the notifier records its sends in.
        void notifier.refreshSucceeded();
        await notifier.idle(NOTIFY_WAIT_MS);
      }
    } catch (err) {
      if (notifier !== undefined) {
        if (err instanceof LoginRequiredError) await notifier.loginRequired(before);
        else await notifier.refreshFailed(err);
        await notifier.idle(NOTIFY_WAIT_MS);
      }
      throw err;
    } finally {
      await manager.close();
    }
    cli.secrets.remember(after.access_token, after.refresh_token);
    const now = manager.now();
    const where = `${ctx.config.profile} (${ctx.config.provider}, ${storeLocation(ctx.config)})`;
    if (before && after.access_token === before.access_token) {
      say(
        io,
        `the access token of ${where} is still valid ${timeLeft(after.expires_at, now).replace(/^in /, 'for ')} (until ${when(after.expires_at)}); not refreshed. use --force to refresh anyway`,
      );
    } else {
      say(
        io,
        `refreshed ${where}: the access token is valid until ${when(after.expires_at)} (${timeLeft(after.expires_at, now)})`,
      );
      if (before && after.refresh_token !== before.refresh_token) {
        say(
          io,
          `the refresh token was renewed too: valid until ${when(after.refresh_token_expires_at)} (${timeLeft(after.refresh_token_expires_at, now)})`,
        );
      }
    }
    warnIfRefreshEnding(io, after, now, fixCommand('login', args.values));
    return EXIT.ok;
  } finally {
    await notifier?.close();
    await ctx.close();
  }
}
