/**
 * The targets on this machine: `exec:COMMAND` (a shell command, given the notification in its
 * environment and as JSON on its stdin) and `desktop` (notify-send, where it is installed).
 * Neither child gets td-token's secrets in its environment.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { childEnv } from '../util/child-env.js';
import type { Notification } from './message.js';
import { notificationText } from './message.js';
import { runCommand } from './run-command.js';
import type { SendContext } from './targets.js';

/** The variables an `exec:` command gets. */
export function execVariables(n: Notification): Record<string, string> {
  const vars: Record<string, string> = {
    TD_TOKEN_EVENT: n.event,
    TD_TOKEN_PROFILE: n.profile,
    TD_TOKEN_PROVIDER: n.provider,
    TD_TOKEN_REFRESH_EXPIRES_AT: n.refresh_token_expires_at ?? '',
    TD_TOKEN_HOURS_LEFT: n.hours_left === null ? '' : String(n.hours_left),
    TD_TOKEN_TITLE: n.title,
    TD_TOKEN_MESSAGE: n.message,
    TD_TOKEN_FIX: n.fix,
  };
  if (n.relogin_url !== undefined) vars['TD_TOKEN_RELOGIN_URL'] = n.relogin_url;
  return vars;
}

/** Run `command` with the notification; fails unless it exits 0 in time. */
export async function sendExec(command: string, n: Notification, ctx: SendContext): Promise<void> {
  const result = await runCommand(
    command,
    execVariables(n),
    ctx.timeoutMs,
    ctx.signal,
    `${JSON.stringify(n)}\n`,
  );
  if (result.code === 0) return;
  if (result.error !== undefined) throw new Error(`could not start: ${result.error}`);
  if (result.stopped) throw new Error('was stopped');
  throw new Error(
    result.signal === null ? `exited with code ${result.code}` : `was killed by ${result.signal}`,
  );
}

/** The path of `name` on `PATH`, if it is there. */
export function findOnPath(name: string, path = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** Show the notification on the desktop through notify-send. */
export function sendDesktop(n: Notification, ctx: SendContext): Promise<void> {
  const program = findOnPath('notify-send');
  if (program === undefined) {
    return Promise.reject(
      new Error(
        'notify-send is not installed on this machine (Debian and Ubuntu: apt-get install libnotify-bin); use another target',
      ),
    );
  }
  const urgency = n.event === 'login_required' ? 'critical' : 'normal';
  return new Promise((resolve, reject) => {
    execFile(
      program,
      ['--app-name=td-token', `--urgency=${urgency}`, n.title, notificationText(n)],
      { env: childEnv(process.env), timeout: ctx.timeoutMs, signal: ctx.signal },
      (err) => {
        if (err === null) resolve();
        else reject(new Error(`notify-send failed: ${err.message.split('\n')[0] ?? ''}`));
      },
    );
  });
}
