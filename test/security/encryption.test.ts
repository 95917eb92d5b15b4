/**
 * Encryption at rest: the file and SQLite stores with a passphrase (scrypt) or a key file, on
 * real files and a real SQLite database, and the built CLI against a sandbox-backed encrypted
 * token file.
 *
 * What it proves: records round-trip; the bytes on disk hold no token; a wrong passphrase or
 * key, and any change to the envelope, is `decrypt_failed` (or `invalid_token_file` for a
 * malformed envelope) and leaves the file exactly as it was; a plain file is read and then
 * encrypted on the next save; an encrypted file read without a key says how to give one.
 */

import { execFileSync } from 'node:child_process';
import { createCipheriv, randomBytes, scryptSync } from 'node:crypto';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import { ConfigError, StoreError, TdTokenError } from '../../src/errors.js';
import { TokenManager } from '../../src/manager.js';
import { createProvider } from '../../src/providers/index.js';
import { SANDBOX_DEFAULT_APPS, type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import {
  createEncryptingCodec,
  createKeyFile,
  DEFAULT_SCRYPT_COST,
  isEncryptedRecord,
  keyFromKeyFileBytes,
} from '../../src/stores/crypto.js';
import { FileStore } from '../../src/stores/file.js';
import { createStore, type StoreSpec } from '../../src/stores/index.js';
import type { TokenStore } from '../../src/stores/types.js';
import type { TokenRecord } from '../../src/token.js';
import {
  assertBuilt,
  type Home,
  makeHome,
  runCli,
  sandboxFlags,
  sandboxLogin,
} from '../cli/harness.js';
import { recordInvented } from '../helpers/ledger.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { rejection } from '../helpers/rejection.js';
import { openDatabase } from '../helpers/sqlite.js';

// Made up for this run and put in the secret-scan ledger (test/helpers/ledger.ts), like the
// tokens below: no output of the suite may print them. Token characters only, so that the scan
// can find the passphrase in any output.
const PASSPHRASE = recordInvented(
  'invented_passphrase',
  `pass-${randomBytes(18).toString('base64url')}`,
);

/** A record with made-up tokens (with `+ / = @`, as TD's have), recorded in the ledger. */
function record(overrides: Partial<TokenRecord> = {}): TokenRecord {
  const now = Date.now();
  const token = (prefix: string) =>
    recordInvented('invented_token', `${prefix}-${randomBytes(36).toString('base64')}+/=@`);
  return {
    access_token: token('AT'),
    expires_at: now + 30 * 60_000,
    refresh_token: token('RT'),
    refresh_token_expires_at: now + 7 * 86_400_000,
    scope: 'api',
    token_type: 'Bearer',
    provider: 'schwab',
    issued_at: now,
    refresh_token_issued_at: now,
    version: 1,
    ...overrides,
  };
}

let dir: string;
const opened: TokenStore[] = [];

async function open(spec: StoreSpec): Promise<TokenStore> {
  const store = await createStore(spec);
  opened.push(store);
  return store;
}

function errorOf(promise: Promise<unknown>): Promise<TdTokenError> {
  return rejection(promise, TdTokenError);
}

/** Every byte of every file in `folder` (the database, its WAL, lock files...). */
async function allBytes(folder: string): Promise<string> {
  const names = await readdir(folder);
  const parts = await Promise.all(
    names.map(async (n) => {
      try {
        return (await readFile(join(folder, n))).toString('latin1');
      } catch {
        return '';
      }
    }),
  );
  return parts.join('\n');
}

/** Each token as it would appear: plain, and its JSON-escaped and base64url-free parts. */
function expectNoSecrets(bytes: string, r: TokenRecord): void {
  for (const secret of [r.access_token, r.refresh_token]) {
    expect(bytes.includes(secret)).toBe(false);
    // No 12-character run of either token either.
    for (let i = 0; i + 12 <= secret.length; i += 6) {
      expect(bytes.includes(secret.slice(i, i + 12))).toBe(false);
    }
  }
  expect(bytes.includes('access_token')).toBe(false);
  expect(bytes.includes('refresh_token')).toBe(false);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'td-token-crypto-'));
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

