/**
 * `td-token logout`: forget the profile's stored token.
 *
 * @internal
 * @module
 */
import { describeStore } from '../../config/store.js';
import { openContext } from '../context.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT, say } from '../io.js';
import type { CommandContext } from '../world.js';

export const spec: CommandSpec = {
  name: 'logout',
  summary: "Forget the profile's stored token (the store keeps nothing for it afterwards).",
  usage: 'td-token logout [flags]',
  options: {},
  help: `Neither provider offers a way to revoke a token, so the tokens stay valid at the provider until
they expire (access 30 minutes; refresh 90 days TD, 7 days Schwab). To cut access at once, remove
the app's access in the provider's account settings.

exit codes: 0 logged out (or nothing was stored); 1 failed; 2 usage or configuration.`,
};

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const ctx = await openContext(cli, io, args.values, { offline: true });
  try {
    let had = true;
    try {
      had = (await ctx.manager.peek()) !== undefined;
    } catch {
      // A corrupt record: logging out removes it all the same.
    }
    await ctx.manager.logout();
    const where = describeStore(ctx.config.store);
    say(
      io,
      had
        ? `logged out of profile ${ctx.config.profile}: removed its token from ${where}`
        : `profile ${ctx.config.profile} was not logged in (nothing stored in ${where})`,
    );
    return EXIT.ok;
  } finally {
    await ctx.close();
  }
}
