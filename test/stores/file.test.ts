/**
 * The file store beyond the shared contract: the seed's token.json on disk, modes, the mode
 * warning, atomic writes under a real write failure, and the lock file's takeover rules.
 */
import { promises as fsp, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isTdTokenError } from '../../src/errors.js';
import { FileStore } from '../../src/stores/file.js';
import { hostIdentity } from '../../src/stores/host-id.js';
import { SEED_FIELDS, type TokenRecord } from '../../src/token.js';
import { spawnProcess, stopAll } from '../helpers/processes.js';
import { rejection } from '../helpers/rejection.js';
import { assertBuilt, CHILD, childAnswer, IS_ROOT, makeRecord, makeTempDir } from './support.js';

let dir: string;
let path: string;

beforeAll(() => assertBuilt());

beforeEach(async () => {
  dir = await makeTempDir();
  path = join(dir, 'config', 'td-token', 'default.json');
});

afterEach(async () => {
  await stopAll();
  await fsp.chmod(dir, 0o700).catch(() => undefined);
  await fsp.rm(dir, { recursive: true, force: true });
});

afterAll(stopAll);

const mode = (p: string) => statSync(p).mode & 0o777;

async function entries(folder: string): Promise<string[]> {
  return (await fsp.readdir(folder)).sort();
}

describe('file store on disk', () => {
  it("writes the seed's token.json: six seed fields first, in order, two-space JSON, newline", async () => {
    const store = new FileStore(path);
    const record = makeRecord({ refresh_token_issued_at: 5 });
    await store.save(record);
    const text = await fsp.readFile(path, 'utf8');
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(parsed).slice(0, 6)).toEqual(SEED_FIELDS);
    expect(text).toBe(`${JSON.stringify(parsed, null, 2)}\n`);
    expect(parsed).toEqual(record);
  });

  it('reads a file written by the seed (the six fields only)', async () => {
    const seed: Record<string, unknown> = {};
    const record = makeRecord();
    for (const field of SEED_FIELDS) seed[field] = record[field as keyof TokenRecord];
    await fsp.mkdir(dirname(path), { recursive: true });
    await fsp.writeFile(path, JSON.stringify(seed, null, 4), { mode: 0o600 });
    expect(await new FileStore(path).load()).toEqual(seed);
  });

  it('creates missing folders 0700 and the file 0600, and leaves existing folders alone', async () => {
    const parent = join(dir, 'config');
    await fsp.mkdir(parent, { mode: 0o755 });
    await fsp.chmod(parent, 0o755);
    const store = new FileStore(path);
    const lock = await store.lock();
    await lock.save(makeRecord());
    await lock.release();
    expect(mode(parent)).toBe(0o755);
    expect(mode(dirname(path))).toBe(0o700);
    expect(mode(path)).toBe(0o600);
    // Nothing left behind: no temporary files, no lock file, no guard.
    expect(await entries(dirname(path))).toEqual(['default.json']);
  });

  it('replaces a file that had a loose mode with a 0600 one', async () => {
    await fsp.mkdir(dirname(path), { recursive: true });
    await fsp.writeFile(path, 'old', { mode: 0o644 });
    await fsp.chmod(path, 0o644);
    await new FileStore(path).save(makeRecord());
    expect(mode(path)).toBe(0o600);
  });

  it('warns, once, naming the chmod, when others can read the token file', async () => {
    const warnings: string[] = [];
    const store = new FileStore(path, { onWarning: (m) => warnings.push(m) });
    await store.save(makeRecord());
    await store.load();
    expect(warnings).toEqual([]);
    await fsp.chmod(path, 0o644);
    await store.load();
    await store.load();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`chmod 600 ${path}`);
    expect(warnings[0]).toContain('0644');
  });

  it('calls a missing file undefined and a folder in its place a store_error naming it', async () => {
    expect(await new FileStore(path).load()).toBeUndefined();
    await fsp.mkdir(path, { recursive: true });
    const error = await rejection(new FileStore(path).load());
    expect(isTdTokenError(error, 'store_error')).toBe(true);
    expect(error.message).toContain(path);
  });

  it('turns a file where a folder belongs into a store_error with the fix', async () => {
    await fsp.writeFile(join(dir, 'config'), 'a file, not a folder');
    const error = await rejection(new FileStore(path).save(makeRecord()));
    expect(isTdTokenError(error, 'store_error')).toBe(true);
    expect(error.message).toContain(join(dir, 'config'));
    expect(error.message).toMatch(/--token-file/);
  });

  it('keeps the last of many concurrent saves whole', async () => {
    const store = new FileStore(path);
    const records = Array.from({ length: 20 }, (_, i) => makeRecord({ issued_at: i }));
    await Promise.all(records.map((r) => store.save(r)));
    const loaded = await store.load();
    expect(records).toContainEqual(loaded);
    expect(await entries(dirname(path))).toEqual(['default.json']);
  });
});