describe('file store with a passphrase', () => {
  it('round-trips; the file is a 0600 envelope holding no token, bound to its file; saves keep the salt and take a new IV', async () => {
    const path = join(dir, 'tokens', 'default.json');
    const spec: StoreSpec = { kind: 'file', path, encryption: { passphrase: PASSPHRASE } };
    const writer = await open(spec);
    const r = record();
    await writer.save(r);
    // A fresh store (no key cached) reads it back.
    const reader = await open(spec);
    expect(await reader.load()).toEqual(r);

    const text = await readFile(path, 'utf8');
    expectNoSecrets(text, r);
    const envelope = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(envelope)).toEqual([
      'td_token_encrypted',
      'alg',
      'kdf',
      'n',
      'r',
      'p',
      'salt',
      'bind',
      'iv',
      'tag',
      'ciphertext',
    ]);
    expect(envelope).toMatchObject({
      td_token_encrypted: 2,
      bind: `file:${await realpath(path)}`,
      alg: 'A256GCM',
      kdf: 'scrypt',
      n: DEFAULT_SCRYPT_COST.N,
      r: DEFAULT_SCRYPT_COST.r,
      p: DEFAULT_SCRYPT_COST.p,
    });
    for (const field of ['salt', 'iv', 'tag', 'ciphertext']) {
      expect(envelope[field]).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(Buffer.from(envelope['iv'] as string, 'base64url')).toHaveLength(12);
    expect(Buffer.from(envelope['tag'] as string, 'base64url')).toHaveLength(16);
    if (process.platform !== 'win32') expect((await stat(path)).mode & 0o777).toBe(0o600);

    const r2 = record();
    await writer.save(r2);
    const second = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    // The salt stays (so a refresh derives no new key); the IV is new on every write.
    expect(second['salt']).toBe(envelope['salt']);
    expect(second['iv']).not.toBe(envelope['iv']);
    expect(await reader.load()).toEqual(r2);
  });

  it('a wrong passphrase is decrypt_failed naming the file and the fix; nothing on disk changes', async () => {
    const path = join(dir, 'token.json');
    const good = await open({ kind: 'file', path, encryption: { passphrase: PASSPHRASE } });
    const r = record({ expires_at: Date.now() - 60_000 });
    await good.save(r);
    const before = await readFile(path);
    const beforeStat = await stat(path);

    const wrong = await open({ kind: 'file', path, encryption: { passphrase: 'not it' } });
    const err = await errorOf(wrong.load());
    expect(err).toBeInstanceOf(StoreError);
    expect(err.code).toBe('decrypt_failed');
    expect(err.message).toContain(path);
    expect(err.message).toContain('passphrase is not the one it was saved with');
    expect(err.message).toMatch(/set TD_TOKEN_PASSPHRASE \(or --passphrase-file\)/);
    expect(err.message).not.toContain('not it');

    // A token manager asked for a token (the stored one is expired) fails the same way and
    // writes nothing: no refresh is attempted, the provider is never called.
    let called = 0;
    const provider = createProvider('schwab', {
      clientId: SANDBOX_DEFAULT_APPS.schwab.clientId,
      clientSecret: 'x',
      redirectUri: 'https://127.0.0.1:8182',
      tokenUrl: 'http://127.0.0.1:9/token',
    });
    const manager = new TokenManager(provider, wrong, {
      fetch: async () => {
        called++;
        return new Response('{}', { status: 500 });
      },
      retry: false,
    });
    const viaManager = await errorOf(manager.getAccessToken());
    expect(viaManager.code).toBe('decrypt_failed');
    const viaLogin = await errorOf(
      manager.login(async () => {
        throw new Error('the browser must not be needed');
      }),
    );
    expect(viaLogin.code).toBe('decrypt_failed');
    await manager.close();
    expect(called).toBe(0);
    expect((await readFile(path)).equals(before)).toBe(true);
    const afterStat = await stat(path);
    expect(afterStat.mtimeMs).toBe(beforeStat.mtimeMs);
    expect(afterStat.ino).toBe(beforeStat.ino);
    // The right passphrase still reads it.
    expect(await good.load()).toEqual(r);
  });

  it('any change to the envelope is refused: decrypt_failed for the sealed parts, invalid_token_file for a malformed one', async () => {
    const path = join(dir, 'token.json');
    const store = await open({ kind: 'file', path, encryption: { passphrase: PASSPHRASE } });
    await store.save(record());
    const original = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    const flip = (value: string, at: number): string => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const i = at % value.length;
      const c = value[i] as string;
      const next = alphabet[(alphabet.indexOf(c) + 1) % alphabet.length] as string;
      return value.slice(0, i) + next + value.slice(i + 1);
    };
    const cases: [string, Record<string, unknown>, string][] = [
      [
        'ciphertext',
        { ...original, ciphertext: flip(original['ciphertext'] as string, 5) },
        'decrypt_failed',
      ],
      ['tag', { ...original, tag: flip(original['tag'] as string, 2) }, 'decrypt_failed'],
      ['iv', { ...original, iv: flip(original['iv'] as string, 1) }, 'decrypt_failed'],
      ['salt', { ...original, salt: flip(original['salt'] as string, 3) }, 'decrypt_failed'],
      ['r', { ...original, r: 4 }, 'decrypt_failed'],
      [
        'truncated ciphertext',
        { ...original, ciphertext: (original['ciphertext'] as string).slice(0, -4) },
        'decrypt_failed',
      ],
      ['kdf', { ...original, kdf: 'keyfile' }, 'decrypt_failed'],
      ['short tag', { ...original, tag: 'AAAA' }, 'invalid_token_file'],
      ['alg', { ...original, alg: 'A128GCM' }, 'invalid_token_file'],
      ['huge n', { ...original, n: 2 ** 30 }, 'invalid_token_file'],
      ['n not a power of two', { ...original, n: 30000 }, 'invalid_token_file'],
      ['no iv', { ...original, iv: undefined }, 'invalid_token_file'],
      ['iv not base64url', { ...original, iv: 'AAAA+AAAAAAAAAAA' }, 'invalid_token_file'],
      ['version', { ...original, td_token_encrypted: 3 }, 'decrypt_failed'],
      ['downgraded to version 1', { ...original, td_token_encrypted: 1 }, 'decrypt_failed'],
      ['bind', { ...original, bind: 'file:/elsewhere/token.json' }, 'decrypt_failed'],
      ['no bind', { ...original, bind: undefined }, 'invalid_token_file'],
    ];
    for (const [what, envelope, code] of cases) {
      const text = JSON.stringify(envelope);
      await writeFile(path, text, { mode: 0o600 });
      const fresh = await open({ kind: 'file', path, encryption: { passphrase: PASSPHRASE } });
      const err = await errorOf(fresh.load());
      expect({ what, code: err.code }).toEqual({ what, code });
      expect(err).toBeInstanceOf(StoreError);
      expect(err.message).toContain(path);
      expect(await readFile(path, 'utf8')).toBe(text);
    }
  });

  it('refuses a plain file when encryption is configured (it may be planted), naming the file and the fix; nothing changes', async () => {
    const path = join(dir, 'token.json');
    const r = record();
    await new FileStore(path).save(r);
    const text = await readFile(path, 'utf8');
    const warnings: string[] = [];
    const store = await open({
      kind: 'file',
      path,
      encryption: { passphrase: PASSPHRASE },
      onWarning: (m) => warnings.push(m),
    });
    const err = await errorOf(store.load());
    expect(err).toBeInstanceOf(StoreError);
    expect(err.code).toBe('decrypt_failed');
    expect(err.message).toBe(
      `the token record in ${path} is not encrypted, but encryption is configured, so td-token refuses it: anyone who can write there could have planted it. if it is yours (saved before encryption was turned on), replace it with an encrypted one by logging in again: 'td-token login' (a program can adopt it once with the adoptPlaintext option)`,
    );
    expect(warnings).toEqual([]);
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('adoptPlaintext: reads a plain file with a warning that it will be encrypted, and encrypts it on the next save', async () => {
    const path = join(dir, 'token.json');
    const r = record();
    await new FileStore(path).save(r);
    const warnings: string[] = [];
    const store = await open({
      kind: 'file',
      path,
      encryption: { passphrase: PASSPHRASE, adoptPlaintext: true },
      onWarning: (m) => warnings.push(m),
    });
    expect(await store.load()).toEqual(r);
    expect(warnings).toEqual([
      `the token record in ${path} is not encrypted; it will be encrypted on the next save (the next refresh or login)`,
    ]);
    await store.load();
    expect(warnings).toHaveLength(1);
    await store.save(r);
    const text = await readFile(path, 'utf8');
    expect(isEncryptedRecord(text)).toBe(true);
    expectNoSecrets(text, r);
    expect(await store.load()).toEqual(r);
    // Once encrypted, a store without adoptPlaintext opens it.
    expect(
      await (await open({ kind: 'file', path, encryption: { passphrase: PASSPHRASE } })).load(),
    ).toEqual(r);
  });

  it('an encrypted file read with no key configured says so, and which variable or flag gives the key', async () => {
    const path = join(dir, 'token.json');
    await (await open({ kind: 'file', path, encryption: { passphrase: PASSPHRASE } })).save(
      record(),
    );
    const plain = await open({ kind: 'file', path });
    const err = await errorOf(plain.load());
    expect(err.code).toBe('decrypt_failed');
    expect(err.message).toBe(
      `the token record in ${path} is encrypted, and no passphrase or key file is configured. it was saved with a passphrase: set TD_TOKEN_PASSPHRASE (or --passphrase-file) to the passphrase it was saved with`,
    );
  });
});

describe('key files', () => {
  it('createKeyFile writes 32 random bytes as base64, 0600, and never replaces a key', async () => {
    const path = join(dir, 'keys', 'token.key');
    expect(await createKeyFile(path)).toBe(path);
    const text = await readFile(path, 'utf8');
    expect(text).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    if (process.platform !== 'win32') {
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'keys'))).mode & 0o777).toBe(0o700);
    }
    const again = await errorOf(createKeyFile(path));
    expect(again).toBeInstanceOf(ConfigError);
    expect(again.message).toContain('already exists');
    expect(await readFile(path, 'utf8')).toBe(text);
    const other = join(dir, 'keys', 'other.key');
    await createKeyFile(other);
    expect(await readFile(other, 'utf8')).not.toBe(text);
  });

  it('accepts raw bytes, hex, base64 and base64url; refuses anything else', () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 251) % 256));
    expect(keyFromKeyFileBytes(key)?.equals(key)).toBe(true);
    expect(keyFromKeyFileBytes(Buffer.from(`${key.toString('hex')}\n`))?.equals(key)).toBe(true);
    expect(keyFromKeyFileBytes(Buffer.from(` ${key.toString('base64')}\r\n`))?.equals(key)).toBe(
      true,
    );
    expect(keyFromKeyFileBytes(Buffer.from(key.toString('base64url')))?.equals(key)).toBe(true);
    expect(keyFromKeyFileBytes(Buffer.alloc(31))).toBeUndefined();
    expect(keyFromKeyFileBytes(Buffer.from('a'.repeat(63)))).toBeUndefined();
    expect(keyFromKeyFileBytes(Buffer.from('hunter2\n'))).toBeUndefined();
  });

  it('file and SQLite stores round-trip with a key file; another key is decrypt_failed', async () => {
    const keyFile = join(dir, 'token.key');
    const otherKey = join(dir, 'other.key');
    await createKeyFile(keyFile);
    await createKeyFile(otherKey);
    const r = record();
    const path = join(dir, 'token.json');
    await (await open({ kind: 'file', path, encryption: { keyFile } })).save(r);
    const text = await readFile(path, 'utf8');
    expect(JSON.parse(text)).toMatchObject({ kdf: 'keyfile', alg: 'A256GCM' });
    expect(JSON.parse(text)).not.toHaveProperty('salt');
    expectNoSecrets(text, r);
    expect(await (await open({ kind: 'file', path, encryption: { keyFile } })).load()).toEqual(r);
    const wrong = await errorOf(
      (await open({ kind: 'file', path, encryption: { keyFile: otherKey } })).load(),
    );
    expect(wrong.code).toBe('decrypt_failed');
    expect(wrong.message).toContain(`with the key file ${otherKey}`);
    expect(await readFile(path, 'utf8')).toBe(text);
    // A passphrase where a key file was used says which one it needs.
    const mismatch = await errorOf(
      (await open({ kind: 'file', path, encryption: { passphrase: PASSPHRASE } })).load(),
    );
    expect(mismatch.code).toBe('decrypt_failed');
    expect(mismatch.message).toContain(
      'was encrypted with a key file, but a passphrase is configured',
    );

    const db = join(dir, 'tokens.db');
    await (await open({ kind: 'sqlite', path: db, profile: 'k', encryption: { keyFile } })).save(r);
    const back = await open({ kind: 'sqlite', path: db, profile: 'k', encryption: { keyFile } });
    expect(await back.load()).toEqual(r);
  });

  it('a missing or unusable key file is a ConfigError with the command that makes one', async () => {
    const missing = join(dir, 'nope.key');
    const path = join(dir, 'token.json');
    const err = await errorOf(
      (await open({ kind: 'file', path, encryption: { keyFile: missing } })).save(record()),
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      `the encryption key file ${missing} does not exist. create one: (umask 077; openssl rand -base64 32 > ${missing}), or fix --encryption-key-file (or TD_TOKEN_KEY_FILE)`,
    );
    const bad = join(dir, 'bad.key');
    await writeFile(bad, 'hunter2\n', { mode: 0o600 });
    const badErr = await errorOf(
      (await open({ kind: 'file', path, encryption: { keyFile: bad } })).save(record()),
    );
    expect(badErr.message).toContain('does not hold a key');
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a key file others can read is refused (not warned), naming the chmod; nothing is written', async () => {
    if (process.platform === 'win32') return;
    const keyFile = join(dir, 'loose.key');
    await createKeyFile(keyFile);
    await chmod(keyFile, 0o644);
    const warnings: string[] = [];
    const path = join(dir, 'token.json');
    const store = await open({
      kind: 'file',
      path,
      encryption: { keyFile },
      onWarning: (m) => warnings.push(m),
    });
    const err = await errorOf(store.save(record()));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      `the encryption key file ${keyFile} can be read or changed by other users (mode 0644). td-token refuses a key others can read or change. fix it: chmod 600 ${keyFile}`,
    );
    expect(warnings).toEqual([]);
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    await chmod(keyFile, 0o600);
    await store.save(record());
  });

  it('a key file that is a FIFO (or a folder) is refused at once, not waited on', {
    timeout: 10_000,
  }, async () => {
    if (process.platform === 'win32') return;
    const fifo = join(dir, 'fifo.key');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const started = Date.now();
    const err = await errorOf(
      (await open({ kind: 'file', path: join(dir, 't.json'), encryption: { keyFile: fifo } })).save(
        record(),
      ),
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      `the encryption key file ${fifo} is not a regular file (a FIFO). point --encryption-key-file (or TD_TOKEN_KEY_FILE) at a file holding 32 random bytes`,
    );
    const folder = join(dir, 'folder.key');
    await mkdir(folder, { mode: 0o700 });
    const folderErr = await errorOf(
      (
        await open({ kind: 'file', path: join(dir, 't.json'), encryption: { keyFile: folder } })
      ).save(record()),
    );
    expect(folderErr.message).toContain(
      `the encryption key file ${folder} is not a regular file (a folder)`,
    );
  });
});

