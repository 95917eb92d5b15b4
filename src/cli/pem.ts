/**
 * A certificate and key given on the command line (`--cert P --key P`, both or neither), read as
 * PEM text: the login server and the phone re-login page take them alike.
 *
 * @internal
 * @module
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { UsageError } from './failure.js';

async function readPem(path: string, flag: string, cwd: string): Promise<string> {
  try {
    return await readFile(resolve(cwd, path), 'utf8');
  } catch (cause) {
    throw new ConfigError(
      `${flag} ${path} cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'error'}). give the path of a PEM file`,
      { cause },
    );
  }
}

/** Throws a usage error unless `--cert` and `--key` are both given or both left out. */
export function checkCertFlags(values: Record<string, unknown>): void {
  if ((values['cert'] === undefined) !== (values['key'] === undefined)) {
    throw new UsageError(
      "--cert and --key go together: give both, or neither to use td-token's own certificate",
    );
  }
}

/** The `--cert`/`--key` pair of `values`, read; undefined when neither is given. */
export async function readCertFlags(
  values: Record<string, unknown>,
  cwd: string,
): Promise<{ cert: string; key: string } | undefined> {
  checkCertFlags(values);
  const certFlag = values['cert'];
  const keyFlag = values['key'];
  if (typeof certFlag !== 'string' || typeof keyFlag !== 'string') return undefined;
  return {
    cert: await readPem(certFlag, '--cert', cwd),
    key: await readPem(keyFlag, '--key', cwd),
  };
}
