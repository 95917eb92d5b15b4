/**
 * `td-token sandbox`: run the local provider sandbox until SIGINT or SIGTERM. While it runs,
 * td-token commands whose provider is `sandbox-*` (the default with no client id) use it.
 *
 * @internal
 * @module
 */
import type { ResolvedConfig } from '../../config/resolve.js';
import { ensureCertificate } from '../../login/cert.js';
import { DEFAULT_SANDBOX_FLAVOR } from '../../providers/defaults.js';
import {
  readRunningSandbox,
  removeSandboxRecord,
  type SandboxRecord,
  sandboxRecordFile,
  sandboxStateFile,
  writeSandboxRecord,
} from '../../sandbox-registry.js';
import { UsageError } from '../failure.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT, say, warn } from '../io.js';
import type { CommandContext } from '../world.js';

type Flavor = 'tdameritrade' | 'schwab';

export const spec: CommandSpec = {
  name: 'sandbox',
  summary:
    'Run the local sandbox of the TD Ameritrade or Schwab OAuth server and API until stopped.',
  usage: 'td-token sandbox [--flavor tdameritrade|schwab] [--port N] [--https] [flags]',
  options: {
    flavor: { type: 'string' },
    port: { type: 'string' },
    https: { type: 'boolean' },
  },
  handlesSignals: true,
  help: `flags:
  --flavor F   tdameritrade or schwab (default: the flavor of a sandbox-* --provider, else schwab)
  --port N     listen on this port of 127.0.0.1 (default: any free port)
  --https      serve HTTPS with td-token's localhost certificate (see 'td-token cert'); Node
               programs then need NODE_EXTRA_CA_CERTS set to that certificate

Prints its URLs and the default app's credentials on stderr, and one JSON line with the URLs
({flavor, pid, url, authorizeUrl, tokenUrl, apiUrl}) on stdout. Any user name and password log in.

While it runs, td-token commands whose provider is sandbox-<flavor> and that are given no
endpoints use it (the default with no client id configured: sandbox-schwab); when none runs,
each such command starts a sandbox inside itself. Both keep the tokens they issue in the config
folder's sandbox/<flavor>-state.json, so tokens from either keep working with the other and
after a restart (delete that file to forget them all). Run it to watch the sandbox's pages, or
for programs of your own, which can use the printed URLs (TD_TOKEN_TOKEN_URL, TD_TOKEN_API_URL,
TD_TOKEN_AUTHORIZE_URL). Besides its default app, it registers the configured app (client id,
secret, redirect URI) when the configured provider is sandbox-<flavor>.

Stops on Ctrl-C (SIGINT) or SIGTERM. exit codes: 0 stopped; 1 failed to start; 2 usage.`,
};

/** The flavor to run, and the configuration when its provider is that sandbox flavor. */
async function flavorOf(
  io: CliIO,
  args: CommandArgs,
  cli: CommandContext,
): Promise<{ flavor: Flavor; config: ResolvedConfig | undefined }> {
  const given = args.values['flavor'];
  let flavor: Flavor | undefined;
  if (typeof given === 'string') {
    const v = given.toLowerCase();
    if (v !== 'tdameritrade' && v !== 'schwab') {
      throw new UsageError(`--flavor is "${given}"; use tdameritrade or schwab`);
    }
    flavor = v;
  }
  let config: ResolvedConfig | undefined;
  try {
    config = await cli.deps.resolveConfig({ flags: args.values, env: io.env, cwd: io.cwd });
  } catch {
    // The sandbox needs no configuration; a broken one only loses the flavor hint and its app.
  }
  flavor ??= config?.sandboxFlavor ?? DEFAULT_SANDBOX_FLAVOR;
  return { flavor, config: config?.sandboxFlavor === flavor ? config : undefined };
}