describe('SQLite store with a passphrase', () => {
  it('round-trips per profile; no token in the database, its WAL or anything beside it', async () => {
    const path = join(dir, 'db', 'tokens.db');
    const a = await open({
      kind: 'sqlite',
      path,
      profile: 'alice',
      encryption: { passphrase: PASSPHRASE },
    });
    const b = await open({
      kind: 'sqlite',
      path,
      profile: 'bob',
      encryption: { passphrase: PASSPHRASE },
    });
    const ra = record();
    const rb = record();
    await a.save(ra);
    const lock = await b.lock();
    try {
      await lock.save(rb);
    } finally {
      await lock.release();
    }
    const fresh = await open({
      kind: 'sqlite',
      path,
      profile: 'alice',
      encryption: { passphrase: PASSPHRASE },
    });
    expect(await fresh.load()).toEqual(ra);
    expect(await b.load()).toEqual(rb);
    const bytes = await allBytes(join(dir, 'db'));
    expectNoSecrets(bytes, ra);
    expectNoSecrets(bytes, rb);
    expect(bytes).toContain('"td_token_encrypted":2');

    const wrong = await open({
      kind: 'sqlite',
      path,
      profile: 'alice',
      encryption: { passphrase: 'wrong' },
    });
    const err = await errorOf(wrong.load());
    expect(err.code).toBe('decrypt_failed');
    expect(err.message).toContain(`sqlite:${path}#alice`);
    expect(await fresh.load()).toEqual(ra);

    const plain = await open({ kind: 'sqlite', path, profile: 'alice' });
    expect((await errorOf(plain.load())).code).toBe('decrypt_failed');
  });
});

