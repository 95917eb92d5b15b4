/**
 * The sandbox imports nothing from the client side of td-token, so it cannot share the client's
 * mistakes: every import, export-from, dynamic import, require and reference in every file under
 * src/sandbox names a `node:` built-in, resolves inside src/sandbox, or names a third-party
 * package td-token declares as a runtime dependency (`selfsigned`, for the sandbox's own TLS
 * certificate): never td-token itself by its package name, never an undeclared package.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SANDBOX = join(ROOT, 'src', 'sandbox');
const PACKAGE = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  dependencies?: Record<string, string>;
};
/** Third-party packages td-token ships with; they hold no client code. */
const DEPENDENCIES = new Set(Object.keys(PACKAGE.dependencies ?? {}));

/** The package a bare specifier names: `pkg` of `pkg/sub`, `@scope/pkg` of `@scope/pkg/sub`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await filesUnder(path)));
    else found.push(path);
  }
  return found.sort();
}

/** Every module specifier a file names: static, type-only, re-exports, `import()`, `require()`. */
function specifiers(text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  return [...info.importedFiles, ...info.referencedFiles, ...info.typeReferenceDirectives].map(
    (ref) => ref.fileName,
  );
}

/** Why `specifier`, named in `file`, leaves src/sandbox; undefined when it does not. */
function whyOutside(file: string, specifier: string): string | undefined {
  if (specifier.startsWith('node:')) return undefined;
  if (specifier.startsWith('/')) return 'an absolute path';
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) {
    const name = packageName(specifier);
    if (name === PACKAGE.name) return 'td-token itself, by its package name';
    if (DEPENDENCIES.has(name)) return undefined;
    return 'a package td-token does not depend on, or a built-in without node:';
  }
  const target = resolve(dirname(file), specifier);
  if (target === SANDBOX || target.startsWith(SANDBOX + sep)) return undefined;
  return `resolves to ${relative(ROOT, target)}, outside src/sandbox`;
}

/** Each offending import of one file's text, as `file: specifier (why)`. */
function offences(file: string, text: string): string[] {
  const found: string[] = [];
  for (const specifier of specifiers(text)) {
    const why = whyOutside(file, specifier);
    if (why !== undefined) found.push(`${relative(SANDBOX, file)}: '${specifier}' (${why})`);
  }
  return found;
}

describe('the sandbox is isolated from the client', () => {
  it('no file under src/sandbox imports anything outside it but node: built-ins and dependencies', async () => {
    const files = await filesUnder(SANDBOX);
    expect(files.length).toBeGreaterThan(5);
    const found: string[] = [];
    let imports = 0;
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      imports += specifiers(text).length;
      found.push(...offences(file, text));
    }
    // The scan saw the sandbox's own imports, so an empty list below means something.
    expect(imports).toBeGreaterThan(files.length);
    expect(found).toEqual([]);
  });

  it('the scan catches every way of reaching out', () => {
    const file = join(SANDBOX, 'example.ts');
    const text = [
      "import { createHash } from 'node:crypto';",
      "import { startSandbox } from './server.js';",
      "import type { SandboxApp } from './types.js';",
      "import { ProviderError } from '../errors.js';",
      "import type { TokenRecord } from '../token.js';",
      "export { createProvider } from '../providers/index.js';",
      "import '../oauth/index.js';",
      "const lazy = await import('../manager.js');",
      "const old = require('../stores/file.js');",
      "import fetch from 'undici';",
      "import fs from 'fs';",
      "import { refreshAccessToken } from 'td-token';",
      "import { startSandbox } from 'td-token/sandbox';",
      "import { generate } from 'selfsigned';",
      "import { x } from '/home/me/td-token/src/token.js';",
      "import { sibling } from './nested/../../sandbox/apps.js';",
      "import { sneaky } from './../client.js';",
    ].join('\n');
    expect(offences(file, text)).toEqual([
      "example.ts: '../errors.js' (resolves to src/errors.js, outside src/sandbox)",
      "example.ts: '../token.js' (resolves to src/token.js, outside src/sandbox)",
      "example.ts: '../providers/index.js' (resolves to src/providers/index.js, outside src/sandbox)",
      "example.ts: '../oauth/index.js' (resolves to src/oauth/index.js, outside src/sandbox)",
      "example.ts: '../manager.js' (resolves to src/manager.js, outside src/sandbox)",
      "example.ts: '../stores/file.js' (resolves to src/stores/file.js, outside src/sandbox)",
      "example.ts: 'undici' (a package td-token does not depend on, or a built-in without node:)",
      "example.ts: 'fs' (a package td-token does not depend on, or a built-in without node:)",
      "example.ts: 'td-token' (td-token itself, by its package name)",
      "example.ts: 'td-token/sandbox' (td-token itself, by its package name)",
      "example.ts: '/home/me/td-token/src/token.js' (an absolute path)",
      "example.ts: './../client.js' (resolves to src/client.js, outside src/sandbox)",
    ]);
  });
});
