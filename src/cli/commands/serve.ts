/**
 * `td-token serve`: the token agent. Keeps each served profile fresh as `watch` does and hands
 * valid tokens to any local program over a Unix socket (and, optionally, loopback HTTP with a
 * bearer secret), until SIGINT or SIGTERM.
 *
 * @internal
 * @module
 */
import { resolve } from 'node:path';
import { defaultSecretPath, defaultSocketPath } from '../../agent/paths.js';
import { ServedProfile } from '../../agent/profile.js';
import { loadOrCreateSecret } from '../../agent/secret.js';
import { type RunningAgent, startAgent } from '../../agent/server.js';
import { describeStore } from '../../config/store.js';
import { createSyncWriter, parseSyncTarget, type SyncTarget } from '../../formats/sync.js';
import { NOTIFY_HELP, NOTIFY_OPTIONS } from '../../notify/cli-options.js';
import type { Notifier } from '../../notify/notifier.js';
import { configDir, resolvePath } from '../../paths.js';
import type { ReloginPage } from '../../relogin/server.js';
import { type Context, openContext } from '../context.js';
import { UsageError } from '../failure.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT, say } from '../io.js';
import { openNotifier } from '../notifier.js';
import { readCertFlags } from '../pem.js';
import type { CommandContext } from '../world.js';

