/**
 * The local sandboxes of the config folder's `sandbox/` folder, shared by the command line and
 * `openTokenManager({ provider: 'sandbox-schwab' })`:
 * - how `td-token sandbox` tells the other commands where it runs: a small record per flavor
 *   (`sandbox/<flavor>.json`, mode 0600), written when it starts and removed when it stops.
 *   Commands whose provider is `sandbox-*` and that were given no endpoints use the running
 *   sandbox it names, so `td-token sandbox` in one terminal and `td-token login` / `token` /
 *   `refresh` in another work with no configuration at all;
 * - where every sandbox the CLI starts (`td-token sandbox`, or one a command starts inside itself
 *   when none runs) keeps the tokens it issued (`sandbox/<flavor>-state.json`), so that tokens
 *   from one keep working with the next.
 *
 * @internal
 * @module
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from './errors.js';
import type { Sandbox, SandboxApp } from './sandbox/index.js';
import { writePrivateFile } from './stores/atomic-file.js';
import { isProcessAlive } from './stores/host-id.js';

type Flavor = 'tdameritrade' | 'schwab';

/** The record file of a flavor's sandbox inside a config folder. */
export function sandboxRecordFile(configDir: string, flavor: Flavor): string {
  return join(configDir, 'sandbox', `${flavor}.json`);
}

/** The state file every CLI sandbox of a flavor keeps its tokens in, inside a config folder. */
export function sandboxStateFile(configDir: string, flavor: Flavor): string {
  return join(configDir, 'sandbox', `${flavor}-state.json`);
}

/** The app a configuration logs in with. */
export interface ConfiguredApp {
  clientId: string;
  clientSecret: string | undefined;
  redirectUri: string;
  /** Where the values came from (a configuration's `sources`), to name them in errors. */
  sources?: { redirectUri?: { name: string } | undefined } | undefined;
}

/** Options of {@link startCliSandbox}. */
export interface CliSandboxOptions {
  port?: number;
  https?: boolean | { cert: string; key: string };
}

/**
 * Start a sandbox keeping its tokens in the config folder's state file, with the flavor's default
 * app and, when `app` differs from it (a client id or redirect URI of one's own), that app too.
 * Returns the sandbox and the app registered besides the default one, if any. An app the
 * sandbox refuses (a Schwab redirect URI not on https://127.0.0.1, say) is a {@link ConfigError}
 * naming the fix, thrown before anything is started.
 */
export async function startCliSandbox(
  configDir: string,
  flavor: Flavor,
  app: ConfiguredApp | undefined,
  options: CliSandboxOptions = {},
): Promise<{ sandbox: Sandbox; ownApp: SandboxApp | undefined }> {
  const { startSandbox, SANDBOX_DEFAULT_APPS } = await import('./sandbox/index.js');
  if (app !== undefined && flavor === 'schwab') {
    const { isSchwabCallbackAllowed } = await import('./sandbox/apps.js');
    if (!isSchwabCallbackAllowed(app.redirectUri)) {
      const from = app.sources?.redirectUri?.name;
      throw new ConfigError(
        `the schwab sandbox, like Schwab, accepts only redirect URIs on https://127.0.0.1 (https://127.0.0.1[:port][/path]), not ${app.redirectUri}${from === undefined ? '' : ` (from ${from})`}. give one with --redirect-uri, e.g. https://127.0.0.1:8182, or use --provider sandbox-tdameritrade for a localhost redirect URI`,
      );
    }
  }
  const sandbox = await startSandbox({
    flavor,
    stateFile: sandboxStateFile(configDir, flavor),
    ...options,
  });
  if (app === undefined) return { sandbox, ownApp: undefined };
  const defaults = SANDBOX_DEFAULT_APPS[flavor];
  const clientId = app.clientId.replace(/@AMER\.OAUTHAP$/i, '');
  if (clientId === defaults.clientId && defaults.redirectUris.includes(app.redirectUri)) {
    return { sandbox, ownApp: undefined };
  }
  const ownApp: SandboxApp = { clientId, redirectUris: [app.redirectUri] };
  if (app.clientSecret !== undefined) ownApp.clientSecret = app.clientSecret;
  try {
    sandbox.registerApp(ownApp);
  } catch (err) {
    await sandbox.close();
    // The sandbox names the field it refused; for the command line that is configuration.
    if (err instanceof TypeError) {
      throw new ConfigError(
        `the ${flavor} sandbox cannot register the configured app: ${err.message}. fix the client id, client secret or redirect URI, or leave them out to use the sandbox's default app`,
        { cause: err },
      );
    }
    throw err;
  }
  return { sandbox, ownApp };
}

/** What a running sandbox records about itself. */
export interface SandboxRecord {
  pid: number;
  flavor: Flavor;
  url: string;
  authorizeUrl: string;
  tokenUrl: string;
  apiUrl: string;
  startedAt: string;
}

function isRecord(value: unknown): value is SandboxRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['pid'] === 'number' &&
    Number.isInteger(v['pid']) &&
    v['pid'] > 0 &&
    (v['flavor'] === 'tdameritrade' || v['flavor'] === 'schwab') &&
    ['url', 'authorizeUrl', 'tokenUrl', 'apiUrl'].every((k) => typeof v[k] === 'string')
  );
}

/** The sandbox recorded at `path` if its process still runs; stale or unreadable records are ignored. */
export async function readRunningSandbox(path: string): Promise<SandboxRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(value) || !isProcessAlive(value.pid)) return undefined;
  return value;
}

/** Record a running sandbox (atomically, 0600 in a 0700 folder). */
export async function writeSandboxRecord(path: string, record: SandboxRecord): Promise<void> {
  await writePrivateFile(path, `${JSON.stringify(record, null, 2)}\n`, 'the sandbox record');
}

/** Remove the record if it is still this process's. */
export async function removeSandboxRecord(path: string, pid: number): Promise<void> {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (isRecord(value) && value.pid !== pid) return;
  } catch {
    // Unreadable: ours to remove only if it is there at all.
  }
  await rm(path, { force: true });
}

/** The endpoints of a sandbox. */
export interface SandboxUrls {
  url: string;
  authorizeUrl: string;
  tokenUrl: string;
  apiUrl: string;
}

/** A sandbox in use: a running `td-token sandbox`, or one started in this process. */
export type LocalSandbox =
  | { kind: 'running'; record: SandboxRecord; urls: SandboxUrls; close(): Promise<void> }
  | { kind: 'in-process'; urls: SandboxUrls; close(): Promise<void> };

/**
 * The sandbox a `sandbox-<flavor>` provider given no endpoints talks to: the running
 * `td-token sandbox` of that flavor, else (unless `offline`) one started here on the config
 * folder's state file, closed by `close()`. Undefined when offline and none runs.
 */
export async function openLocalSandbox(
  configDir: string,
  flavor: Flavor,
  app: ConfiguredApp | undefined,
  options: { offline?: boolean; start?: typeof startCliSandbox } = {},
): Promise<LocalSandbox | undefined> {
  const record = await readRunningSandbox(sandboxRecordFile(configDir, flavor));
  if (record) return { kind: 'running', record, urls: record, close: async () => {} };
  if (options.offline) return undefined;
  const { sandbox } = await (options.start ?? startCliSandbox)(configDir, flavor, app);
  return { kind: 'in-process', urls: sandbox, close: () => sandbox.close() };
}
