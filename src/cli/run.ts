/**
 * The command line: finds the command, parses its flags (the global ones plus its own), and runs
 * it. Command modules are imported only when chosen, so `td-token token` loads neither the login
 * server nor the sandbox.
 *
 * @internal
 * @module
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { reportError, UsageError } from './failure.js';
import { fixCommand } from './fix-command.js';
import type { CliIO, CommandArgs, CommandModule, CommandSpec, OptionTable } from './io.js';
import { EXIT } from './io.js';
import { GLOBAL_HELP, GLOBAL_OPTIONS, GLOBAL_VALUE_FLAGS } from './options.js';
import { type CliDeps, commandContext } from './world.js';

interface CommandEntry {
  summary: string;
  load: () => Promise<CommandModule>;
}

/** The commands, in the order the help lists them. */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  login: {
    summary: 'log in through the browser (--manual: paste the redirected URL instead)',
    load: () => import('./commands/login.js'),
  },
  token: {
    summary: 'print a valid access token (refreshing first when needed)',
    load: () => import('./commands/token.js'),
  },
  refresh: {
    summary: 'refresh the access token now if it needs it (--force: always); safe from cron',
    load: () => import('./commands/refresh.js'),
  },
  status: {
    summary: 'show the login, its expiry, whether the API accepts it, and what to fix',
    load: () => import('./commands/status.js'),
  },
  logout: {
    summary: "forget the profile's stored token",
    load: () => import('./commands/logout.js'),
  },
  export: {
    summary: 'write the token as a tda-api or schwab-py token file',
    load: () => import('./commands/export.js'),
  },
  import: {
    summary: 'adopt a login schwab-py, tda-api or Schwabdev already holds',
    load: () => import('./commands/import.js'),
  },
  watch: {
    summary: 'keep the token fresh until stopped (a cron-free refresher)',
    load: () => import('./commands/watch.js'),
  },
  serve: {
    summary: 'run the token agent: fresh tokens for local bots over a socket',
    load: () => import('./commands/serve.js'),
  },
  sandbox: {
    summary: 'run the local provider sandbox until stopped',
    load: () => import('./commands/sandbox.js'),
  },
  cert: {
    summary: "show the login server's certificate and how to trust it",
    load: () => import('./commands/cert.js'),
  },
  doctor: {
    summary: 'check the app registration, redirect URI, clock, port, certificate and store',
    load: () => import('./commands/doctor.js'),
  },
};

/** The top-level help. */
export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`);
  return `td-token: OAuth 2.0 login and always-valid access tokens for the TD Ameritrade API and the
Charles Schwab Trader API, with a local sandbox of both.

usage: td-token <command> [flags]
       td-token <command> --help

commands:
${lines.join('\n')}

${GLOBAL_HELP}
  --version              print the version

exit codes: 0 done; 1 failed; 2 usage or configuration error; 3 a person must log in again.
stdout carries data only (the token, JSON); everything for people goes to stderr.

examples:
  td-token login                          with nothing configured: log in to the built-in sandbox
  curl -H "Authorization: Bearer $(td-token token)" https://api.schwabapi.com/trader/v1/accounts/accountNumbers
  td-token login --token-file output/token.json         the seed-era layout
  */10 * * * * td-token refresh --token-file ~/td-token/output/token.json   (crontab)
