/**
 * `td-token export --format tda-api|schwab-py [--out PATH]`: the token in those Python
 * libraries' token-file shapes.
 *
 * @internal
 * @module
 */
import { resolve } from 'node:path';
import { writePrivateFile } from '../../stores/atomic-file.js';
import { openContext } from '../context.js';
import { EXPORT_FORMATS, type ExportFormat, exportToken } from '../export-formats.js';
import { UsageError } from '../failure.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT, say } from '../io.js';
import type { CommandContext } from '../world.js';

export const spec: CommandSpec = {
  name: 'export',
  summary: "Write the token in a Python library's token-file shape (tda-api or schwab-py).",
  usage: 'td-token export --format tda-api|schwab-py [--out PATH] [flags]',
  options: { format: { type: 'string' }, out: { type: 'string' } },
  help: `flags:
  --format F   tda-api or schwab-py
  --out PATH   write the file here (mode 0600) instead of to stdout

The access token is refreshed first when it has less than 5 minutes left. Both files are
{"creation_timestamp": <seconds>, "token": {access_token, refresh_token, scope, expires_in,
token_type, expires_at (seconds)}}; tda-api's also has refresh_token_expires_in. Load them with
tda.auth.client_from_token_file(path, api_key) or schwab.auth.client_from_token_file(path,
api_key, app_secret).

The Python library refreshes the token by itself and does not tell td-token. That is harmless for
Schwab (refreshing does not change the refresh token); for TD, a refresh token renewal by either
side can end the other's copy, so export again after 'td-token refresh' renews it, or let the bot
only read a file td-token keeps fresh (e.g. 'td-token export ... --out' from cron).

exit codes: 0 written; 1 failed; 2 usage or configuration; 3 a person must log in again.`,
};

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const format = args.values['format'];
  if (typeof format !== 'string') {
    throw new UsageError(`export needs --format ${EXPORT_FORMATS.join('|')}`);
  }
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format is "${format}"; use ${EXPORT_FORMATS.join(' or ')}`);
  }
  const out = args.values['out'];
  if (out !== undefined && (typeof out !== 'string' || out.trim() === '')) {
    throw new UsageError('--out needs a file path');
  }
  const ctx = await openContext(cli, io, args.values);
  try {
    const record = await ctx.manager.getToken();
    cli.secrets.remember(record.access_token, record.refresh_token);
    const text = exportToken(record, format as ExportFormat);
    if (typeof out === 'string') {
      const path = resolve(io.cwd, out);
      await writePrivateFile(path, text, `the ${format} token file`);
      say(io, `wrote the ${format} token file ${path}`);
    } else {
      io.stdout.write(text);
    }
    return EXIT.ok;
  } finally {
    await ctx.close();
  }
}