function portOf(args: CommandArgs): number {
  const given = args.values['port'];
  if (given === undefined) return 0;
  const port = typeof given === 'string' && /^\d+$/.test(given) ? Number(given) : Number.NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port is "${String(given)}"; give a port number from 0 to 65535`);
  }
  return port;
}

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const { flavor, config } = await flavorOf(io, args, cli);
  const port = portOf(args);
  const { configDir } = await import('../../paths.js');
  const dir = configDir(io.env);
  const { SANDBOX_DEFAULT_APPS } = await import('../../sandbox/index.js');
  let https: boolean | { cert: string; key: string } = false;
  let certPath: string | undefined;
  if (args.values['https'] === true) {
    const files = await ensureCertificate(`${dir}/certs`);
    https = { cert: files.cert, key: files.key };
    certPath = files.certPath;
  }
  const { sandbox, ownApp } = await cli.deps.startSandbox(dir, flavor, config, { port, https });
  const recordPath = sandboxRecordFile(dir, flavor);
  try {
    const previous = await readRunningSandbox(recordPath);
    if (previous && previous.pid !== process.pid) {
      warn(
        io,
        `another ${flavor} sandbox runs at ${previous.url} (pid ${previous.pid}); td-token commands now use this one`,
      );
    }
    const record: SandboxRecord = {
      pid: process.pid,
      flavor,
      url: sandbox.url,
      authorizeUrl: sandbox.authorizeUrl,
      tokenUrl: sandbox.tokenUrl,
      apiUrl: sandbox.apiUrl,
      startedAt: new Date().toISOString(),
    };
    await writeSandboxRecord(recordPath, record);
    const app = SANDBOX_DEFAULT_APPS[flavor];
    say(io, `td-token sandbox (${flavor} flavor) is listening on ${sandbox.url}`);
    say(io, `  authorize URL:  ${sandbox.authorizeUrl}`);
    say(io, `  token URL:      ${sandbox.tokenUrl}`);
    say(io, `  API URL:        ${sandbox.apiUrl}`);
    say(io, 'default app:');
    say(
      io,
      `  client id:      ${app.clientId}${flavor === 'tdameritrade' ? ` (sent as ${app.clientId}@AMER.OAUTHAP)` : ''}`,
    );
    if (app.clientSecret !== undefined) say(io, `  client secret:  ${app.clientSecret}`);
    say(io, `  redirect URI:   ${app.redirectUris.join(', ')}`);
    if (ownApp) {
      say(io, 'configured app:');
      say(io, `  client id:      ${ownApp.clientId}`);
      say(io, `  redirect URI:   ${ownApp.redirectUris.join(', ')}`);
    }
    say(io, 'any user name and password log in.');
    if (certPath)
      say(io, `HTTPS certificate: ${certPath} (Node programs: NODE_EXTRA_CA_CERTS=${certPath})`);
    say(io, '');
    say(
      io,
      `td-token commands with provider sandbox-${flavor}${flavor === DEFAULT_SANDBOX_FLAVOR ? ' (the default with no client id configured)' : ''} use this sandbox while it runs:`,
    );
    say(
      io,
      `  ${flavor === DEFAULT_SANDBOX_FLAVOR ? '' : `TD_TOKEN_PROVIDER=sandbox-${flavor} `}td-token login`,
    );
    say(
      io,
      `stop it with Ctrl-C; the tokens it issues are kept in ${sandboxStateFile(dir, flavor)} and keep working after it.`,
    );
    io.stdout.write(
      `${JSON.stringify({ flavor, pid: process.pid, url: sandbox.url, authorizeUrl: sandbox.authorizeUrl, tokenUrl: sandbox.tokenUrl, apiUrl: sandbox.apiUrl })}\n`,
    );
    const signal = io.signal ?? new AbortController().signal;
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    say(io, 'sandbox stopped');
    return EXIT.ok;
  } finally {
    await removeSandboxRecord(recordPath, process.pid).catch(() => {});
    await sandbox.close();
  }
}
