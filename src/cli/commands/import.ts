/**
 * `td-token import --from schwab-py|tda-api|schwabdev --file PATH`: adopt a login another
 * library already holds, with no new browser login (so nothing is clobbered). The refresh token's
 * real expiry is kept; an expired or malformed file changes nothing in the profile's store.
 *
 * @internal
 * @module
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../../errors.js';
import { fromPythonTokenFile } from '../../formats/python-json.js';
import { readSchwabdev } from '../../formats/schwabdev.js';
import { SYNC_FORMATS, type SyncFormat } from '../../formats/sync.js';
import { resolvePath } from '../../paths.js';
import { validateTokenRecord } from '../../token.js';
import { openContext } from '../context.js';
import { UsageError } from '../failure.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT, say } from '../io.js';
import type { CommandContext } from '../world.js';

export const spec: CommandSpec = {
  name: 'import',
  summary:
    "Adopt a login a Python library already holds (schwab-py, tda-api, Schwabdev's tokens_db).",
  usage: 'td-token import --from schwab-py|tda-api|schwabdev --file PATH [flags]',
  options: { from: { type: 'string' }, file: { type: 'string' } },
  help: `flags:
  --from F     schwab-py or tda-api (their JSON token file), or schwabdev (Schwabdev 4's
               unencrypted tokens_db)
  --file PATH  the file to read

Saves the login into the profile's store without a browser login, keeping the refresh token's
real expiry (schwab-py: creation_timestamp + 7 days; tda-api: creation_timestamp +
refresh_token_expires_in; Schwabdev: refresh_token_issued + 7 days). An expired or unreadable
file is an error and leaves the store as it was. See docs/agent.md.

exit codes: 0 imported; 1 failed; 2 usage, configuration or an unusable file.`,
};

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const from = args.values['from'];
  const file = args.values['file'];
  if (typeof from !== 'string' || !(SYNC_FORMATS as readonly string[]).includes(from)) {
    throw new UsageError(`import needs --from ${SYNC_FORMATS.join('|')}`);
  }
  if (typeof file !== 'string' || file.trim() === '') {
    throw new UsageError('import needs --file PATH');
  }
  const path = resolvePath(file, io.cwd, io.env);
  const format = from as SyncFormat;
  let record =
    format === 'schwabdev'
      ? await readSchwabdev(path)
      : fromPythonTokenFile(
          await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
            throw new ConfigError(
              `could not read ${path} (${err.code ?? err.message}). Check the path of the ${format} token file.`,
            );
          }),
          format,
          path,
        );
  cli.secrets.remember(record.access_token, record.refresh_token);
  const now = Date.now();
  if (record.refresh_token_expires_at <= now) {
    throw new ConfigError(
      `the refresh token in ${path} expired at ${new Date(record.refresh_token_expires_at).toISOString()}; nothing was imported. Log in with 'td-token login' instead.`,
    );
  }
  const ctx = await openContext(cli, io, args.values, { offline: true });
  try {
    record = validateTokenRecord({ ...record, provider: ctx.provider.name, version: 1 }, path);
    await ctx.manager.saveLogin(record);
    say(
      io,
      `imported the ${format} login from ${path} into ${ctx.store.location}; the refresh token expires ${new Date(record.refresh_token_expires_at).toISOString()}`,
    );
    return EXIT.ok;
  } finally {
    await ctx.close();
  }
}
