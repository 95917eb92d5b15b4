#!/usr/bin/env node
/**
 * `npm test`'s runner: vitest, then a search of everything the run printed for every secret the
 * sandbox issued during it, and every token or passphrase the tests invented.
 *
 * 1. Makes a private temporary folder with two files and names them to everything it starts:
 *    `TD_TOKEN_SANDBOX_LEDGER` (every sandbox, in the test processes and in the `td-token`
 *    children, appends each code and token it issues) and `TD_TOKEN_TEST_OUTPUT_LOG` (the test
 *    harnesses append each child process's output; see test/helpers/output-log.ts).
 * 2. Runs `vitest run` with the given arguments, showing its output as usual and appending it
 *    to the output log too.
 * 3. Searches the output log for every ledger entry (test/helpers/secret-scan.mjs), prints
 *    `secret scan: N secrets issued, M bytes of output scanned, K leaks`, and, for each leak, the
 *    process and the line it was in, with the secret masked.
 *
 * Exit code: vitest's, unless the scan fails (a leak; or, on a full run, an empty ledger, which
 * would mean the scan saw nothing): then 1, or vitest's own when that is not 0.
 *
 * Usage: node test/run-suite.mjs [vitest arguments, e.g. test/cli]
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatLeak, scanForLeaks } from './helpers/secret-scan.mjs';

const LEDGER_ENV = 'TD_TOKEN_SANDBOX_LEDGER';
const OUTPUT_LOG_ENV = 'TD_TOKEN_TEST_OUTPUT_LOG';
const VITEST = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));

const args = process.argv.slice(2);
const filtered = args.some((a) => !a.startsWith('-'));

const dir = mkdtempSync(join(tmpdir(), 'td-token-suite-'));
const ledger = join(dir, 'ledger');
const log = join(dir, 'output.log');
closeSync(openSync(ledger, 'a', 0o600));
const logFd = openSync(log, 'a', 0o600);

const env = { ...process.env, [LEDGER_ENV]: ledger, [OUTPUT_LOG_ENV]: log };
if (process.stdout.isTTY && env['NO_COLOR'] === undefined) env['FORCE_COLOR'] ??= '1';

const child = spawn(process.execPath, [VITEST, 'run', ...args], {
  env,
  stdio: ['inherit', 'pipe', 'pipe'],
});
for (const [from, to] of [
  [child.stdout, process.stdout],
  [child.stderr, process.stderr],
]) {
  from.on('data', (chunk) => {
    to.write(chunk);
    writeSync(logFd, chunk);
  });
}
const forward = (signal) => () => child.kill(signal);
process.on('SIGINT', forward('SIGINT'));
process.on('SIGTERM', forward('SIGTERM'));

const vitestCode = await new Promise((resolve) => {
  child.once('error', (err) => {
    process.stderr.write(`run-suite: could not start vitest: ${err.message}\n`);
    resolve(1);
  });
  child.once('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});
closeSync(logFd);

let scanFailed = false;
try {
  const output = readFileSync(log);
  const result = scanForLeaks(readFileSync(ledger, 'latin1'), output);
  const children = (output.toString('latin1').match(/\n--- end of /g) ?? []).length;
  process.stdout.write(
    `\nsecret scan: ${result.secrets} secrets (issued by the sandbox or invented by the tests), ${result.bytes} bytes of output scanned, ${result.leaks.length} leaks\n`,
  );
  process.stdout.write(`secret scan: output of ${children} child processes included\n`);
  // Vitest's own summary, restated in the plain 'N passed, N failed' form other tools read.
  const plain = output.toString('latin1').replace(/\x1b\[[0-9;]*m/g, '');
  const summary = [...plain.matchAll(/^\s*Tests\s+(.+)$/gm)].at(-1)?.[1] ?? '';
  const count = (word) => Number(new RegExp(`(\\d+) ${word}`).exec(summary)?.[1] ?? 0);
  if (summary !== '') {
    process.stdout.write(
      `tests: ${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped\n`,
    );
  }
  if (result.leaks.length > 0) {
    scanFailed = true;
    process.stderr.write(
      `secret scan FAILED: ${result.leaks.length} place(s) in the output hold (part of) a code, token or passphrase the sandbox issued or a test invented:\n`,
    );
    for (const leak of result.leaks.slice(0, 50)) process.stderr.write(`${formatLeak(leak)}\n`);
    if (result.leaks.length > 50) {
      process.stderr.write(`  ... and ${result.leaks.length - 50} more\n`);
    }
  } else if (result.secrets === 0 && !filtered && vitestCode === 0) {
    scanFailed = true;
    process.stderr.write(
      `secret scan FAILED: the sandbox recorded no secrets in a full run, so the scan proved nothing. check the ${LEDGER_ENV} hook in src/sandbox/ledger.ts\n`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

process.exitCode = scanFailed && vitestCode === 0 ? 1 : vitestCode;