describe('Redis store with a passphrase or a key file (real redis-server)', () => {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  /** The raw value of every key the server holds, as one string. */
  async function allValues(url: string): Promise<string> {
    const { Redis } = await import('ioredis');
    const client = new Redis(url);
    try {
      const keys = await client.keys('*');
      const values = await Promise.all(keys.map((k) => client.get(k).catch(() => '')));
      return [...keys, ...values].join('\n');
    } finally {
      await client.quit();
    }
  }

  it('keeps only an AES-GCM envelope in Redis; round-trips through a fresh connection; a wrong key changes nothing', async () => {
    const url = (redis as RedisServer).url;
    const profile = `enc-${randomBytes(4).toString('hex')}`;
    const spec: StoreSpec = { kind: 'redis', url, profile, encryption: { passphrase: PASSPHRASE } };
    const writer = await open(spec);
    const r = record();
    await writer.save(r);
    const lock = await writer.lock();
    const r2 = record();
    try {
      await lock.save(r2);
    } finally {
      await lock.release();
    }
    expect(await writer.compareAndSave?.(r2.refresh_token, r)).toBe(true);
    const bytes = await allValues(url);
    expectNoSecrets(bytes, r);
    expectNoSecrets(bytes, r2);
    expect(bytes).toContain('"td_token_encrypted"');
    expect(await (await open(spec)).load()).toEqual(r);

    const wrong = await open({ ...spec, encryption: { passphrase: 'not-the-passphrase' } });
    const err = await errorOf(wrong.load());
    expect(err.code).toBe('decrypt_failed');
    expect(err.message).toContain(`key td-token:${profile}:token`);
    const plain = await open({ kind: 'redis', url, profile });
    expect((await errorOf(plain.load())).code).toBe('decrypt_failed');
    expect(await allValues(url)).toBe(bytes);

    const keyFile = join(dir, 'redis.key');
    await createKeyFile(keyFile);
    const keyed = await open({
      kind: 'redis',
      url,
      profile: `${profile}-k`,
      encryption: { keyFile },
    });
    await keyed.save(r2);
    expect(
      await (
        await open({ kind: 'redis', url, profile: `${profile}-k`, encryption: { keyFile } })
      ).load(),
    ).toEqual(r2);
    expectNoSecrets(await allValues(url), r2);

    // One profile's key copied over another's: refused, bound to its key.
    const { Redis } = await import('ioredis');
    const client = new Redis(url);
    try {
      await client.set(
        `td-token:${profile}-k:token`,
        (await client.get(`td-token:${profile}:token`)) as string,
      );
    } finally {
      await client.quit();
    }
    const moved = await errorOf(
      (
        await open({
          kind: 'redis',
          url,
          profile: `${profile}-k`,
          encryption: { passphrase: PASSPHRASE },
        })
      ).load(),
    );
    expect(moved.code).toBe('decrypt_failed');
    expect(moved.message).toContain(
      `was encrypted for another place (redis:td-token:${profile}:token)`,
    );
  });
});

