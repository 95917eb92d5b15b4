/**
 * Opening the person's browser at the login address: `open` on macOS, `start` on Windows,
 * `xdg-open` elsewhere, started detached with td-token's secrets removed from its environment.
 * When it cannot be started or exits with an error (no display, no opener installed), one line
 * says so, to be printed beside the address, naming the other ways to log in.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { childEnv } from '../util/child-env.js';

/** Options of {@link openInBrowser}. */
export interface OpenInBrowserOptions {
  /**
   * Called at most once, with one line for people, when the browser could not be opened (the
   * opener is missing, cannot start, or exits with an error). Never given the address.
   */
  onFailure?: ((line: string) => void) | undefined;
  /** The environment to start the opener in (default `process.env`); td-token's secrets are removed. */
  env?: NodeJS.ProcessEnv | undefined;
}

/** The opener command and its arguments on this platform. */
function opener(url: string): { command: string; args: string[] } {
  if (process.platform === 'darwin') return { command: 'open', args: [url] };
  if (process.platform === 'win32') {
    return { command: 'cmd', args: ['/c', 'start', '""', url.replaceAll('&', '^&')] };
  }
  return { command: 'xdg-open', args: [url] };
}

/** Why a graphical browser cannot be expected here, if it cannot: no display on Linux and the BSDs. */
function missingDisplay(env: NodeJS.ProcessEnv): string | undefined {
  if (process.platform === 'darwin' || process.platform === 'win32') return undefined;
  if (env['DISPLAY'] || env['WAYLAND_DISPLAY']) return undefined;
  return 'no display: DISPLAY is not set';
}

/**
 * The line said when the browser could not be opened, `what` being what went wrong
 * (`xdg-open was not found`).
 *
 * @example
 * browserFailureLine('xdg-open exited with code 3');
 */
export function browserFailureLine(what: string): string {
  return `could not open a browser (${what}). open the address above in a browser on this computer, or run 'td-token login --manual' to log in by pasting the redirected address instead`;
}

/**
 * Open `url` in the person's browser, without waiting for it. The opener runs detached, with
 * {@link childEnv}'s environment (no passphrase, no client secret). A failure is reported once
 * through `onFailure`; the address is printed anyway, so the person can open it by hand.
 *
 * @example
 * openInBrowser(loginUrl, { onFailure: (line) => process.stderr.write(`${line}\n`) });
 */
export function openInBrowser(url: string, options: OpenInBrowserOptions = {}): void {
  if (typeof url !== 'string' || url === '')
    throw new TypeError('"url" must be a non-empty string');
  const { command, args } = opener(url);
  const env = childEnv(options.env ?? process.env);
  let reported = false;
  const fail = (what: string): void => {
    if (reported) return;
    reported = true;
    const display = missingDisplay(env);
    options.onFailure?.(browserFailureLine(display === undefined ? what : `${what}; ${display}`));
  };
  try {
    const child = spawn(command, args, {
      stdio: 'ignore',
      detached: true,
      windowsHide: true,
      env,
      // cmd parses its own command line: pass `start "" <url>` as written, not re-quoted.
      windowsVerbatimArguments: process.platform === 'win32',
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      fail(
        error.code === 'ENOENT'
          ? `${command} was not found`
          : `${command} could not be started: ${error.code ?? error.message}`,
      );
    });
    child.on('exit', (code, signal) => {
      if (code === 0) return;
      fail(
        code === null
          ? `${command} was stopped by ${signal ?? 'a signal'}`
          : `${command} exited with code ${code}`,
      );
    });
    child.unref();
  } catch (error) {
    fail(`${command} could not be started: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
