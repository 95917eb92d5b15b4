#!/usr/bin/env node
/**
 * The `td-token` command. Everything happens in `run.ts`; this file only wires the process to it
 * and exits with its code once standard output has drained.
 *
 * @module
 */
import * as nodeModule from 'node:module';
import { main } from './run.js';

// Node 22.1+: cache compiled code between runs (start-up time matters for `td-token token`).
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

function installSignals(): AbortSignal {
  const controller = new AbortController();
  let stops = 0;
  const stop = (signal: NodeJS.Signals): void => {
    stops++;
    if (stops > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
    controller.abort(new Error(`stopped by ${signal}`));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return controller.signal;
}

const code = await main(
  process.argv.slice(2),
  {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    isTTY: process.stdin.isTTY === true && process.stderr.isTTY === true,
  },
  { installSignals },
);
process.stdout.write('', () => process.exit(code));
