/**
 * `td-token doctor`: checks the configuration, the provider's view of the app, and this
 * computer, each with a pass/fail line and the fix.
 *
 * @internal
 * @module
 */
import { runDoctor } from '../../doctor/index.js';
import { storeSpec } from '../config-load.js';
import { openContext } from '../context.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT, say } from '../io.js';
import { type CommandContext, loadConfig } from '../world.js';

export const spec: CommandSpec = {
  name: 'doctor',
  summary: 'Check the app registration, redirect URI, clock, port, certificate and store.',
  usage: 'td-token doctor [--json] [flags]',
  options: {
    json: { type: 'boolean' },
  },
  help: `Runs these checks without logging in, each with a pass/fail line and the fix:
  redirect-uri     the redirect URI's shape: https, 127.0.0.1 for Schwab (not localhost),
                   lower-case scheme and host
  authorize        the provider's authorization endpoint, asked with the configured app and
                   redirect URI: an unknown app key, an app not "Ready For Use" yet, or a
                   redirect URI that differs from the registered one (doctor also tries a
                   trailing slash, lower case and localhost/127.0.0.1, and names the one that works)
  app-credentials  the token endpoint, sent a made-up refresh token: refused as a token (the
                   app key and secret are right) or as a client (they are wrong)
  clock            this computer's clock against the provider's Date header (30 s at most)
  port             the login server can listen on the redirect URI's host and port
  certificate      the login server's certificate is trusted here (or the command that trusts it)
  config-folder    the config folder is 0700
  store-modes      the token file (or SQLite file) is 0600 in a folder others cannot write
  store            the store answers (Redis connects, SQLite opens) and its record can be read

  --json           print {"ok", "checks": [{"name", "ok", "detail", "fix"}]} on stdout

exit codes: 0 every check passed; 1 a check failed; 2 usage or configuration.`,
};

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const v = args.values;
  const config = await loadConfig(cli, io, v);
  // The provider (and, for a sandbox-* provider, its sandbox) as every command gets them; the
  // store is checked on its own, so that an unreachable one is a finding, not a failure to start.
  const ctx = await openContext(cli, io, v, { config: { ...config, store: { kind: 'memory' } } });
  let results: Awaited<ReturnType<typeof runDoctor>>;
  try {
    results = await runDoctor({
      config,
      provider: ctx.provider,
      storeSpec: storeSpec(config.store, io),
      env: io.env,
    });
  } finally {
    await ctx.close();
  }
  const ok = results.every((r) => r.ok);
  if (v['json'] === true) {
    io.stdout.write(`${JSON.stringify({ ok, checks: results }, null, 2)}\n`);
  } else {
    say(io, `td-token doctor: profile ${config.profile}, provider ${config.provider}`);
    const width = Math.max(...results.map((r) => r.name.length));
    for (const r of results) {
      say(io, `  ${r.ok ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(width)}  ${r.detail}`);
      if (!r.ok) say(io, `        ${' '.repeat(width)}  fix: ${r.fix}`);
    }
    const failed = results.filter((r) => !r.ok).length;
    say(
      io,
      failed === 0
        ? `all ${results.length} checks passed`
        : `${failed} of ${results.length} checks failed`,
    );
  }
  return ok ? EXIT.ok : EXIT.failed;
}