describe('file store write failures', () => {
  it.skipIf(process.platform === 'win32')(
    'keeps the old file and removes the temporary one when a write fails half way (file size limit)',
    async () => {
      // A real failure in the middle of a save, that root cannot bypass: the process's file
      // size limit (ulimit -f 0) makes the write into the new temporary file fail with EFBIG
      // after the file was created. SIGXFSZ is ignored so the write returns the error.
      const store = new FileStore(path);
      const old = makeRecord({ issued_at: 1 });
      await store.save(old);
      const before = await fsp.readFile(path, 'utf8');

      const input = JSON.stringify({
        spec: { kind: 'file', path },
        op: 'save',
        record: makeRecord({ issued_at: 2 }),
      });
      const child = spawnProcess('bash', [
        '-c',
        'trap "" XFSZ; ulimit -f 0; exec "$0" "$@"',
        process.execPath,
        CHILD,
        input,
      ]);
      const result = await child.exited;
      expect(result.code, result.stderr).toBe(3);
      const answer = childAnswer(result) as { error: { code: string; message: string } };
      expect(answer.error.code).toBe('store_error');
      expect(answer.error.message).toContain(path);
      expect(answer.error.message).toContain('EFBIG');
      expect(answer.error.message).toMatch(/ulimit -f/);

      expect(await fsp.readFile(path, 'utf8')).toBe(before);
      expect(await entries(dirname(path))).toEqual(['default.json']);
      expect(await store.load()).toEqual(old);
    },
  );

  // Skipped as root, whom folder permissions do not stop (no EACCES can happen); there,
  // test/security/faults.test.ts's read-only tmpfs (EROFS) covers a save that cannot be written.
  it.skipIf(IS_ROOT || process.platform === 'win32')(
    'keeps the old file when the folder is read-only (EACCES), naming the fix',
    async () => {
      // Root ignores folder permissions, so this runs only as an ordinary user; the file size
      // limit test above covers a mid-write failure for everyone.
      const store = new FileStore(path);
      const old = makeRecord({ issued_at: 1 });
      await store.save(old);
      await fsp.chmod(dirname(path), 0o500);
      try {
        const error = await rejection(store.save(makeRecord({ issued_at: 2 })));
        expect(isTdTokenError(error, 'store_error')).toBe(true);
        expect(error.message).toContain(path);
        expect(error.message).toMatch(/EACCES/);
        expect(error.message).toMatch(/ls -ld/);
      } finally {
        await fsp.chmod(dirname(path), 0o700);
      }
      expect(await store.load()).toEqual(old);
      expect(await entries(dirname(path))).toEqual(['default.json']);
    },
  );
});

