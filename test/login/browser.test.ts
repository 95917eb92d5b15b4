/**
 * Opening the browser with real processes: a stand-in `xdg-open` on a PATH of the test's own,
 * which records its arguments and environment, or fails the way a machine without a display does.
 * Linux only: macOS and Windows use `open` and `start`, which a test cannot stand in for here.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInBrowser } from '../../src/login/browser.js';

const URL_TO_OPEN = 'https://127.0.0.1:8182/login?secret=abc&x=1';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'td-token-browser-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A folder holding an `xdg-open` that runs `script`, to use as the whole PATH. */
async function fakeOpener(name: string, script: string): Promise<string> {
  const bin = join(dir, name);
  await mkdir(bin);
  await writeFile(join(bin, 'xdg-open'), `#!/bin/sh\n${script}\n`);
  await chmod(join(bin, 'xdg-open'), 0o755);
  return bin;
}

/** Open with `env`; resolves with the failure line, or undefined when none came in `waitMs`. */
function open(env: NodeJS.ProcessEnv, waitMs = 3_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), waitMs);
    openInBrowser(URL_TO_OPEN, {
      env,
      onFailure: (line) => {
        clearTimeout(timer);
        resolve(line);
      },
    });
  });
}

describe.runIf(process.platform === 'linux')('openInBrowser', () => {
  it("opens the address, with td-token's secrets kept out of the opener's environment", async () => {
    const seen = join(dir, 'seen.txt');
    const bin = await fakeOpener(
      'records',
      `{ echo "url=$1"; env; } > '${seen}.tmp' && mv '${seen}.tmp' '${seen}'`,
    );
    const failure = await open(
      {
        PATH: `${bin}:/usr/bin:/bin`,
        DISPLAY: ':0',
        TD_TOKEN_PASSPHRASE: 'passphrase-for-the-test',
        TD_TOKEN_CLIENT_SECRET: 'client-secret-for-the-test',
        TD_TOKEN_PROFILE: 'live',
      },
      1_000,
    );
    expect(failure).toBeUndefined();
    await expect
      .poll(() => readFile(seen, 'utf8').catch(() => ''), { timeout: 5_000 })
      .toMatch(/^url=/);
    const text = await readFile(seen, 'utf8');
    expect(text.split('\n')[0]).toBe(`url=${URL_TO_OPEN}`);
    expect(text).toContain('TD_TOKEN_PROFILE=live');
    expect(text).not.toContain('TD_TOKEN_PASSPHRASE');
    expect(text).not.toContain('passphrase-for-the-test');
    expect(text).not.toContain('TD_TOKEN_CLIENT_SECRET');
    expect(text).not.toContain('client-secret-for-the-test');
  });

  it('says in one line when the opener fails, naming the display and --manual', async () => {
    // What the real xdg-open does without a display and without a text browser: exit 3.
    const bin = await fakeOpener('fails', 'exit 3');
    const line = await open({ PATH: bin });
    expect(line).toBe(
      "could not open a browser (xdg-open exited with code 3; no display: DISPLAY is not set). open the address above in a browser on this computer, or run 'td-token login --manual' to log in by pasting the redirected address instead",
    );
    const withDisplay = await open({ PATH: bin, DISPLAY: ':0' });
    expect(withDisplay).toBe(
      "could not open a browser (xdg-open exited with code 3). open the address above in a browser on this computer, or run 'td-token login --manual' to log in by pasting the redirected address instead",
    );
    expect(withDisplay).not.toContain('\n');
    expect(withDisplay).not.toContain(URL_TO_OPEN);
  });

  it('says so when there is no opener at all', async () => {
    const line = await open({ PATH: join(dir, 'empty'), WAYLAND_DISPLAY: 'wayland-0' });
    expect(line).toMatch(/^could not open a browser \(xdg-open was not found\)\. .*--manual/);
  });

  it('checks its arguments', () => {
    expect(() => openInBrowser('')).toThrow(new TypeError('"url" must be a non-empty string'));
  });
});
