/**
 * How `td-token sandbox` tells the other commands where it runs: a small file per flavor in the
 * config folder (`sandbox/<flavor>.json`, mode 0600), written when it starts and removed when it
 * stops. Commands whose provider is `sandbox-*` and that were given no endpoints use the running
 * sandbox it names, so `td-token sandbox` in one terminal and `td-token login` / `token` /
 * `refresh` in another work with no configuration at all.
 *
 * @internal
 * @module
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The record file of a flavor's sandbox inside a config folder. */
export function sandboxRecordFile(configDir: string, flavor: 'tdameritrade' | 'schwab'): string {
  return join(configDir, 'sandbox', `${flavor}.json`);
}

/** What a running sandbox records about itself. */
export interface SandboxRecord {
  pid: number;
  flavor: 'tdameritrade' | 'schwab';
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

/** True while a process with this id exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
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
  if (!isRecord(value) || !isAlive(value.pid)) return undefined;
  return value;
}

/** Record a running sandbox (atomically, 0600 in a 0700 folder). */
export async function writeSandboxRecord(path: string, record: SandboxRecord): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
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