`;
}

/** Help for one command. */
export function commandHelp(spec: CommandSpec): string {
  return `usage: ${spec.usage}\n\n${spec.summary}\n\n${spec.help.trimEnd()}\n\n${GLOBAL_HELP}\n`;
}

function splitCommand(argv: readonly string[]): { command: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    if (arg.startsWith('-')) {
      if (arg.startsWith('--') && !arg.includes('=') && GLOBAL_VALUE_FLAGS.has(arg.slice(2))) i++;
      continue;
    }
    return { command: arg, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { command: undefined, rest: [...argv] };
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] as number;
}

/** The nearest of `names` to `given` (at most two edits away, and not for tiny words), if any. */
function nearest(given: string, names: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of names) {
    const d = distance(name, given);
    if (d < bestDistance && d < name.length - 1) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

function unknownCommand(name: string): UsageError {
  const near = nearest(name, Object.keys(COMMANDS));
  return new UsageError(`unknown command "${name}"${near ? `. did you mean '${near}'?` : ''}`);
}

function parseError(err: unknown, command: string, options: OptionTable): UsageError {
  const e = err as NodeJS.ErrnoException;
  const message = e.message ?? String(err);
  const quoted = /'([^']+)'/.exec(message)?.[1];
  const help = `td-token ${command} --help`;
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const given = quoted?.split('=')[0];
      const near =
        given?.startsWith('--') === true
          ? nearest(
              given,
              Object.keys(options).map((name) => `--${name}`),
            )
          : undefined;
      return new UsageError(
        `unknown flag ${quoted ?? ''} for 'td-token ${command}'`.replace('  ', ' ') +
          (near ? `. did you mean '${near}'?` : ''),
        help,
      );
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const flag = quoted?.split(' ')[0] ?? 'a flag';
      return /argument missing/.test(message)
        ? new UsageError(`${flag} needs a value`, help)
        : new UsageError(`${flag} takes no value`, help);
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(
        `unexpected argument ${quoted ? `"${quoted}"` : ''} for 'td-token ${command}'`,
        help,
      );
    default:
      return new UsageError(message, help);
  }
}

/** What the process entry gives `main`: the world's dependencies (the real ones where missing). */
export type MainOptions = Partial<CliDeps>;

async function version(): Promise<string> {
  const pkg = JSON.parse(
    await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
  ) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Run the command line `argv` (without `node` and the script) in the world `deps` (the real one
 * where a dependency is not given: tests give a sandbox starter, a clock, a fetch of their own).
 * Resolves with the exit code.
 */
export async function main(
  argv: readonly string[],
  io: CliIO,
  deps: Partial<CliDeps> = {},
): Promise<number> {
  const cli = commandContext(deps);
  const { command, rest } = splitCommand(argv);
  try {
    if (command === undefined) {
      const { values } = parseArgs({
        args: rest,
        options: GLOBAL_OPTIONS,
        strict: true,
        allowPositionals: false,
      });
      if (values['version']) {
        io.stdout.write(`${await version()}\n`);
        return EXIT.ok;
      }
      if (values['help']) {
        io.stdout.write(mainHelp());
        return EXIT.ok;
      }
      io.stderr.write(mainHelp());
      io.stderr.write(`\ntd-token: no command given\n`);
      return EXIT.usage;
    }
    const entry = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (entry === undefined) {
      if (command === 'help') {
        io.stdout.write(mainHelp());
        return EXIT.ok;
      }
      throw unknownCommand(command);
    }
    const mod = await entry.load();
    let args: CommandArgs;
    const options = { ...GLOBAL_OPTIONS, ...mod.spec.options };
    try {
      const parsed = parseArgs({ args: rest, options, strict: true, allowPositionals: false });
      args = { values: parsed.values as CommandArgs['values'], positionals: parsed.positionals };
    } catch (err) {
      throw parseError(err, command, options);
    }
    cli.loginCommand = fixCommand('login', args.values);
    if (args.values['help']) {
      io.stdout.write(commandHelp(mod.spec));
      return EXIT.ok;
    }
    if (args.values['version']) {
      io.stdout.write(`${await version()}\n`);
      return EXIT.ok;
    }
    const installSignals = cli.deps.installSignals;
    const runIO: CliIO =
      mod.spec.handlesSignals && installSignals ? { ...io, signal: installSignals() } : io;
    return await mod.run(runIO, args, cli);
  } catch (err) {
    return reportError(io, err, cli);
  }
}
