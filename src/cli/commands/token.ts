/**
 * `td-token token`: the access token and a newline on stdout, nothing else, refreshing first
 * when needed; so `curl -H "Authorization: Bearer $(td-token token)"` works.
 *
 * @internal
 * @module
 */
import { existsSync } from 'node:fs';
import type { AgentToken } from '../../agent/client.js';
import { defaultSocketPath } from '../../agent/paths.js';
import type { ResolvedConfig } from '../../config/resolve.js';
import { describeStore } from '../../config/store.js';
import { isAccessTokenFresh, type TokenRecord } from '../../token.js';
import { storeSpec } from '../config-load.js';
import { fixCommand } from '../fix-command.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT } from '../io.js';
import { warnIfRefreshEnding } from '../refresh-warning.js';
import { type CommandContext, loadConfig } from '../world.js';

export const spec: CommandSpec = {
  name: 'token',
  summary: 'Print a valid access token and a newline on stdout, refreshing it first when needed.',
  usage: 'td-token token [--no-agent] [flags]',
  options: { 'no-agent': { type: 'boolean' } },
  help: `The token printed stays valid for at least 5 more minutes. Nothing else goes to stdout, so
  curl -H "Authorization: Bearer $(td-token token)" https://api.schwabapi.com/trader/v1/accounts/accountNumbers
works. Warnings (a refresh token that ends within 48 hours) go to stderr.

When a 'td-token serve' agent answers on the default socket and serves this profile from the same
store, the token comes from it (no store read, no refresh of our own); --no-agent skips asking.

With a sandbox provider and no 'td-token sandbox' running, a refresh goes to a sandbox started
inside this command, which knows the tokens every td-token sandbox issued (they are kept in the
config folder's sandbox/<flavor>-state.json).

exit codes: 0 printed; 1 failed (provider down, store unreadable); 2 usage or configuration;
3 a person must log in again (no token stored, refresh token expired or revoked).`,
};

/** The token manager's default margin: a token handed out stays valid this much longer. */
const MARGIN_MS = 5 * 60_000;

/**
 * The token from a running agent on the default socket when it serves this profile from this
 * store; undefined (at once when no socket exists) otherwise.
 */
async function askAgent(io: CliIO, config: ResolvedConfig): Promise<AgentToken | undefined> {
  const socketPath = defaultSocketPath(io.env, config.configDir);
  if (!existsSync(socketPath)) return undefined;
  const { tokenFromAgent } = await import('../../agent/client.js');
  return tokenFromAgent(socketPath, config.profile, describeStore(config.store));
}

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const config = await loadConfig(cli, io, args.values);
  const loginCommand = fixCommand('login', args.values);
  if (args.values['no-agent'] !== true && config.store.kind !== 'memory') {
    const fromAgent = await askAgent(io, config);
    if (fromAgent !== undefined) {
      cli.secrets.remember(fromAgent.accessToken);
      io.stdout.write(`${fromAgent.accessToken}\n`);
      warnIfRefreshEnding(
        io,
        { refresh_token_expires_at: fromAgent.refreshTokenExpiresAt } as TokenRecord,
        cli.deps.now(),
        loginCommand,
      );
      return EXIT.ok;
    }
  }
  // The hot path: a fresh token in the store is printed without loading the provider, OAuth
  // and token manager modules at all (start-up time is what a shell substitution waits for), nor
  // starting a sandbox for a sandbox provider.
  const store = await cli.deps.createStore(storeSpec(config.store, io));
  let stored: TokenRecord | undefined;
  try {
    stored = await store.load();
  } finally {
    await store.close();
  }
  if (stored) cli.secrets.remember(stored.access_token, stored.refresh_token);
  if (stored && isAccessTokenFresh(stored, cli.deps.now(), MARGIN_MS)) {
    io.stdout.write(`${stored.access_token}\n`);
    warnIfRefreshEnding(io, stored, cli.deps.now(), loginCommand);
    return EXIT.ok;
  }
  const { openContext } = await import('../context.js');
  const ctx = await openContext(cli, io, args.values, { config });
  try {
    const { manager } = ctx;
    const record = await manager.getToken();
    cli.secrets.remember(record.access_token, record.refresh_token);
    io.stdout.write(`${record.access_token}\n`);
    warnIfRefreshEnding(io, record, manager.now(), loginCommand);
    return EXIT.ok;
  } finally {
    await ctx.close();
  }
}
