import { describeStore } from '../../config/store.js';
import type { TokenRecord } from '../../token.js';
import { openContext } from '../context.js';
import { parseDuration } from '../duration.js';
import { UsageError } from '../failure.js';
import { fixCommand } from '../fix-command.js';
import { timeLeft, when } from '../format.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT, say, warn } from '../io.js';
import { checkCertFlags, readCertFlags } from '../pem.js';
import type { CommandContext } from '../world.js';

export const spec: CommandSpec = {
  name: 'login',
  summary: 'Log in through the browser and store the token (--manual: paste the redirected URL).',
  usage:
    'td-token login [--manual] [--no-browser] [--keep-running] [--timeout 5m] [--cert PATH --key PATH] [--yes] [flags]\n       td-token login --print-url | --callback-url URL|- | --auth-command CMD [--yes] [flags]',
  options: {
    manual: { type: 'boolean' },
    'no-browser': { type: 'boolean' },
    'keep-running': { type: 'boolean' },
    timeout: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'print-url': { type: 'boolean' },
    'callback-url': { type: 'string' },
    'auth-command': { type: 'string' },
    yes: { type: 'boolean', short: 'y' },
  },
  handlesSignals: true,
  help: `flags:
  --manual          no login server: print the login URL, then read the URL the browser was sent to
                    (copied from its address bar, even though that page did not load) from stdin
  --no-browser      do not open a browser; only print the URL to open
  --keep-running    after the login, keep serving the status page until stopped
  --timeout T       give up after T (seconds, or 90s, 5m, 1h; default 5m)
  --cert PATH       the login server's certificate (PEM), e.g. made by mkcert; needs --key
  --key PATH        its private key (PEM)
  --print-url       step 1 of 2: print the login URL on stdout and keep this login pending (10 min)
  --callback-url U  step 2 of 2: finish it with the address the browser ended on (- reads stdin)
  --auth-command C  run C (a shell command) with the login URL in TD_TOKEN_AUTH_URL and on its
                    stdin; it prints the address the browser ended on (see docs/relogin.md)
  --yes, -y         replace a stored login without asking (see below)

The login server listens on the redirect URI's host and port (TD https://localhost:8000, Schwab
https://127.0.0.1:8182 by default), on this machine only, with td-token's own certificate unless
--cert/--key are given (see 'td-token cert'). The address it prints and opens carries a secret
made for this run: only a request with it starts a login or sees the status page's buttons. It
always logs in through the browser, even when a login is stored; 'td-token refresh' renews
without one. A new login replaces the refresh token every other holder of the stored one uses:
when that one still has more than a day left, login says so first and asks (--yes: do not ask;
with no terminal it goes ahead and says so). A stored login the configured passphrase or key
cannot open is replaced only when confirmed, or with --yes.

The seed-era layout: td-token login --token-file output/token.json

With no client id configured, it logs in to the sandbox: a running 'td-token sandbox' if there is
one, else a sandbox started inside this command. Either keeps the tokens it issues in the config
folder's sandbox/<flavor>-state.json, so 'td-token token', 'status' and 'refresh' keep working
afterwards, with or without a 'td-token sandbox' running.

exit codes: 0 logged in; 1 failed (Deny, a failed exchange, timeout); 2 usage or configuration.`,
};

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const v = args.values;
  const timeoutMs =
    typeof v['timeout'] === 'string' ? parseDuration(v['timeout'], '--timeout') : undefined;
  checkCertFlags(v);
  if (v['manual'] === true && (v['cert'] !== undefined || v['keep-running'] === true)) {
    throw new UsageError(
      '--manual runs no login server, so --cert, --key and --keep-running do not apply',
    );
  }
  const step = (['manual', 'print-url', 'callback-url', 'auth-command'] as const).filter(
    (f) => v[f] !== undefined,
  );
  if (step.length > 1) throw new UsageError(`--${step.join(' and --')} do not go together`);
  if (step.length === 1 && step[0] !== 'manual') {
    for (const f of ['cert', 'key', 'keep-running', 'no-browser', 'manual'] as const) {
      if (v[f] !== undefined)
        throw new UsageError(`--${step[0]} runs no login server, so --${f} does not apply`);
    }
  }
  const cert = await readCertFlags(v, io.cwd);

  const ctx = await openContext(cli, io, v);
  try {
    const { config, provider, manager } = ctx;
    if (ctx.sandbox.kind === 'in-process') {
      say(
        io,
        `logging in to a ${config.sandboxFlavor} sandbox started by this command; it keeps its tokens in ${ctx.sandbox.stateFile} for the commands after it`,
      );
    } else if (ctx.sandbox.kind === 'running') {
      say(io, `logging in to the td-token sandbox at ${ctx.sandbox.record.url}`);
    }
    if (config.store.kind === 'memory') {
      warn(
        io,
        'the memory store keeps the token only while this command runs (TD_STORE_TOKENS=false or --store memory). drop that setting to keep the login',
      );
    }
    // A sandbox is named as one wherever it is the provider, never as the real provider.
    const providerLabel =
      config.sandboxFlavor === undefined
        ? provider.name
        : `the sandbox (${config.sandboxFlavor} flavor)`;
    const { whatLoginReplaces, confirmReplacement } = await import('../../login/replace-guard.js');
    const replaced = await whatLoginReplaces(ctx.store, manager.now());
    // Finishing a two-step login asks only about an unreadable record: --print-url asked the rest.
    await confirmReplacement(
      v['callback-url'] !== undefined && replaced?.kind === 'live' ? undefined : replaced,
      {
        yes: v['yes'] === true,
        isTTY: io.isTTY,
        input: io.stdin,
        output: io.stderr,
        location: describeStore(config.store),
        now: manager.now(),
        signal: io.signal,
      },
    );
    const pendingAt = { configDir: config.configDir, profile: config.profile };
    let record: TokenRecord;
    if (v['print-url'] === true) {
      if (ctx.sandbox.kind === 'in-process') {
        throw new UsageError(
          "--print-url needs the sandbox to outlive this command: start 'td-token sandbox' in another terminal first",
        );
      }
      const { startPendingLogin } = await import('../../login/pending.js');
      const started = await startPendingLogin(provider, pendingAt);
      io.stdout.write(`${started.url.href}\n`);
      say(
        io,
        `open that URL in any browser, log in and press Allow; it then ends on ${provider.redirectUri} (that page may not load). within 10 minutes, and soon (the code in it expires in a minute), run:`,
      );
      say(
        io,
        `  ${fixCommand('login', v)} --callback-url '<the address the browser ended on>'   (or --callback-url - and paste it)`,
      );
      return EXIT.ok;
    } else if (typeof v['callback-url'] === 'string') {
      const { completePendingLogin } = await import('../../login/pending.js');
      const { readCallbackInput } = await import('../../login/remote.js');
      const given = v['callback-url'];
      const url = given === '-' ? await readCallbackInput(io.stdin) : given;
      record = await completePendingLogin(provider, url, { ...pendingAt, signal: io.signal });
      cli.secrets.remember(record.access_token, record.refresh_token);
      await manager.saveLogin(record);
    } else if (typeof v['auth-command'] === 'string') {
      const { remoteLogin } = await import('../../login/remote.js');
      const command = v['auth-command'];
      record = await remoteLogin(provider, {
        command,
        env: io.env,
        cwd: io.cwd,
        timeoutMs,
        stderr: io.stderr,
        signal: io.signal,
      });
      cli.secrets.remember(record.access_token, record.refresh_token);
      await manager.saveLogin(record);
    } else if (v['manual'] === true) {
      const { manualLogin } = await import('../../login/manual.js');
      record = await manualLogin(provider, {
        providerLabel,
        input: io.stdin,
        output: io.stderr,
        isTTY: io.isTTY,
        timeoutMs,
        signal: io.signal,
      });
      cli.secrets.remember(record.access_token, record.refresh_token);
      await manager.saveLogin(record);
    } else {
      const { runLoginServer } = await import('../../login/server.js');
      record = await runLoginServer(provider, {
        providerLabel,
        onToken: (r) => {
          cli.secrets.remember(r.access_token, r.refresh_token);
          return manager.saveLogin(r);
        },
        status: () => manager.peek(),
        refresh: () => manager.refresh({ force: true }),
        openBrowser: v['no-browser'] !== true,
        timeoutMs,
        keepRunning: v['keep-running'] === true,
        cert,
        certDir: config.certDir,
        log: (line) => say(io, line),
        signal: io.signal,
      });
    }
    cli.secrets.remember(record.access_token, record.refresh_token);
    const now = manager.now();
    say(
      io,
      `logged in to ${config.provider} as profile ${config.profile}; the token is stored in ${describeStore(config.store)}`,
    );
    say(
      io,
      `  access token valid until ${when(record.expires_at)} (${timeLeft(record.expires_at, now)})`,
    );
    say(
      io,
      `  refresh token valid until ${when(record.refresh_token_expires_at)} (${timeLeft(record.refresh_token_expires_at, now)})`,
    );
    return EXIT.ok;
  } finally {
    await ctx.close();
  }
}