/** A version 1 envelope (no binding), as td-token wrote before records were bound to a place. */
function v1Envelope(text: string, key: Buffer, scryptHeader?: { salt: Buffer; N: number }): string {
  const header: Record<string, unknown> = scryptHeader
    ? {
        kdf: 'scrypt',
        n: scryptHeader.N,
        r: 8,
        p: 1,
        salt: scryptHeader.salt.toString('base64url'),
      }
    : { kdf: 'keyfile' };
  const aad = scryptHeader
    ? `td-token:1:A256GCM:scrypt:${scryptHeader.N}:8:1:${scryptHeader.salt.toString('base64url')}`
    : 'td-token:1:A256GCM:keyfile';
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(aad));
  const ciphertext = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return `${JSON.stringify({
    td_token_encrypted: 1,
    alg: 'A256GCM',
    ...header,
    iv: iv.toString('base64url'),
    tag: cipher.getAuthTag().toString('base64url'),
    ciphertext: ciphertext.toString('base64url'),
  })}\n`;
}

describe('records bound to their place; older envelopes; scrypt cost', () => {
  it('a record copied from one profile’s file to another’s is decrypt_failed saying so; the copy changes nothing', async () => {
    const a = join(dir, 'profiles', 'live', 'token.json');
    const b = join(dir, 'profiles', 'paper', 'token.json');
    const spec = (path: string): StoreSpec => ({
      kind: 'file',
      path,
      encryption: { passphrase: PASSPHRASE },
    });
    const ra = record();
    await (await open(spec(a))).save(ra);
    await (await open(spec(b))).save(record());
    await copyFile(a, b);
    const copied = await readFile(b, 'utf8');
    const err = await errorOf((await open(spec(b))).load());
    expect(err.code).toBe('decrypt_failed');
    expect(err.message).toBe(
      `the token record in ${b} was encrypted for another place (file:${await realpath(a)}) and copied or moved here; td-token refuses it, so that one profile's login cannot be planted in another's. if you moved it yourself, move it back; otherwise log in again: 'td-token login'`,
    );
    expect(await readFile(b, 'utf8')).toBe(copied);
    // Rewriting "bind" to the victim's place does not help: the place is authenticated.
    const forged = JSON.parse(copied) as Record<string, unknown>;
    forged['bind'] = `file:${await realpath(b)}`;
    await writeFile(b, JSON.stringify(forged), { mode: 0o600 });
    expect((await errorOf((await open(spec(b))).load())).code).toBe('decrypt_failed');
    expect(await (await open(spec(a))).load()).toEqual(ra);
  });

  it('a SQLite row copied from one profile to another is refused the same way (key file)', async () => {
    const keyFile = join(dir, 'token.key');
    await createKeyFile(keyFile);
    const path = join(dir, 'tokens.db');
    const spec = (profile: string): StoreSpec => ({
      kind: 'sqlite',
      path,
      profile,
      encryption: { keyFile },
    });
    const ra = record();
    await (await open(spec('live'))).save(ra);
    await (await open(spec('paper'))).save(record());
    const db = openDatabase(path);
    try {
      db.prepare(
        "UPDATE tokens SET record = (SELECT record FROM tokens WHERE profile = 'live') WHERE profile = 'paper'",
      ).run();
    } finally {
      db.close();
    }
    const err = await errorOf((await open(spec('paper'))).load());
    expect(err.code).toBe('decrypt_failed');
    expect(err.message).toContain(
      `was encrypted for another place (sqlite:${await realpath(path)}#live)`,
    );
    expect(await (await open(spec('live'))).load()).toEqual(ra);
  });

  it('a version 1 envelope (written before binding, N = 2^15) still opens, and is rebound at the current cost on its next save', async () => {
    const path = join(dir, 'token.json');
    const r = record();
    const salt = randomBytes(16);
    const key = scryptSync(PASSPHRASE, salt, 32, {
      N: 2 ** 15,
      r: 8,
      p: 1,
      maxmem: 64 * 1024 * 1024,
    });
    await writeFile(path, v1Envelope(JSON.stringify(r), key, { salt, N: 2 ** 15 }), {
      mode: 0o600,
    });
    const store = await open({ kind: 'file', path, encryption: { passphrase: PASSPHRASE } });
    expect(await store.load()).toEqual(r);
    await store.save(r);
    const rewritten = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(rewritten).toMatchObject({
      td_token_encrypted: 2,
      n: 2 ** 17,
      r: 8,
      p: 1,
      bind: `file:${await realpath(path)}`,
    });
    expect(rewritten['salt']).not.toBe(salt.toString('base64url'));
    expect(
      await (await open({ kind: 'file', path, encryption: { passphrase: PASSPHRASE } })).load(),
    ).toEqual(r);

    const keyFile = join(dir, 'v1.key');
    await createKeyFile(keyFile);
    const fileKey = keyFromKeyFileBytes(await readFile(keyFile)) as Buffer;
    const keyed = join(dir, 'keyed.json');
    await writeFile(keyed, v1Envelope(JSON.stringify(r), fileKey), { mode: 0o600 });
    expect(
      await (await open({ kind: 'file', path: keyed, encryption: { keyFile } })).load(),
    ).toEqual(r);
  });

  it('the stored-cost check enforces scrypt’s N < 2^(16 r): such a file is invalid_token_file, not an OpenSSL failure', async () => {
    expect(DEFAULT_SCRYPT_COST).toEqual({ N: 2 ** 17, r: 8, p: 1 });
    expect(() =>
      createEncryptingCodec({ passphrase: 'a' }, { scryptCost: { N: 2 ** 16, r: 1, p: 1 } }),
    ).toThrow(TypeError);
    const codec = createEncryptingCodec(
      { passphrase: PASSPHRASE },
      { scryptCost: { N: 2 ** 10, r: 8, p: 1 } },
    );
    const stored = JSON.parse(await codec.encode('{"x":1}')) as Record<string, unknown>;
    Object.assign(stored, { n: 2 ** 16, r: 1, p: 1 });
    let caught: unknown;
    try {
      await codec.decode(JSON.stringify(stored), '/tmp/token.json');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StoreError);
    expect((caught as StoreError).code).toBe('invalid_token_file');
    expect((caught as StoreError).message).toContain('has scrypt parameters out of range');
  });
});