export const spec: CommandSpec = {
  name: 'serve',
  summary:
    'Run the token agent: one process that keeps logins fresh and hands tokens to local bots.',
  usage:
    'td-token serve [--profile P]... [--socket PATH] [--listen 127.0.0.1:PORT] [--secret-file PATH] [--sync FORMAT:PATH]... [--notify TARGET]... [--relogin-listen HOST:PORT [--cert P --key P]] [--on-relogin CMD] [flags]',
  options: {
    profile: { type: 'string', multiple: true },
    socket: { type: 'string' },
    listen: { type: 'string' },
    'secret-file': { type: 'string' },
    'on-relogin': { type: 'string' },
    sync: { type: 'string', multiple: true },
    'relogin-listen': { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ...NOTIFY_OPTIONS,
  },
  handlesSignals: true,
  help: `flags:
  --profile P        a profile to serve (repeat for several; the first is the default one)
  --socket PATH      the Unix socket (default $XDG_RUNTIME_DIR/td-token/agent.sock, or
                     <config>/run/agent.sock); its folder is 0700 and the socket 0600
  --listen H:PORT    also answer on loopback HTTP (127.0.0.1 or [::1]; port 0 picks one); every
                     request then needs 'Authorization: Bearer <secret>'
  --secret-file PATH the loopback secret (default <config>/run/agent.secret; made when missing)
  --on-relogin CMD   as for 'td-token watch'
${NOTIFY_HELP}
  --relogin-listen H:PORT
                     serve the phone re-login page on this address (the one surface td-token
                     allows off loopback; TLS only, one-time links); the notifications of a
                     needed login carry a fresh link. See docs/relogin-phone.md
  --cert P --key P   the page's certificate and key (default td-token's own; check the
                     fingerprint printed beside each link)
  --sync F:PATH      keep another library's token store in step with the (first) profile's login,
                     rewritten at start and after every refresh (repeatable): schwab-py:PATH,
                     tda-api:PATH (JSON files, replaced atomically, 0600) or schwabdev:PATH
                     (Schwabdev 4's unencrypted tokens_db, one SQLite transaction)

Routes (HTTP/1.1, keep-alive): GET /v1/token[?profile=P] (JSON, or the bare token with
'Accept: text/plain'), /v1/status, /healthz, /metrics (Prometheus). For a shell:
  curl -s --unix-socket "$SOCK" -H 'Accept: text/plain' http://agent/v1/token
Each profile is kept fresh exactly as 'td-token watch' keeps it, through its own store and lock,
so agents and other td-token processes sharing a store refresh once per expiry. Logs one JSON
object per line on stdout (never a token). Stops cleanly on SIGINT and SIGTERM. See docs/agent.md.

exit codes: 0 stopped by a signal; 1 failed; 2 usage or configuration (an agent already answers
on the socket); 3 a person must log in.`,
};

/** `HOST:PORT` of `--listen`, brackets around an IPv6 host. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65_535) {
    throw new UsageError(`--listen is "${text}"; use 127.0.0.1:PORT (0 picks a free port)`);
  }
  return { host: (match[1] ?? match[2]) as string, port };
}

function stringFlag(args: CommandArgs, name: string): string | undefined {
  const value = args.values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new UsageError(`--${name} needs a value`);
  }
  return value;
}

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const values = args.values as Record<string, unknown>;
  const profileFlag = values['profile'];
  const profiles: (string | undefined)[] =
    Array.isArray(profileFlag) && profileFlag.length > 0
      ? [...new Set(profileFlag as string[])]
      : [undefined];
  const socketFlag = stringFlag(args, 'socket');
  const listenFlag = stringFlag(args, 'listen');
  const secretFlag = stringFlag(args, 'secret-file');
  const onRelogin = stringFlag(args, 'on-relogin');
  const listen = listenFlag === undefined ? undefined : parseListen(listenFlag);
  const reloginListen = stringFlag(args, 'relogin-listen');
  const reloginCert = await readCertFlags(values, io.cwd);
  if (reloginCert !== undefined && reloginListen === undefined) {
    throw new UsageError(
      '--cert and --key are for --relogin-listen: give it too, or leave them out',
    );
  }
  const syncFlag = values['sync'];
  const syncTargets: SyncTarget[] = (Array.isArray(syncFlag) ? (syncFlag as string[]) : []).map(
    (text) => parseSyncTarget(text, (p) => resolvePath(p, io.cwd, io.env)),
  );

  const log = (line: Record<string, unknown>): void => {
    io.stdout.write(`${JSON.stringify(line)}\n`);
  };
  const contexts: Context[] = [];
  const notifiers: (Notifier | undefined)[] = [];
  let relogin: ReloginPage | undefined;
  let agent: RunningAgent | undefined;
  try {
    const served: ServedProfile[] = [];
    for (const profile of profiles) {
      const flags: Record<string, string | boolean | undefined> = { ...args.values, profile };
      const ctx = await openContext(cli, io, flags);
      contexts.push(ctx);
      const { config } = ctx;
      served.push(
        new ServedProfile(
          {
            name: config.profile,
            provider: config.provider,
            storeKind: config.store.kind,
            store: describeStore(config.store),
          },
          ctx.manager,
        ),
      );
    }
    if (syncTargets.length > 0) {
      const first = served[0] as ServedProfile;
      first.onRecord(createSyncWriter(syncTargets, log, first.info.name));
    }
    const first = contexts[0] as Context;
    if (reloginListen !== undefined) {
      const { startReloginPage } = await import('../../relogin/server.js');
      relogin = await startReloginPage({
        provider: first.provider,
        listen: reloginListen,
        sandbox: first.config.sandboxFlavor !== undefined,
        onToken: (record) => {
          cli.secrets.remember(record.access_token, record.refresh_token);
          return first.manager.saveLogin(record);
        },
        cert: reloginCert,
        certDir: first.config.certDir,
        log: (message) =>
          log({ time: new Date().toISOString(), level: 'info', event: 'relogin_page', message }),
      });
      say(
        io,
        `td-token agent: re-login page ${relogin.url} (certificate SHA-256 ${relogin.fingerprint})`,
      );
    }
    const page = relogin;
    for (const [i, ctx] of contexts.entries()) {
      notifiers.push(
        openNotifier(
          cli,
          ctx,
          args.values,
          io.env,
          (level, event, fields) =>
            log({ time: new Date().toISOString(), level, event, ...fields }),
          // The page completes logins of the first profile only.
          page !== undefined && i === 0 ? () => page.newLink() : undefined,
        ),
      );
    }
    const cfgDir = first.config.configDir ?? configDir(io.env);
    const socketPath =
      socketFlag === undefined ? defaultSocketPath(io.env, cfgDir) : resolve(io.cwd, socketFlag);
    let secretFile: string | undefined;
    let listenWith: { host: string; port: number; secret: string } | undefined;
    if (listen !== undefined) {
      secretFile =
        secretFlag === undefined ? defaultSecretPath(cfgDir) : resolve(io.cwd, secretFlag);
      const { secret } = await loadOrCreateSecret(secretFile);
      listenWith = { ...listen, secret };
    }
    agent = await startAgent({
      profiles: served,
      now: Date.now,
      socketPath,
      ownSocketFolder: socketFlag === undefined,
      ...(listenWith === undefined ? {} : { listen: listenWith }),
    });
    const now = (): string => new Date().toISOString();
    log({
      time: now(),
      level: 'info',
      event: 'agent_listening',
      socket: agent.socketPath,
      ...(agent.address === undefined ? {} : { address: `http://${agent.address}`, secretFile }),
      profiles: served.map((p) => p.info.name),
    });
    say(io, `td-token agent: socket ${agent.socketPath}`);
    if (agent.address !== undefined) {
      say(io, `td-token agent: http://${agent.address}/ (bearer secret in ${secretFile})`);
    }
    const signal = io.signal;
    const stopping = new Promise<void>((done) => {
      if (signal === undefined) return;
      if (signal.aborted) done();
      else signal.addEventListener('abort', () => done(), { once: true });
    });
    const running = agent;
    const closed = stopping.then(() => running.close());
    await Promise.all([
      ...served.map((p, i) =>
        p.keepFresh({
          log,
          ...(notifiers[i] === undefined ? {} : { notifier: notifiers[i] }),
          ...(signal === undefined ? {} : { signal }),
          ...(onRelogin === undefined ? {} : { onReloginDue: onRelogin }),
        }),
      ),
      closed,
    ]);
    log({ time: now(), level: 'info', event: 'agent_stopped', socket: agent.socketPath });
    return EXIT.ok;
  } finally {
    await agent?.close();
    await relogin?.close();
    for (const notifier of notifiers) await notifier?.close();
    for (const ctx of contexts.reverse()) await ctx.close();
  }
}
