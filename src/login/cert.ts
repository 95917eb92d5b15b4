/**
 * The login server's certificate: a self-signed certificate for `localhost`, `127.0.0.1` and
 * `::1`, made once and kept in the user's config folder (key 0600 in a 0700 folder), reused while
 * it is valid and made again when it is expired, about to expire, corrupt or mismatched.
 *
 * The certificate generator is loaded with `import()` only when a certificate has to be made,
 * so commands that never log in stay fast.
 *
 * @module
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { writeFileAtomic, writePrivateFile } from '../stores/atomic-file.js';

/** File names inside the certificate folder. */
export const CERT_FILE_NAME = 'localhost-cert.pem';
export const KEY_FILE_NAME = 'localhost-key.pem';

/** How long a new certificate is valid: 825 days, the most Apple's platforms accept. */
export const CERT_VALIDITY_DAYS = 825;

/** A certificate with less than this left is made again. */
const RENEW_BEFORE_MS = 7 * 86_400_000;

const DAY_MS = 86_400_000;

/** The names every td-token certificate covers. */
export const CERT_HOSTS = { dns: ['localhost'], ips: ['127.0.0.1', '::1'] } as const;

/** What {@link ensureCertificate} gives back. */
export interface CertificateFiles {
  /** The certificate, PEM. */
  cert: string;
  /** The private key, PEM (PKCS#8). */
  key: string;
  certPath: string;
  keyPath: string;
  /** True when this call made a new certificate. */
  created: boolean;
}

const isWindows = process.platform === 'win32';

function isNodeError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}

/**
 * Why a stored pair cannot be used, or undefined when it can. Checks the dates (with a margin),
 * the names, and that the key belongs to the certificate.
 */
export function certificateProblem(cert: string, key: string, now: number): string | undefined {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    return 'the certificate does not parse';
  }
  const notBefore = Date.parse(x509.validFrom);
  const notAfter = Date.parse(x509.validTo);
  if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter)) return 'its dates do not parse';
  if (notBefore > now) return 'it is not valid yet';
  if (notAfter - RENEW_BEFORE_MS <= now) return 'it has expired or expires within a week';
  for (const dns of CERT_HOSTS.dns) {
    if (x509.checkHost(dns, { subject: 'never' }) === undefined) return `it does not cover ${dns}`;
  }
  for (const ip of CERT_HOSTS.ips) {
    if (x509.checkIP(ip) === undefined) return `it does not cover ${ip}`;
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) return 'the key does not match it';
  } catch {
    return 'the key does not parse';
  }
  return undefined;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isNodeError(error) && error.code === 'ENOENT') return undefined;
    throw error;
  }
}

async function tightenMode(path: string, mode: number): Promise<void> {
  if (isWindows) return;
  const info = await stat(path);
  // Only ever take permissions away.
  if ((info.mode & 0o777 & ~mode) !== 0) await chmod(path, info.mode & mode & 0o777);
}

/** Make a new self-signed pair for localhost, 127.0.0.1 and ::1. */
async function generatePair(now: number): Promise<{ cert: string; key: string }> {
  const selfsigned = await import('selfsigned');
  const notBefore = new Date(now - 3_600_000);
  const notAfter = new Date(notBefore.getTime() + CERT_VALIDITY_DAYS * DAY_MS);
  const pems = await selfsigned.generate(
    [
      { name: 'commonName', value: 'localhost' },
      { name: 'organizationName', value: 'td-token local login' },
    ],
    {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: notBefore,
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            ...CERT_HOSTS.dns.map((value) => ({ type: 2 as const, value })),
            ...CERT_HOSTS.ips.map((ip) => ({ type: 7 as const, ip })),
          ],
        },
      ],
    },
  );
  return { cert: pems.cert, key: pems.private };
}

/**
 * Return the login server's certificate from `certDir`, making one first when there is none or
 * the stored one cannot be used (expired, expiring within a week, corrupt, key mismatch).
 * The folder is made 0700, the key written 0600 and the certificate 0644.
 *
 * @example
 * const { cert, key, certPath } = await ensureCertificate(join(configDir(process.env), 'certs'));
 * https.createServer({ cert, key }, handler);
 */
export async function ensureCertificate(certDir: string): Promise<CertificateFiles> {
  if (typeof certDir !== 'string' || certDir === '') {
    throw new TypeError('"certDir" must be a non-empty string');
  }
  const certPath = join(certDir, CERT_FILE_NAME);
  const keyPath = join(certDir, KEY_FILE_NAME);
  try {
    await mkdir(certDir, { recursive: true, mode: 0o700 });
    await tightenMode(certDir, 0o700);

    const [storedCert, storedKey] = await Promise.all([
      readIfExists(certPath),
      readIfExists(keyPath),
    ]);
    if (
      storedCert !== undefined &&
      storedKey !== undefined &&
      certificateProblem(storedCert, storedKey, Date.now()) === undefined
    ) {
      await tightenMode(keyPath, 0o600);
      return { cert: storedCert, key: storedKey, certPath, keyPath, created: false };
    }

    const { cert, key } = await generatePair(Date.now());
    // Key first: a crash between the two renames leaves a mismatched pair, which the next run
    // detects and replaces.
    await writePrivateFile(keyPath, key, 'the login certificate key');
    await writeFileAtomic(certPath, cert, { what: 'the login certificate', mode: 0o644 });
    return { cert, key, certPath, keyPath, created: true };
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    const reason = isNodeError(cause) && cause.code ? ` (${cause.code})` : '';
    throw new ConfigError(
      `could not make or read the login certificate in ${certDir}${reason}. check that the folder is writable by you, or give your own certificate with --cert and --key`,
      { cause },
    );
  }
}