describe('codec arguments', () => {
  it('wants exactly one of passphrase and keyFile, as non-empty strings', () => {
    expect(() => createEncryptingCodec({})).toThrow(
      new TypeError('"encryption" must have exactly one of "passphrase" and "keyFile"'),
    );
    expect(() => createEncryptingCodec({ passphrase: 'a', keyFile: 'b' })).toThrow(
      new TypeError('"encryption" must have exactly one of "passphrase" and "keyFile"'),
    );
    expect(() => createEncryptingCodec({ passphrase: '' })).toThrow(
      new TypeError('"encryption.passphrase" must be a non-empty string'),
    );
    expect(() =>
      createEncryptingCodec({ passphrase: 'a' }, { scryptCost: { N: 3, r: 8, p: 1 } }),
    ).toThrow(TypeError);
  });

  it('a derived key is cached per salt: reading back what this codec wrote costs no scrypt', async () => {
    const codec = createEncryptingCodec({ passphrase: PASSPHRASE });
    let t = performance.now();
    const stored = await codec.encode('{"x":1}');
    const encodeMs = performance.now() - t;
    t = performance.now();
    expect(await codec.decode(stored, 'memory')).toBe('{"x":1}');
    const cachedMs = performance.now() - t;
    const other = createEncryptingCodec({ passphrase: PASSPHRASE });
    t = performance.now();
    expect(await other.decode(stored, 'memory')).toBe('{"x":1}');
    const coldMs = performance.now() - t;
    // One scrypt (N=2^17, r=8) costs hundreds of ms; a cached decode well under one.
    expect(cachedMs).toBeLessThan(coldMs / 4);
    process.stdout.write(
      `encryption cost: encode ${encodeMs.toFixed(1)} ms (one scrypt), cold decode ${coldMs.toFixed(1)} ms, cached decode ${cachedMs.toFixed(2)} ms\n`,
    );
  });
});

