/**
 * The notifier a command runs for one profile (`watch`, `refresh`, `serve`): the targets from the
 * flags, the environment and the configuration, their secrets remembered to be masked, and
 * announcements that point at the command that logs this profile in again.
 *
 * @internal
 * @module
 */
import type { ResolvedConfig } from '../config/resolve.js';
import { notifySettings } from '../notify/cli-options.js';
import { createNotifier, type Notifier, type NotifyLog } from '../notify/notifier.js';
import type { Provider } from '../providers/types.js';
import type { TokenStore } from '../stores/types.js';
import { shellQuote } from '../util/shell.js';
import type { CommandContext } from './world.js';

/** The login command a notification tells a person to run for `profile`. */
export function notifyLoginCommand(
  profile: string,
  values: Record<string, string | boolean | undefined>,
): string {
  const parts = ['td-token', 'login'];
  if (profile !== 'default') parts.push('--profile', shellQuote(profile));
  const file = values['token-file'];
  if (typeof file === 'string') parts.push('--token-file', shellQuote(file));
  return parts.join(' ');
}

/** What a command opened for a profile: its configuration, provider and store. */
export interface NotifiedProfile {
  config: ResolvedConfig;
  provider: Provider;
  store: TokenStore;
}

/**
 * The profile's notifier, or undefined when no target is configured. Throws a usage or
 * configuration error for a bad target, before anything runs.
 */
export function openNotifier(
  cli: CommandContext,
  profile: NotifiedProfile,
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
  log: NotifyLog,
  reloginUrl?: () => Promise<string>,
): Notifier | undefined {
  const { config, provider, store } = profile;
  const settings = notifySettings(values, env, provider.canRenewRefreshToken, config);
  cli.secrets.remember(...settings.targets.flatMap((t) => t.secrets));
  if (settings.targets.length === 0) return undefined;
  return createNotifier({
    targets: settings.targets,
    store,
    profile: config.profile,
    provider: config.provider,
    thresholdsMs: settings.thresholdsMs,
    failingAfterMs: settings.failingAfterMs,
    loginCommand: notifyLoginCommand(config.profile, values),
    log,
    ...(reloginUrl === undefined ? {} : { reloginUrl }),
  });
}
