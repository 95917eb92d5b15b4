/**
 * What the store tests share: records, fresh backings for each store kind, the child fixture.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { createStore, type StoreSpec, type TokenStore } from '../../src/stores/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { storeDriver } from '../../src/stores/registry.js';
import type { StoreKind } from '../../src/stores/types.js';
import type { TokenRecord } from '../../src/token.js';
import { recordInvented } from '../helpers/ledger.js';
import { type ProcessResult, runNode, type Spawned, spawnNode } from '../helpers/processes.js';
import { openDatabase } from '../helpers/sqlite.js';

const here = dirname(fileURLToPath(import.meta.url));
export const CHILD = join(here, 'fixtures', 'store-child.mjs');
export const DIST_STORES = resolve(here, '../../dist/stores/index.js');

/** Fail early, with the fix, when the library has not been built. */
export function assertBuilt(): void {
  if (!existsSync(DIST_STORES)) {
    throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` before these tests');
  }
}

/** True when this process can ignore file permissions (root): chmod then does not stop writes. */
export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * A record with random tokens, in the seed's shape plus extras. The tokens go into the suite's
 * secret-scan ledger (test/helpers/ledger.ts), so no output may print them.
 */
export function makeRecord(overrides: Partial<TokenRecord> = {}): TokenRecord {
  const now = Date.now();
  return {
    access_token: recordInvented('invented_token', `at-${randomBytes(24).toString('base64url')}`),
    expires_at: now + 1_800_000,
    refresh_token: recordInvented('invented_token', `rt-${randomBytes(24).toString('base64url')}`),
    refresh_token_expires_at: now + 90 * 86_400_000,
    scope: 'PlaceTrades AccountAccess MoveMoney',
    token_type: 'Bearer',
    provider: 'tdameritrade',
    issued_at: 0,
    version: 1,
    ...overrides,
  };
}

/** A fresh place for one test's records, of one store kind. */
export interface Backing {
  kind: StoreKind;
  /** The spec a child process opens (memory has none that shares state). */
  spec: StoreSpec;
  /** Open a new store on this backing (a new connection or handle each time; memory: the same one). */
  open(): Promise<TokenStore>;
  /** Replace the stored text behind the store's back (not for memory). */
  writeRaw?(text: string): Promise<void>;
  /** Remove temporary files. */
  dispose(): Promise<void>;
}

/** Make a temporary folder (0700, under the system's temp folder). */
export function makeTempDir(prefix = 'td-token-stores-'): Promise<string> {
  return fsp.mkdtemp(join(tmpdir(), prefix));
}

/** A new backing of `kind`. Redis needs the server URL. */
export async function makeBacking(kind: StoreKind, redisUrl?: string): Promise<Backing> {
  const opened: TokenStore[] = [];
  const track = async (store: Promise<TokenStore>) => {
    const s = await store;
    opened.push(s);
    return s;
  };
  const closeAll = async () => {
    await Promise.all(opened.map((s) => s.close()));
  };
  switch (kind) {
    case 'memory': {
      const store = new MemoryStore();
      return {
        kind,
        spec: { kind: 'memory' },
        open: async () => store,
        dispose: () => store.close(),
      };
    }
    case 'file': {
      const dir = await makeTempDir();
      const path = join(dir, 'profiles', 'default', 'token.json');
      const spec: StoreSpec = { kind: 'file', path };
      return {
        kind,
        spec,
        open: () => track(createStore(spec)),
        writeRaw: async (text) => {
          await fsp.mkdir(dirname(path), { recursive: true, mode: 0o700 });
          await fsp.writeFile(path, text, { mode: 0o600 });
        },
        dispose: async () => {
          await closeAll();
          await fsp.rm(dir, { recursive: true, force: true });
        },
      };
    }
    case 'sqlite': {
      const dir = await makeTempDir();
      const path = join(dir, 'db', 'tokens.db');
      const spec: StoreSpec = { kind: 'sqlite', path, profile: 'default' };
      return {
        kind,
        spec,
        open: () => track(createStore(spec)),
        writeRaw: async (text) => {
          await track(createStore(spec)); // makes the schema
          const db = openDatabase(path);
          try {
            db.prepare(
              `INSERT INTO tokens (profile, record, updated_at, revision) VALUES (?, ?, 0, 1)
               ON CONFLICT (profile) DO UPDATE SET record = excluded.record`,
            ).run('default', text);
          } finally {
            db.close();
          }
        },
        dispose: async () => {
          await closeAll();
          await fsp.rm(dir, { recursive: true, force: true });
        },
      };
    }
    case 'redis': {
      if (redisUrl === undefined) throw new Error('the redis backing needs a server');
      const profile = `test-${randomBytes(6).toString('hex')}`;
      const spec: StoreSpec = { kind: 'redis', url: redisUrl, profile };
      return {
        kind,
        spec,
        open: () => track(createStore(spec)),
        writeRaw: async (text) => {
          const { Redis } = await import('ioredis');
          const client = new Redis(redisUrl);
          try {
            await client.set(`td-token:${profile}:token`, text);
          } finally {
            await client.quit();
          }
        },
        dispose: closeAll,
      };
    }
    default: {
      // A store registered later: its own spec for a fresh place, as `--store <kind>` makes it.
      const name: string = kind;
      const driver = storeDriver(name);
      if (driver === undefined) throw new Error(`no store driver is registered for "${name}"`);
      const dir = await makeTempDir();
      const spec = driver.specFrom({
        url: process.env[`TD_TOKEN_TEST_${name.toUpperCase()}_URL`],
        profile: `test-${randomBytes(6).toString('hex')}`,
        defaultPath: join(dir, 'token.json'),
      });
      return {
        kind: driver.kind,
        spec,
        open: () => track(createStore(spec)),
        dispose: async () => {
          await closeAll();
          await fsp.rm(dir, { recursive: true, force: true });
        },
      };
    }
  }
}

/** Run the child fixture to its end with one operation. */
export function runChild(
  input: Record<string, unknown>,
  timeoutMs = 60_000,
): Promise<ProcessResult> {
  return runNode(CHILD, [JSON.stringify(input)], { timeoutMs });
}

/** Start the child fixture (for `hold`). */
export function spawnChild(input: Record<string, unknown>, timeoutMs = 60_000): Spawned {
  return spawnNode(CHILD, [JSON.stringify(input)], { timeoutMs });
}

/** The one JSON line a child printed (the last one). */
export function childAnswer(result: ProcessResult): Record<string, unknown> {
  const lines = result.stdout.trim().split('\n').filter(Boolean);
  expect(lines.length, `no answer; stderr: ${result.stderr}`).toBeGreaterThan(0);
  return JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>;
}

/**
 * Wait until `check()` is true, looking again after each turn of the event loop and short
 * pauses (pub/sub messages arrive asynchronously), at most `timeoutMs`.
 */
export async function eventually(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