describe('file store lock file', () => {
  const lockPath = () => `${path}.lock`;

  async function writeLock(info: Record<string, unknown>): Promise<void> {
    await fsp.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await fsp.writeFile(lockPath(), JSON.stringify(info), { mode: 0o600 });
  }

  it('holds pid, host, a random token and the times, mode 0600, and is removed on release', async () => {
    const store = new FileStore(path);
    const before = Date.now();
    const lock = await store.lock({ ttlMs: 5000 });
    const info = JSON.parse(await fsp.readFile(lockPath(), 'utf8')) as Record<string, unknown>;
    expect(info['pid']).toBe(process.pid);
    expect(info['host']).toBe(hostname());
    expect(info['hostId']).toBe(hostIdentity());
    expect(info['token']).toMatch(/^[0-9a-f]{32}$/);
    expect(info['acquiredAt']).toBeGreaterThanOrEqual(before);
    expect(info['expiresAt']).toBe((info['acquiredAt'] as number) + 5000);
    expect(mode(lockPath())).toBe(0o600);
    await lock.release();
    await expect(fsp.stat(lockPath())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  async function deadPid(): Promise<number> {
    const gone = spawnProcess(process.execPath, ['-e', '0']);
    await gone.exited;
    return gone.pid;
  }

  it("takes over at once a lock whose holder's pid is dead under this host identity", async () => {
    await writeLock({
      pid: await deadPid(),
      host: hostname(),
      hostId: hostIdentity(),
      token: 'x'.repeat(32),
      acquiredAt: Date.now(),
      expiresAt: Date.now() + 60_000,
    });
    const lock = await new FileStore(path).lock({ waitMs: 0 });
    await lock.release();
  });

  // Two containers with one hostname, each with its own pid namespace, sharing the folder: the
  // other's pid says nothing here, however dead it looks.
  for (const [what, hostId] of [
    ['another host identity (same hostname)', `linux:other-boot:pidns:1`],
    ['no host identity (an older td-token)', undefined],
  ] as const) {
    it(`waits out, until it expires, a dead pid's lock recorded with ${what}`, async () => {
      const pid = await deadPid();
      const expiresAt = Date.now() + 1500;
      await writeLock({
        pid,
        host: hostname(),
        ...(hostId === undefined ? {} : { hostId }),
        token: 'w'.repeat(32),
        acquiredAt: Date.now(),
        expiresAt,
      });
      const store = new FileStore(path);
      const error = await rejection(store.lock({ waitMs: 100 }));
      expect(isTdTokenError(error, 'lock_timeout')).toBe(true);
      const lock = await store.lock({ waitMs: 5000 });
      expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
      await lock.release();
    });
  }

  it("waits for another host's lock to expire, then takes it over", async () => {
    const ttl = 400;
    await writeLock({
      pid: process.pid,
      host: `not-${hostname()}`,
      token: 'y'.repeat(32),
      acquiredAt: Date.now(),
      expiresAt: Date.now() + ttl,
    });
    const store = new FileStore(path);
    const error = await rejection(store.lock({ waitMs: 0 }));
    expect(isTdTokenError(error, 'lock_timeout')).toBe(true);
    expect(error.message).toContain(`not-${hostname()}`);
    expect(error.message).toContain(lockPath());
    const started = Date.now();
    const lock = await store.lock({ waitMs: 5000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(ttl - 100);
    await lock.release();
  });

  it('treats an unreadable lock file as taken while it is fresh, and as abandoned once old', async () => {
    await writeLock({});
    await fsp.writeFile(lockPath(), '');
    const store = new FileStore(path);
    expect(isTdTokenError(await rejection(store.lock({ waitMs: 30 })), 'lock_timeout')).toBe(true);
    const old = new Date(Date.now() - 60_000);
    await fsp.utimes(lockPath(), old, old);
    const lock = await store.lock({ waitMs: 0 });
    await lock.release();
  });

  it('refuses to save through a lock whose file was replaced by another holder', async () => {
    const store = new FileStore(path);
    const first = makeRecord({ issued_at: 1 });
    await store.save(first);
    const lock = await store.lock({ ttlMs: 60_000 });
    await writeLock({
      pid: process.pid,
      host: hostname(),
      token: 'z'.repeat(32),
      acquiredAt: Date.now(),
      expiresAt: Date.now() + 60_000,
    });
    const error = await rejection(lock.save(makeRecord({ issued_at: 2 })));
    expect(isTdTokenError(error, 'lock_timeout')).toBe(true);
    expect(await store.load()).toEqual(first);
    // Release leaves the other holder's lock in place.
    await lock.release();
    expect(JSON.parse(await fsp.readFile(lockPath(), 'utf8')).token).toBe('z'.repeat(32));
    expect((await entries(dirname(path))).sort()).toEqual(['default.json', 'default.json.lock']);
  });
});
