/**
 * The file store against what a hostile run (or a crash loop) leaves in the token file's place
 * or beside it, on real files: litter of killed writers swept when the lock is taken; a FIFO,
 * a folder or a huge file in the token file's place refused at once; a symbolic link refused,
 * never replaced behind the link's back.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTdTokenError } from '../../src/errors.js';
import { FileStore, MAX_TOKEN_FILE_BYTES } from '../../src/stores/file.js';
import { hostTag } from '../../src/stores/host-id.js';
import { rejection } from '../helpers/rejection.js';
import { makeRecord, makeTempDir } from './support.js';

let dir: string;
let path: string;

beforeEach(async () => {
  dir = await makeTempDir();
  path = join(dir, 'token.json');
});

afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

/** A pid that was alive a moment ago and is not now. */
function deadPid(): number {
  const { pid } = spawnSync(process.execPath, ['-e', '0']);
  expect(typeof pid).toBe('number');
  return pid as number;
}

const unix = process.platform !== 'win32';

describe('litter of killed writers', () => {
  it('taking the lock sweeps a dead writer’s temp, lock and guard files and any older than the lock lives; a live or foreign writer’s young ones stay', async () => {
    const store = new FileStore(path);
    await store.save(makeRecord());
    const tag = hostTag();
    const dead = deadPid();
    const hourAgo = new Date(Date.now() - 3_600_000);
    const plant = async (name: string, old = false) => {
      await fsp.writeFile(join(dir, name), 'litter', { mode: 0o600 });
      if (old) await fsp.utimes(join(dir, name), hourAgo, hourAgo);
    };
    const swept = [
      `.token.json.${tag}-${dead}-0a1b2c.tmp`,
      `token.json.lock.${tag}-${dead}-0a1b2c.new`,
      `token.json.lock.guard.${tag}-${dead}-0a1b2c.new`,
      `token.json.lock.guard.${tag}-${dead}-0a1b2c.stale`,
    ];
    for (const name of swept) await plant(name);
    // Names of older versions carry no pid: swept by age alone.
    await plant('.token.json.0a1b2c3d4e5f.tmp', true);
    await plant('token.json.lock.guard.0a1b2c3d4e5f.new', true);
    const kept = [
      '.token.json.fedcba987654.tmp', // young, no pid
      `.token.json.${tag}-${process.pid}-0a1b2c.tmp`, // a live writer (this process)
      `.token.json.00000000-${dead}-0a1b2c.tmp`, // another host's pid space
      'notes.txt',
      '.other.json.0a1b2c3d4e5f.tmp',
    ];
    for (const name of kept) await plant(name);
    await plant('.other.json.0a1b2c3d4e5f.tmp', true);

    const lock = await store.lock({ ttlMs: 30_000 });
    await lock.release();
    expect((await fsp.readdir(dir)).sort()).toEqual(['token.json', ...kept].sort());
    // The token itself is untouched.
    expect(await store.load()).toBeDefined();
  });
});

describe('what stands in the token file’s place', () => {
  it('a FIFO is refused at once (no hang) with the fix', { timeout: 10_000 }, async () => {
    if (!unix) return; // no FIFOs on Windows
    execFileSync('mkfifo', ['-m', '600', path]);
    const started = Date.now();
    const error = await rejection(new FileStore(path).load());
    expect(Date.now() - started).toBeLessThan(2000);
    expect(isTdTokenError(error, 'store_error')).toBe(true);
    expect(error.message).toBe(
      `the token file ${path} is a FIFO (named pipe), not a regular file. remove it (td-token writes a new one at the next login), or choose another place with --token-file`,
    );
  });

  it('a folder is refused with the fix', async () => {
    await fsp.mkdir(path);
    const error = await rejection(new FileStore(path).load());
    expect(isTdTokenError(error, 'store_error')).toBe(true);
    expect(error.message).toContain(`the token file ${path} is a folder, not a regular file`);
  });

  it('a file over 1 MiB is refused without being read', async () => {
    await fsp.writeFile(path, Buffer.alloc(MAX_TOKEN_FILE_BYTES + 1, 0x20), { mode: 0o600 });
    const error = await rejection(new FileStore(path).load());
    expect(isTdTokenError(error, 'invalid_token_file')).toBe(true);
    expect(error.message).toBe(
      `the token file ${path} is ${MAX_TOKEN_FILE_BYTES + 1} bytes, far more than any token record (td-token reads at most ${MAX_TOKEN_FILE_BYTES}); it is not a token file. move it away and run 'td-token login', or choose another place with --token-file`,
    );
    // A real record just under the limit still loads (padding is JSON white space).
    const record = makeRecord();
    const text = JSON.stringify(record);
    await fsp.writeFile(path, text + ' '.repeat(MAX_TOKEN_FILE_BYTES - text.length), {
      mode: 0o600,
    });
    expect(await new FileStore(path).load()).toEqual(record);
  });

  it('a symbolic link is refused on load and on save; the link and its target stay as they were', async () => {
    if (!unix) return; // links need privileges on Windows
    const real = join(dir, 'real.json');
    const record = makeRecord();
    await new FileStore(real).save(record);
    const before = await fsp.readFile(real, 'utf8');
    await fsp.symlink(real, path);
    const store = new FileStore(path);
    const expected = `the token file ${path} is a symbolic link (to ${real}); td-token does not follow links for token files, so that a save never lands elsewhere or leaves a stale copy behind. use the real file: point --token-file at it (${real}), or replace the link with the file itself`;
    const onLoad = await rejection(store.load());
    expect(isTdTokenError(onLoad, 'store_error')).toBe(true);
    expect(onLoad.message).toBe(expected);
    for (const attempt of [
      () => store.save(makeRecord()),
      async () => {
        const lock = await store.lock();
        try {
          await lock.save(makeRecord());
        } finally {
          await lock.release();
        }
      },
      () => store.compareAndSave(record.refresh_token, makeRecord()),
    ]) {
      const error = await rejection(attempt());
      expect(error.message).toBe(expected);
    }
    expect((await fsp.lstat(path)).isSymbolicLink()).toBe(true);
    expect(await fsp.readFile(real, 'utf8')).toBe(before);
  });
});
