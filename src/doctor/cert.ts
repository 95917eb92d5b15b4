/**
 * The login certificate check: whether the certificate td-token's login server shows is
 * trusted where browsers and tools look (the system's CA bundle, NODE_EXTRA_CA_CERTS, the macOS
 * keychain, Chrome's NSS database on Linux), and if not, which command trusts it.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { CERT_FILE_NAME, certificateProblem, KEY_FILE_NAME } from '../login/cert.js';
import { type CheckResult, fail, pass } from './types.js';

const NAME = 'certificate';

/** The system CA bundles of the common Unix systems, first found wins. */
export const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/cert.pem',
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
] as const;

async function readText(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** SHA-256 fingerprints of every certificate in a PEM bundle. */
export function bundleFingerprints(pem: string): Set<string> {
  const out = new Set<string>();
  for (const match of pem.matchAll(
    /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
  )) {
    try {
      out.add(new X509Certificate(match[0]).fingerprint256);
    } catch {
      // A broken entry in someone's bundle is not ours to judge.
    }
  }
  return out;
}

function run(command: string, args: string[]): Promise<{ ok: boolean; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { timeout: 5000, env: { PATH: process.env['PATH'] ?? '' } },
      (error, stdout) => resolve({ ok: error === null, stdout: String(stdout) }),
    );
  });
}

/** Where the certificate is trusted, by name; empty when nowhere. */
async function trustedIn(
  certPath: string,
  fingerprint: string,
  env: NodeJS.ProcessEnv,
): Promise<string[]> {
  const places: string[] = [];
  const sslCertFile = env['SSL_CERT_FILE'];
  const bundles = sslCertFile ? [sslCertFile] : [...SYSTEM_BUNDLES];
  for (const bundle of bundles) {
    const text = await readText(bundle);
    if (text === undefined) continue;
    if (bundleFingerprints(text).has(fingerprint)) places.push(`the system CA bundle ${bundle}`);
    break;
  }
  const extra = env['NODE_EXTRA_CA_CERTS'];
  if (extra) {
    const text = await readText(extra);
    if (text !== undefined && bundleFingerprints(text).has(fingerprint)) {
      places.push(`NODE_EXTRA_CA_CERTS (${extra})`);
    }
  }
  if (process.platform === 'darwin') {
    if ((await run('security', ['verify-cert', '-c', certPath])).ok)
      places.push('the macOS keychain');
  } else if (process.platform === 'linux' && env['HOME']) {
    const db = `sql:${join(env['HOME'], '.pki', 'nssdb')}`;
    const listed = await run('certutil', ['-d', db, '-L', '-a', '-n', 'td-token-localhost']);
    if (listed.ok && bundleFingerprints(listed.stdout).has(fingerprint)) {
      places.push("Chrome's NSS database (~/.pki/nssdb)");
    }
  }
  return places;
}

/**
 * The certificate check for a redirect URI: not needed unless it is https on this computer;
 * else the stored certificate must be usable and trusted somewhere a browser looks.
 */
export async function checkCertificate(
  redirectUri: string,
  certDir: string,
  env: NodeJS.ProcessEnv,
): Promise<CheckResult> {
  if (!URL.canParse(redirectUri) || new URL(redirectUri).protocol !== 'https:') {
    return pass(NAME, 'not needed: the redirect URI is not https');
  }
  const certPath = join(certDir, CERT_FILE_NAME);
  const cert = await readText(certPath);
  const key = await readText(join(certDir, KEY_FILE_NAME));
  if (cert === undefined || key === undefined) {
    return fail(
      NAME,
      `there is no login certificate yet (${certPath}), so the browser will warn about the login page`,
      "run 'td-token cert': it makes the certificate and prints the command that makes this computer trust it (or accept the browser's warning once per login)",
    );
  }
  const problem = certificateProblem(cert, key, Date.now());
  if (problem !== undefined) {
    return fail(
      NAME,
      `the login certificate ${certPath} cannot be used: ${problem}`,
      "run 'td-token cert' to make a new one, then trust it with the command it prints",
    );
  }
  const fingerprint = new X509Certificate(cert).fingerprint256;
  const places = await trustedIn(certPath, fingerprint, env);
  if (places.length === 0) {
    return fail(
      NAME,
      `the login certificate ${certPath} is not trusted by this computer, so the browser warns about the login page`,
      "run 'td-token cert' and the trust command it prints for your system (e.g. sudo cp ... /usr/local/share/ca-certificates/ && sudo update-ca-certificates), or accept the browser's warning once per login",
    );
  }
  return pass(NAME, `the login certificate ${certPath} is trusted by ${places.join(' and ')}`);
}
