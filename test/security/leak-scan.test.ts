/**
 * The suite-wide secret scan can fail: the scanner finds secrets (whole, encoded, or a part)
 * planted in a fake output log and masks them in its report; and test/run-suite.mjs, run on a
 * small fixture suite, fails when a test prints a code it got from the sandbox and a child
 * process prints a refresh token, and passes when they print only masked forms.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  formatLeak,
  MIN_LEAK,
  maskSecret,
  parseLedger,
  scanForLeaks,
} from '../helpers/secret-scan.mjs';

const RUNNER = fileURLToPath(new URL('../run-suite.mjs', import.meta.url));
const FIXTURE_CONFIG = fileURLToPath(
  new URL('./fixtures/leak-suite/vitest.config.ts', import.meta.url),
);

/** Secrets shaped like the sandbox's: TD base64 with + / = @, Schwab's fixed issuer prefix. */
function tdCode(): string {
  const b = (n: number) => randomBytes(n).toString('base64');
  return `${b(45)}/${b(30)}+${b(15)}@${b(10)}`;
}
function schwabToken(): string {
  return `I0.b2F1dGgyLnNhbmRib3guc2Nod2Fi.${randomBytes(48).toString('base64url')}@`;
}

function ledgerOf(entries: [string, string][]): string {
  return entries.map(([k, v]) => `${k} ${v}\n`).join('');
}

describe('scanForLeaks', () => {
  const code = tdCode();
  const access = schwabToken();
  const other = schwabToken();
  const refresh = `${randomBytes(60).toString('base64')}+${randomBytes(30).toString('base64')}`;
  const ledger = ledgerOf([
    ['code', code],
    ['access_token', access],
    ['access_token', other],
    ['refresh_token', refresh],
    ['code', code],
  ]);

  it('reads the ledger: kinds and distinct values', () => {
    expect(parseLedger(ledger).map((e) => e.kind)).toEqual([
      'code',
      'access_token',
      'access_token',
      'refresh_token',
    ]);
  });

  it('finds nothing in clean output: masked tokens and the shared issuer prefix are not leaks', () => {
    const log = [
      'td-token: refreshed; token I0.b…(83 chars)',
      `status: ${maskSecret(access)} ${maskSecret(refresh)}`,
      'I0.b2F1dGgyLnNhbmRib3guc2Nod2Fi.<redacted>',
      `/tmp/td-token-cli-${randomBytes(12).toString('hex')}/work/output/token.json`,
    ].join('\n');
    const result = scanForLeaks(ledger, log);
    expect(result).toEqual({ secrets: 4, bytes: Buffer.byteLength(log), leaks: [] });
  });

  it('finds a whole secret, its percent-encoded forms (either case), form-encoded, and a 31-character part', () => {
    const percent = encodeURIComponent(code);
    expect(percent).not.toBe(code);
    const lower = percent.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
    const form = new URLSearchParams({ refresh_token: refresh }).toString();
    const part = access.slice(40, 40 + MIN_LEAK);
    const log = [
      'vitest says hello',
      `GET https://localhost:8000/?code=${percent}&state=x`,
      '\n--- td-token refresh (pid 42) stderr ---',
      `td-token: refresh failed for ${access}`,
      `\n--- end of td-token refresh (pid 42) ---`,
      `body: grant_type=refresh_token&${form}`,
      `lower: ${lower}`,
      `"${part}"`,
    ].join('\n');
    const result = scanForLeaks(ledger, log);
    expect(result.leaks.map((l) => [l.kind, l.where])).toEqual([
      ['code', 'test runner output'],
      ['access_token', 'td-token refresh (pid 42) stderr'],
      ['refresh_token', 'test runner output'],
      ['code', 'test runner output'],
      ['access_token', 'test runner output'],
    ]);
    const report = result.leaks.map(formatLeak).join('\n');
    for (const secret of [code, access, refresh, percent, lower, part]) {
      expect(report.includes(secret)).toBe(false);
    }
    expect(report).toContain(`[code ${maskSecret(code)}]`);
    expect(report).toContain('td-token: refresh failed for [access_token');
  });

  it('a made-up secret of 16 to 23 characters is found whole, in a longer run too; a shorter one is never searched', () => {
    const passphrase = `pp-${randomBytes(12).toString('hex')}`.slice(0, 20);
    const tiny = 'hunter2-hunter2'; // 15 characters: left out
    const withShort = `${ledger}invented_passphrase ${passphrase}\ninvented_passphrase ${tiny}\n`;
    const log = [
      `TD_TOKEN_PASSPHRASE=${passphrase}`,
      `x ${passphrase.slice(0, 19)} y`,
      `the passphrase ${tiny} is short`,
      `-${passphrase}-more`,
    ].join('\n');
    const result = scanForLeaks(withShort, log);
    // Offsets are where the runs holding them start: the first line, and the last.
    expect(result.leaks.map((l) => [l.kind, l.offset])).toEqual([
      ['invented_passphrase', 0],
      ['invented_passphrase', log.lastIndexOf('\n') + 1],
    ]);
    const report = result.leaks.map(formatLeak).join('\n');
    expect(report.includes(passphrase)).toBe(false);
    expect(report).toContain(`[invented_passphrase ${maskSecret(passphrase)}]`);
  });

  it('every part of 31 characters or more is found, wherever it starts', () => {
    for (let start = 0; start + MIN_LEAK <= refresh.length; start += 3) {
      const log = `x ${refresh.slice(start, start + MIN_LEAK)} y`;
      expect(scanForLeaks(ledger, log).leaks).toHaveLength(1);
    }
  });
});

function runSuite(mode: 'leak' | 'clean'): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [RUNNER, '--config', FIXTURE_CONFIG], {
    env: { ...process.env, LEAK_SCAN_FIXTURE: mode, FORCE_COLOR: '0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`run-suite.mjs (${mode}) did not finish in 60 s`));
    }, 60_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('test/run-suite.mjs', () => {
  it('fails when a test prints a sandbox code and a child prints a refresh token; names both, masked', async () => {
    const { code, out } = await runSuite('leak');
    const summary =
      /secret scan: (\d+) secrets \(issued by the sandbox or invented by the tests\), (\d+) bytes of output scanned, (\d+) leaks/.exec(
        out,
      );
    expect(summary, 'the runner printed no summary').not.toBeNull();
    // A login: one code, one access token, one refresh token.
    expect(Number(summary?.[1])).toBe(3);
    expect(Number(summary?.[3])).toBe(2);
    expect(out).toContain('secret scan FAILED');
    expect(out).toMatch(/ {2}code .*…\(\d+ chars\) in test runner output/);
    expect(out).toMatch(/ {2}refresh_token .*…\(\d+ chars\) in echo child \(pid \d+\) stderr/);
    expect(code).toBe(1);
  }, 90_000);

  it('passes, with the count of secrets, when only masked forms are printed', async () => {
    const { code, out } = await runSuite('clean');
    expect(out).toMatch(
      /secret scan: 3 secrets \(issued by the sandbox or invented by the tests\), \d+ bytes of output scanned, 0 leaks/,
    );
    expect(out).not.toContain('secret scan FAILED');
    expect(code).toBe(0);
  }, 90_000);
});
