/**
 * The host identity a lock records: equal for processes that see the same pids (same kernel,
 * same pid namespace), and the only thing that lets a waiter trust "the holder's pid is dead".
 */
import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hostIdentity } from '../../src/stores/host-id.js';
import { runNode } from '../helpers/processes.js';
import { assertBuilt, DIST_STORES } from './support.js';

describe('host identity', () => {
  it('is computed once and then the same', () => {
    expect(hostIdentity()).toBe(hostIdentity());
  });

  // One of these two runs on any machine: the identity is built from /proc on Linux only.
  it.runIf(process.platform === 'linux')(
    'on Linux, names the boot id and the pid namespace, not the hostname',
    () => {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const pidNamespace = statSync('/proc/self/ns/pid').ino;
      expect(hostIdentity()).toBe(`linux:${boot}:pidns:${pidNamespace}`);
      expect(hostIdentity()).not.toContain(hostname());
    },
  );

  it.runIf(process.platform !== 'linux')('elsewhere, is the hostname', () => {
    expect(hostIdentity()).toBe(`host:${hostname()}`);
  });

  it('is the same in another process in the same pid namespace', async () => {
    assertBuilt();
    const module = pathToFileURL(DIST_STORES.replace(/index\.js$/, 'host-id.js')).href;
    const script = `const { hostIdentity } = await import(${JSON.stringify(module)}); console.log(hostIdentity());`;
    const result = await runNode('--input-type=module', ['-e', script], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(hostIdentity());
  });
});
