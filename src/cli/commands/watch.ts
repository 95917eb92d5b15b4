/**
 * `td-token watch`: keep the profile's token fresh until SIGINT or SIGTERM, without cron, and
 * announce what a person must know (`--notify`).
 *
 * @internal
 * @module
 */

import { createSyncWriter, parseSyncTarget } from '../../formats/sync.js';
import { TokenManager } from '../../manager.js';
import { NOTIFY_HELP, NOTIFY_OPTIONS } from '../../notify/cli-options.js';
import { keepNotificationState } from '../../notify/keep-state.js';
import type { Notifier } from '../../notify/notifier.js';
import { resolvePath } from '../../paths.js';
import { runWatch, type WatchOptions } from '../../watch.js';
import { openContext } from '../context.js';
import { UsageError } from '../failure.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT } from '../io.js';
import { openNotifier } from '../notifier.js';
import type { CommandContext } from '../world.js';

export const spec: CommandSpec = {
  name: 'watch',
  summary:
    "Keep the profile's token fresh until stopped: refresh ahead of expiry, renew TD refresh tokens, announce a needed login.",
  usage: 'td-token watch [--notify TARGET]... [--sync FORMAT:PATH]... [--on-relogin CMD] [flags]',
  options: {
    'on-relogin': { type: 'string' },
    sync: { type: 'string', multiple: true },
    ...NOTIFY_OPTIONS,
  },
  handlesSignals: true,
  help: `flags:
${NOTIFY_HELP}
  --sync F:PATH      keep another library's token store in step with this login, rewritten at
                     start and after every refresh (repeatable): schwab-py:PATH, tda-api:PATH
                     (JSON, replaced atomically, 0600) or schwabdev:PATH (Schwabdev 4's tokens_db)
  --on-relogin CMD   a shell command run by this process once a re-login is due (Schwab: 48
                     hours before the refresh token ends; any provider: once a login is
                     required). It gets TD_TOKEN_REFRESH_EXPIRES_AT and TD_TOKEN_HOURS_LEFT in its
                     environment. --notify exec:CMD is its successor: once per fleet.

Child processes (--on-relogin, exec:, notify-send) never get TD_TOKEN_PASSPHRASE,
TD_TOKEN_CLIENT_SECRET or TD_TOKEN_NOTIFY in their environment.

Refreshes the access token ahead of its expiry, renews TD refresh tokens when fewer than 7 days
remain, waits out provider outages with backoff, and picks up a new login when one is made. Logs
one JSON object per line on stdout ({time, level, event, ...}; never a token). Stops cleanly on
SIGINT and SIGTERM. A systemd user unit, ~/.config/systemd/user/td-token-watch.service
(ExecStart: the path 'command -v td-token' prints):
  [Unit]
  Description=td-token watch: keep the default profile's token fresh

  [Service]
  ExecStart=/usr/local/bin/td-token watch --profile default --notify desktop
  Restart=on-failure
  RestartSec=30

  [Install]
  WantedBy=default.target
then: systemctl --user daemon-reload && systemctl --user enable --now td-token-watch
and, to start it at boot and keep it running while you are logged out:
  loginctl enable-linger "$USER"

exit codes: 0 stopped by a signal; 1 failed; 2 usage or configuration; 3 a person must log in.`,
};

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const onRelogin = args.values['on-relogin'];
  if (onRelogin !== undefined && (typeof onRelogin !== 'string' || onRelogin.trim() === '')) {
    throw new UsageError('--on-relogin needs a command');
  }
  const syncFlag = args.values['sync'] as unknown;
  const syncTargets = (Array.isArray(syncFlag) ? (syncFlag as string[]) : []).map((text) =>
    parseSyncTarget(text, (p) => resolvePath(p, io.cwd, io.env)),
  );
  const ctx = await openContext(cli, io, args.values);
  let notifier: Notifier | undefined;
  try {
    const line = (fields: Record<string, unknown>): void => {
      io.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);
    };
    // Refreshes keep the fleet's record of what was sent, whether or not this process sends.
    const manager = new TokenManager(ctx.provider, keepNotificationState(ctx.store), {
      fetch: cli.deps.fetch,
      now: cli.deps.now,
    });
    const sync =
      syncTargets.length === 0
        ? undefined
        : createSyncWriter(syncTargets, line, ctx.config.profile);
    const options: WatchOptions = {
      log: (fields) => {
        io.stdout.write(`${JSON.stringify(fields)}\n`);
        // A valid token in hand (at start, after a refresh, or one another process saved):
        // rewrite the synced files; the writer skips a token it already wrote.
        if (
          sync !== undefined &&
          (fields['event'] === 'fresh' || fields['event'] === 'refreshed')
        ) {
          manager.peek().then(
            (record) => record && sync(record),
            () => {},
          );
        }
      },
    };
    notifier = openNotifier(cli, ctx, args.values, io.env, (level, event, fields) =>
      line({ level, event, ...fields }),
    );
    if (notifier !== undefined) {
      options.notifier = notifier;
      line({
        level: 'info',
        event: 'notify_targets',
        targets: notifier.targets.map((t) => t.display),
      });
    }
    if (io.signal) options.signal = io.signal;
    if (typeof onRelogin === 'string') options.onReloginDue = onRelogin;
    await runWatch(manager, options);
    return EXIT.ok;
  } finally {
    await notifier?.close();
    await ctx.close();
  }
}
