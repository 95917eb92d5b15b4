/**
 * The loopback HTTP surface's bearer secret: 32 random bytes, base64url, in a 0600 file in a
 * 0700 folder. Read when the file exists (and refused when others may read it), else made.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import { ensureFolder, writeFileAtomic } from '../stores/atomic-file.js';

const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A new secret: 32 random bytes, base64url (43 characters). */
export function newAgentSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The secret in `path`, made (atomically, 0600) when the file does not exist. */
export async function loadOrCreateSecret(
  path: string,
): Promise<{ secret: string; created: boolean }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await ensureFolder(dirname(path));
    const secret = newAgentSecret();
    await writeFileAtomic(path, `${secret}\n`);
    return { secret, created: true };
  }
  const info = await stat(path);
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    throw new ConfigError(
      `the agent secret file ${path} may be read by others (mode ${(info.mode & 0o777).toString(8)}). Run: chmod 600 '${path}' (or delete it to have a new one made).`,
    );
  }
  const secret = text.trim();
  if (!SECRET_PATTERN.test(secret)) {
    throw new ConfigError(
      `the agent secret file ${path} does not hold 32 base64url-encoded bytes. Delete it to have a new one made.`,
    );
  }
  return { secret, created: false };
}
