/**
 * `td-token login`: log a person in through the local HTTPS login server (or, with `--manual`,
 * by pasting the redirected URL) and store the token.
 *
 * @internal
 * @module
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describeStore } from '../../config.js';
import { ConfigError } from '../../errors.js';
import type { TokenRecord } from '../../token.js';
import { openContext } from '../context.js';
import { parseDuration } from '../duration.js';
import { UsageError } from '../failure.js';
import { timeLeft, when } from '../format.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT, say, warn } from '../io.js';
import type { CommandContext } from '../world.js';

export const spec: CommandSpec = {
  name: 'login',
  summary: 'Log in through the browser and store the token (--manual: paste the redirected URL).',
  usage:
    'td-token login [--manual] [--no-browser] [--keep-running] [--timeout 5m] [--cert PATH --key PATH] [flags]',
  options: {
    manual: { type: 'boolean' },
    'no-browser': { type: 'boolean' },
    'keep-running': { type: 'boolean' },
    timeout: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
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

The login server listens on the redirect URI's host and port (TD https://localhost:8000, Schwab
https://127.0.0.1:8182 by default), on this machine only, with td-token's own certificate unless
--cert/--key are given (see 'td-token cert'). The address it prints and opens carries a secret
made for this run: only a request with it starts a login or sees the status page's buttons. It
always logs in through the browser, even when a login is stored; 'td-token refresh' renews
without one.

The seed-era layout: td-token login --token-file output/token.json

With no client id configured, it logs in to the sandbox: a running 'td-token sandbox' if there is
one, else a sandbox started inside this command. Either keeps the tokens it issues in the config
folder's sandbox/<flavor>-state.json, so 'td-token token', 'status' and 'refresh' keep working
afterwards, with or without a 'td-token sandbox' running.

exit codes: 0 logged in; 1 failed (Deny, a failed exchange, timeout); 2 usage or configuration.`,
};

async function readPem(path: string, flag: string, cwd: string): Promise<string> {
  try {
    return await readFile(resolve(cwd, path), 'utf8');
  } catch (cause) {
    throw new ConfigError(
      `${flag} ${path} cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'}). give the path of a PEM file`,
      { cause },
    );
  }
}

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const v = args.values;
  const timeoutMs =
    typeof v['timeout'] === 'string' ? parseDuration(v['timeout'], '--timeout') : undefined;
  const certFlag = v['cert'];
  const keyFlag = v['key'];
  if ((certFlag === undefined) !== (keyFlag === undefined)) {
    throw new UsageError(
      "--cert and --key go together: give both, or neither to use td-token's own certificate",
    );
  }
  if (v['manual'] === true && (certFlag !== undefined || v['keep-running'] === true)) {
    throw new UsageError(
      '--manual runs no login server, so --cert, --key and --keep-running do not apply',
    );
  }
  let cert: { cert: string; key: string } | undefined;
  if (typeof certFlag === 'string' && typeof keyFlag === 'string') {
    cert = {
      cert: await readPem(certFlag, '--cert', io.cwd),
      key: await readPem(keyFlag, '--key', io.cwd),
    };
  }

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
    let record: TokenRecord;
    if (v['manual'] === true) {
      const { manualLogin } = await import('../../login/manual.js');
      record = await manualLogin(provider, {
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
        onToken: (r) => {
          cli.secrets.remember(r.access_token, r.refresh_token);
          return manager.saveLogin(r);
        },
        openBrowser: v['no-browser'] !== true,
        timeoutMs,
        keepRunning: v['keep-running'] === true,
        cert,
        certDir: config.certDir,
        log: (line) => say(io, line),
        manager,
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