describe('a refresh costs no scrypt', () => {
  it('a process derives once, at its first load; its saves keep that salt, so ten refreshes derive nothing (measured)', async () => {
    const bind = 'file:/srv/token.json';
    const stored = await createEncryptingCodec({ passphrase: PASSPHRASE }).encode('{"x":0}', bind);
    // A new process: its first load derives the key for the stored salt.
    const proc = createEncryptingCodec({ passphrase: PASSPHRASE });
    let t = performance.now();
    expect(await proc.decode(stored, '/srv/token.json', bind)).toBe('{"x":0}');
    const coldLoadMs = performance.now() - t;
    // Its refreshes: a save and a load each, all under the same salt.
    t = performance.now();
    let last = stored;
    for (let i = 1; i <= 10; i++) {
      last = await proc.encode(`{"x":${i}}`, bind);
      expect(await proc.decode(last, '/srv/token.json', bind)).toBe(`{"x":${i}}`);
    }
    const tenRefreshesMs = performance.now() - t;
    expect((JSON.parse(last) as Record<string, unknown>)['salt']).toBe(
      (JSON.parse(stored) as Record<string, unknown>)['salt'],
    );
    expect(tenRefreshesMs).toBeLessThan(coldLoadMs / 2);
    process.stdout.write(
      `encryption cost (N=2^17): first load of a process ${coldLoadMs.toFixed(1)} ms (one scrypt); ten refreshes after it ${tenRefreshesMs.toFixed(2)} ms in all (no scrypt)\n`,
    );
  });
});

describe('configuration', () => {
  let cfgDir: string;
  const input = (flags: Record<string, string>, env: Record<string, string> = {}) => ({
    flags,
    env: { HOME: dir, ...env },
    cwd: dir,
    configDir: cfgDir,
  });
  beforeEach(() => {
    cfgDir = join(dir, 'config');
  });

  it('TD_TOKEN_PASSPHRASE (environment only), --passphrase-file and --encryption-key-file', async () => {
    const fromEnv = await resolveConfig(input({}, { TD_TOKEN_PASSPHRASE: ' spaced pass ' }));
    expect(fromEnv.store).toEqual({
      kind: 'file',
      path: join(cfgDir, 'tokens', 'default.json'),
      encryption: { passphrase: ' spaced pass ' },
    });
    expect(fromEnv.sources.encryption).toEqual({ kind: 'env', name: 'TD_TOKEN_PASSPHRASE' });

    await writeFile(join(dir, 'pass.txt'), 'from a file\nsecond line\n', { mode: 0o600 });
    const fromFile = await resolveConfig(
      input({ 'passphrase-file': 'pass.txt', store: 'sqlite' }, { TD_TOKEN_PASSPHRASE: 'env' }),
    );
    expect(fromFile.store).toMatchObject({
      kind: 'sqlite',
      encryption: { passphrase: 'from a file' },
    });
    expect(fromFile.sources.encryption).toEqual({ kind: 'flag', name: '--passphrase-file' });

    const keyed = await resolveConfig(
      input({}, { TD_TOKEN_KEY_FILE: 'k.key', TD_TOKEN_FILE: 'output/token.json' }),
    );
    expect(keyed.store).toEqual({
      kind: 'file',
      path: join(dir, 'output', 'token.json'),
      encryption: { keyFile: join(dir, 'k.key') },
    });

    // Without any, no encryption member at all.
    const none = await resolveConfig(input({}));
    expect(none.store).toEqual({ kind: 'file', path: join(cfgDir, 'tokens', 'default.json') });
  });

  it('a passphrase and a key file from the same level is an error; redis is encrypted too, memory ignores them with a warning', async () => {
    const both = await errorOf(
      resolveConfig(input({}, { TD_TOKEN_PASSPHRASE: 'p', TD_TOKEN_KEY_FILE: 'k.key' })),
    );
    expect(both).toBeInstanceOf(ConfigError);
    expect(both.message).toContain('say how to encrypt the store. use one');
    const redis = await resolveConfig(
      input(
        { store: 'redis', 'store-url': 'redis://127.0.0.1:6379' },
        { TD_TOKEN_PASSPHRASE: 'p' },
      ),
    );
    expect(redis.store).toEqual({
      kind: 'redis',
      url: 'redis://127.0.0.1:6379',
      profile: 'default',
      encryption: { passphrase: 'p' },
    });
    expect(redis.warnings).toEqual([]);
    const memory = await resolveConfig(input({ store: 'memory' }, { TD_TOKEN_PASSPHRASE: 'p' }));
    expect(memory.store).toEqual({ kind: 'memory' });
    expect(memory.warnings).toEqual([
      'ignoring the environment variable TD_TOKEN_PASSPHRASE: the memory store keeps nothing at rest to encrypt',
    ]);
    const empty = join(dir, 'empty.txt');
    await writeFile(empty, '\n');
    const err = await errorOf(resolveConfig(input({ 'passphrase-file': empty })));
    expect(err.message).toBe(
      `--passphrase-file names ${empty}, whose first line is empty. put the passphrase on its first line`,
    );
  });
});

