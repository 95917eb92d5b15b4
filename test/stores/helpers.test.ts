/**
 * The stores' shared helpers: the one private-file writer, the one shell quoter, the one
 * back-off schedule, the optional-package loader and the lock_timeout error, on real files
 * where files are involved.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, isTdTokenError } from '../../src/errors.js';
import { shellQuote as reExported, writePrivateFile } from '../../src/stores/atomic-file.js';
import { lockTimeoutError } from '../../src/stores/lock-wait.js';
import { loadOptionalPackage } from '../../src/stores/optional-package.js';
import { backoffMs } from '../../src/util/backoff.js';
import { shellQuote } from '../../src/util/shell.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'td-token-helpers-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writePrivateFile', () => {
  it('creates the folder 0700 and the file 0600, replaces a loose old file, leaves no temporary file', async () => {
    const path = join(dir, 'new', 'deeper', 'export.json');
    await writePrivateFile(path, '{"a":1}\n');
    expect(await readFile(path, 'utf8')).toBe('{"a":1}\n');
    if (process.platform !== 'win32') {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'new'))).mode & 0o777).toBe(0o700);
    }
    await chmod(path, 0o644);
    await writePrivateFile(path, Buffer.from('second'));
    expect(await readFile(path, 'utf8')).toBe('second');
    if (process.platform !== 'win32') expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, 'new', 'deeper'))).toEqual(['export.json']);
  });

  it('a failed write is a store_error naming the file; nothing is left behind', async () => {
    const path = join(dir, 'taken');
    await mkdir(path);
    await writeFile(join(path, 'inside'), 'x');
    let caught: unknown;
    try {
      await writePrivateFile(path, 'data', 'the export');
    } catch (error) {
      caught = error;
    }
    expect(isTdTokenError(caught, 'store_error')).toBe(true);
    expect((caught as Error).message).toMatch(
      new RegExp(`^could not write the export ${path} \\(`),
    );
    expect((await readdir(dir)).sort()).toEqual(['taken']);
  });

  it('rejects bad arguments with a TypeError naming them', async () => {
    await expect(writePrivateFile('', 'x')).rejects.toThrow(
      new TypeError('"path" must be a non-empty string'),
    );
    await expect(writePrivateFile(join(dir, 'f'), 5 as unknown as string)).rejects.toThrow(
      new TypeError('"data" must be a string or a Uint8Array'),
    );
  });
});

describe('shellQuote', () => {
  it('leaves plain words alone and single-quotes the rest; atomic-file re-exports the same one', () => {
    expect(shellQuote('/home/me/token.json')).toBe('/home/me/token.json');
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('$HOME;rm')).toBe("'$HOME;rm'");
    expect(reExported).toBe(shellQuote);
  });
});

describe('backoffMs', () => {
  it('doubles from the base up to the cap, and spreads by the jitter asked for', () => {
    const at = (attempt: number) => backoffMs({ baseMs: 2, capMs: 25, attempt });
    expect([0, 1, 2, 3, 4, 10, 1000].map(at)).toEqual([2, 4, 8, 16, 25, 25, 25]);
    const low = () => 0;
    const high = () => 0.999999;
    expect(backoffMs({ baseMs: 100, capMs: 1000, attempt: 1, jitter: 'equal', random: low })).toBe(
      100,
    );
    expect(
      backoffMs({ baseMs: 100, capMs: 1000, attempt: 1, jitter: 'equal', random: high }),
    ).toBeCloseTo(200, 3);
    expect(backoffMs({ baseMs: 8, capMs: 25, attempt: 0, jitter: 'centered', random: low })).toBe(
      4,
    );
    expect(
      backoffMs({ baseMs: 8, capMs: 25, attempt: 0, jitter: 'centered', random: high }),
    ).toBeCloseTo(12, 3);
    expect(() => backoffMs({ baseMs: -1, capMs: 1, attempt: 0 })).toThrow(TypeError);
  });
});

describe('loadOptionalPackage', () => {
  it('a missing package is a ConfigError naming the npm install; a broken one the rebuild; a later try loads again', async () => {
    const missing = Object.assign(new Error('Cannot find package'), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    await expect(
      loadOptionalPackage(
        'pkg-missing',
        'postgres',
        () => Promise.reject(missing),
        (m) => m,
      ),
    ).rejects.toThrow(
      new ConfigError(
        'the postgres store needs the pkg-missing package, which is not installed. install it: npm install pkg-missing',
      ),
    );
    const broken = Object.assign(new Error('invalid ELF header'), { code: 'ERR_DLOPEN_FAILED' });
    await expect(
      loadOptionalPackage(
        'pkg-broken',
        'sqlite',
        () => Promise.reject(broken),
        (m) => m,
      ),
    ).rejects.toThrow(
      'the pkg-broken package could not be loaded (built for another Node.js version?). rebuild it: npm rebuild pkg-broken',
    );
    let calls = 0;
    const importer = async () => {
      calls += 1;
      if (calls === 1) throw missing;
      return { value: 7 };
    };
    const pick = (m: unknown) => (m as { value: number }).value;
    await expect(loadOptionalPackage('pkg-later', 'redis', importer, pick)).rejects.toThrow(
      ConfigError,
    );
    expect(await loadOptionalPackage('pkg-later', 'redis', importer, pick)).toBe(7);
    expect(await loadOptionalPackage('pkg-later', 'redis', importer, pick)).toBe(7);
    expect(calls).toBe(2);
  });
});

describe('lockTimeoutError', () => {
  it('is every store’s one lock_timeout message: the place, the wait, the holder and the fix', () => {
    const plain = lockTimeoutError('/t/token.json', 250);
    expect(plain.code).toBe('lock_timeout');
    expect(plain.message).toBe(
      "could not take the lock on /t/token.json within 250 ms. another td-token process is using it; try again later (a dead holder's lock expires by itself)",
    );
    expect(
      lockTimeoutError('/t/token.json', 250, { holder: 'pid 7 on box', fix: 'delete it' }).message,
    ).toBe(
      'could not take the lock on /t/token.json within 250 ms (held by pid 7 on box). another td-token process is using it; delete it',
    );
  });
});
