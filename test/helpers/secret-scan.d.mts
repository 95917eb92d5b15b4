/** Types of secret-scan.mjs (plain JavaScript so that test/run-suite.mjs runs without a build). */

export interface LedgerEntry {
  kind: string;
  value: string;
}

export interface Leak {
  kind: string;
  /** The secret, masked. */
  masked: string;
  /** The child process (or the test runner) whose output holds it. */
  where: string;
  /** Offset in the output log. */
  offset: number;
  /** The line around it, every secret masked. */
  context: string;
}

export interface ScanResult {
  /** Distinct secrets in the ledger. */
  secrets: number;
  /** Bytes of output searched. */
  bytes: number;
  leaks: Leak[];
}

export const WINDOW: number;
export const STEP: number;
export const MIN_LEAK: number;
export const MIN_SECRET: number;
export function maskSecret(value: string): string;
export function parseLedger(text: string): LedgerEntry[];
export function secretForms(value: string): string[];
export function scanForLeaks(ledgerText: string, log: string | Buffer): ScanResult;
export function formatLeak(leak: Leak): string;