describe('td-token token with an encrypted token file (built CLI, sandbox)', () => {
  let sandbox: Sandbox;
  let home: Home;
  beforeAll(async () => {
    assertBuilt();
    sandbox = await startSandbox({ flavor: 'schwab', settings: { rateLimitPerMinute: 0 } });
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  beforeEach(async () => {
    home = await makeHome();
  });
  afterEach(async () => {
    await home.cleanup();
  });

  it('refreshes and prints the token with TD_TOKEN_PASSPHRASE; the file stays encrypted; a wrong or missing passphrase changes nothing', async () => {
    const tokenFile = join(home.cwd, 'output', 'token.json');
    const flags = [...sandboxFlags(sandbox, 'schwab'), '--token-file', tokenFile];
    const login = await sandboxLogin(sandbox, 'schwab');
    const spec: StoreSpec = {
      kind: 'file',
      path: tokenFile,
      encryption: { passphrase: PASSPHRASE },
    };
    await (await open(spec)).save({ ...login, expires_at: Date.now() - 1000 });
    sandbox.resetCounters();

    const r = await runCli(['token', ...flags], home, { env: { TD_TOKEN_PASSPHRASE: PASSPHRASE } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sandbox.counters().token.refresh_token).toBe(1);
    const text = await readFile(tokenFile, 'utf8');
    expect(isEncryptedRecord(text)).toBe(true);
    const stored = (await (await open(spec)).load()) as TokenRecord;
    expect(r.stdout).toBe(`${stored.access_token}\n`);
    expect(stored.access_token).not.toBe(login.access_token);
    expectNoSecrets(text, stored);
    const api = await fetch(new URL('/trader/v1/accounts/accountNumbers', sandbox.apiUrl), {
      headers: { authorization: `Bearer ${stored.access_token}` },
    });
    expect(api.status).toBe(200);

    // Fresh now: a second call prints the same token without a refresh.
    const again = await runCli(['token', ...flags], home, {
      env: { TD_TOKEN_PASSPHRASE: PASSPHRASE },
    });
    expect(again.stdout).toBe(r.stdout);
    expect(sandbox.counters().token.refresh_token).toBe(1);

    const wrong = await runCli(['token', ...flags], home, {
      env: { TD_TOKEN_PASSPHRASE: 'guess' },
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toContain('could not decrypt the token record in');
    expect(wrong.stderr).toContain('TD_TOKEN_PASSPHRASE');
    const none = await runCli(['token', ...flags], home);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('is encrypted, and no passphrase or key file is configured');
    expect(await readFile(tokenFile, 'utf8')).toBe(text);

    // The passphrase from a file works the same.
    const passFile = join(home.root, 'pass');
    await writeFile(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    const viaFile = await runCli(['token', ...flags, '--passphrase-file', passFile], home);
    expect(viaFile.code).toBe(0);
    expect(viaFile.stdout).toBe(r.stdout);
  });

  it('--encryption-key-file refuses a plain token file (exit 1, naming the file and the fix) and leaves it as it was', async () => {
    const tokenFile = join(home.cwd, 'token.json');
    const keyFile = join(home.root, 'token.key');
    await createKeyFile(keyFile);
    const flags = [
      ...sandboxFlags(sandbox, 'schwab'),
      '--token-file',
      tokenFile,
      '--encryption-key-file',
      keyFile,
    ];
    const login = await sandboxLogin(sandbox, 'schwab');
    await new FileStore(tokenFile).save({ ...login, expires_at: Date.now() - 1000 });
    const before = await readFile(tokenFile, 'utf8');
    const r = await runCli(['token', ...flags], home);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `the token record in ${tokenFile} is not encrypted, but encryption is configured, so td-token refuses it`,
    );
    expect(r.stderr).toContain(
      "replace it with an encrypted one by logging in again: 'td-token login",
    );
    expect(await readFile(tokenFile, 'utf8')).toBe(before);
  });
});
