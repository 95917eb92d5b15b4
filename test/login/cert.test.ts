import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:https';
import { type AddressInfo, isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTdTokenError } from '../../src/errors.js';
import { CERT_VALIDITY_DAYS, certificateProblem, ensureCertificate } from '../../src/login/cert.js';

const DAY = 86_400_000;
const posix = process.platform !== 'win32';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'td-token-cert-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
const freshDir = () => join(root, `certs-${++n}`, 'nested');

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** GET / over TLS, trusting only `ca`, addressed to `host` (servername checked). */
function getWithCa(host: string, port: number, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        path: '/',
        ca,
        servername: isIP(host) === 0 ? host : undefined,
        family: host.includes(':') ? 6 : 4,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('ensureCertificate', () => {
  it('makes a certificate for localhost, 127.0.0.1 and ::1 with private modes', async () => {
    const dir = freshDir();
    const made = await ensureCertificate(dir);
    expect(made.created).toBe(true);
    expect(made.certPath).toBe(join(dir, 'localhost-cert.pem'));
    expect(made.keyPath).toBe(join(dir, 'localhost-key.pem'));
    expect(await readFile(made.certPath, 'utf8')).toBe(made.cert);
    expect(await readFile(made.keyPath, 'utf8')).toBe(made.key);
    expect(made.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);

    const x509 = new X509Certificate(made.cert);
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkIP('::1')).toBe('::1');
    expect(x509.checkHost('example.com')).toBeUndefined();
    const days = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / DAY;
    expect(days).toBeGreaterThan(CERT_VALIDITY_DAYS - 1);
    expect(days).toBeLessThanOrEqual(CERT_VALIDITY_DAYS);
    expect(Date.parse(x509.validFrom)).toBeLessThanOrEqual(Date.now());
    expect(certificateProblem(made.cert, made.key, Date.now())).toBeUndefined();

    if (posix) {
      expect(await mode(dir)).toBe(0o700);
      expect(await mode(made.keyPath)).toBe(0o600);
      expect(await mode(made.certPath)).toBe(0o644);
    }
  });

  it('reuses a valid certificate and tightens loose modes', async () => {
    const dir = freshDir();
    const first = await ensureCertificate(dir);
    if (posix) {
      await chmod(dir, 0o755);
      await chmod(first.keyPath, 0o644);
    }
    const second = await ensureCertificate(dir);
    expect(second.created).toBe(false);
    expect(second.cert).toBe(first.cert);
    expect(second.key).toBe(first.key);
    if (posix) {
      expect(await mode(dir)).toBe(0o700);
      expect(await mode(first.keyPath)).toBe(0o600);
    }
  });

  it('makes a new one when the stored certificate is corrupt', async () => {
    const dir = freshDir();
    const first = await ensureCertificate(dir);
    await writeFile(first.certPath, '-----BEGIN CERTIFICATE-----\ngarbage\n');
    const again = await ensureCertificate(dir);
    expect(again.created).toBe(true);
    expect(again.cert).not.toBe(first.cert);
    expect(certificateProblem(again.cert, again.key, Date.now())).toBeUndefined();
  });

  it('makes a new one when only one of the pair exists or the key does not match', async () => {
    const dir = freshDir();
    const first = await ensureCertificate(dir);
    await rm(first.keyPath);
    const second = await ensureCertificate(dir);
    expect(second.created).toBe(true);

    const other = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      algorithm: 'sha256',
    });
    await writeFile(second.keyPath, other.private);
    expect(certificateProblem(second.cert, other.private, Date.now())).toMatch(
      /key does not match/,
    );
    const third = await ensureCertificate(dir);
    expect(third.created).toBe(true);
    expect(certificateProblem(third.cert, third.key, Date.now())).toBeUndefined();
  });

  it('makes a new one when the stored certificate has expired or expires within a week', async () => {
    for (const notAfter of [Date.now() - DAY, Date.now() + 3 * DAY]) {
      const dir = freshDir();
      const first = await ensureCertificate(dir);
      const old = await generate([{ name: 'commonName', value: 'localhost' }], {
        keyType: 'ec',
        algorithm: 'sha256',
        notBeforeDate: new Date(notAfter - 30 * DAY),
        notAfterDate: new Date(notAfter),
        extensions: [
          {
            name: 'subjectAltName',
            altNames: [
              { type: 2, value: 'localhost' },
              { type: 7, ip: '127.0.0.1' },
              { type: 7, ip: '::1' },
            ],
          },
        ],
      });
      await writeFile(first.certPath, old.cert);
      await writeFile(first.keyPath, old.private);
      expect(certificateProblem(old.cert, old.private, Date.now())).toMatch(/expire/);
      const again = await ensureCertificate(dir);
      expect(again.created).toBe(true);
      expect(Date.parse(new X509Certificate(again.cert).validTo)).toBeGreaterThan(
        Date.now() + 800 * DAY,
      );
    }
  });

  it('refuses a certificate that does not cover ::1', async () => {
    const partial = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    });
    expect(certificateProblem(partial.cert, partial.private, Date.now())).toBe(
      'it does not cover ::1',
    );
  });

  it('gives a certificate TLS clients accept for all three loopback names', async () => {
    const made = await ensureCertificate(freshDir());
    const server = createServer({ cert: made.cert, key: made.key }, (_req, res) => {
      res.writeHead(204);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      expect(await getWithCa('localhost', port, made.cert)).toBe(204);
      expect(await getWithCa('127.0.0.1', port, made.cert)).toBe(204);
      // A certificate made for another name is refused by the same client.
      const other = await generate([{ name: 'commonName', value: 'example.com' }], {
        keyType: 'ec',
        algorithm: 'sha256',
      });
      await expect(getWithCa('127.0.0.1', port, other.cert)).rejects.toThrow();
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    // ::1, where this machine has IPv6 loopback.
    const server6 = createServer({ cert: made.cert, key: made.key }, (_req, res) => {
      res.writeHead(204);
      res.end();
    });
    const listening = await new Promise<boolean>((resolve) => {
      server6.once('error', () => resolve(false));
      server6.listen(0, '::1', () => resolve(true));
    });
    if (listening) {
      try {
        const { port: port6 } = server6.address() as AddressInfo;
        expect(await getWithCa('::1', port6, made.cert)).toBe(204);
      } finally {
        server6.closeAllConnections();
        await new Promise<void>((resolve) => server6.close(() => resolve()));
      }
    }
  });

  it('names the folder in a config error when it cannot be made', async () => {
    // A regular file where a folder should be: fails the same for every user, root included.
    const blocker = join(root, 'not-a-folder');
    await writeFile(blocker, 'x');
    const dir = join(blocker, 'certs');
    const error = await ensureCertificate(dir).catch((e: unknown) => e);
    expect(isTdTokenError(error, 'invalid_config')).toBe(true);
    expect((error as Error).message).toContain(dir);
    expect((error as Error).message).toMatch(/--cert and --key$/);
  });

  it('checks its argument', async () => {
    await expect(ensureCertificate('')).rejects.toThrow(
      new TypeError('"certDir" must be a non-empty string'),
    );
  });
});

describe('loading', () => {
  it('loads the certificate generator only when a certificate has to be made', async () => {
    const { execFile } = await import('node:child_process');
    const { existsSync } = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    const built = fileURLToPath(new URL('../../dist/login/index.js', import.meta.url));
    expect(existsSync(built), `${built} is missing: run 'npm run build' first`).toBe(true);
    const script = `
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const loaded = () => Object.keys(require.cache).some((k) => k.includes('/selfsigned/'));
      const login = await import(${JSON.stringify(built)});
      const before = loaded();
      await login.ensureCertificate(process.argv[1]);
      console.log(JSON.stringify({ before, after: loaded() }));
    `;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script, join(root, 'lazy-certs')],
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      );
    });
    expect(JSON.parse(out)).toEqual({ before: false, after: true });
  });
});
