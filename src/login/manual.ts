/**
 * Logging in on a machine with no browser: print the authorize URL, let the person open it
 * anywhere (on this computer when the login page is on loopback, as the sandbox's is), and read
 * back the address the browser was redirected to (pasted from the address
 * bar even though that page failed to load). Without a terminal it never waits forever: the end
 * of input without a URL is an error at once, and a timeout bounds the wait in every case.
 *
 * @module
 */
import { createInterface } from 'node:readline';
import { CallbackError, TdTokenError } from '../errors.js';
import {
  type CallbackResult,
  cleanPastedText,
  createAuthorizationRequest,
  exchangeCallback,
  looksLikeCallbackUrl,
  parseCallbackUrl,
} from '../oauth/index.js';
import type { Provider } from '../providers/types.js';
import type { TokenRecord } from '../token.js';
import { isLoopbackHost } from '../util/url.js';
import { DEFAULT_LOGIN_TIMEOUT_MS } from './flow.js';
import { describeDuration } from './words.js';

/**
 * Options of {@link manualLogin}.
 *
 * @example
 * const options: ManualLoginOptions = {
 *   input: process.stdin,
 *   output: process.stderr,
 *   isTTY: process.stdin.isTTY === true,
 *   timeoutMs: 10 * 60_000,
 * };
 * const record = await manualLogin(provider, options);
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1
 */
export interface ManualLoginOptions {
  /** Where the pasted URL is read from (standard input). */
  input: NodeJS.ReadableStream;
  /** Where the instructions go (standard error). Never given a token or a code. */
  output: NodeJS.WritableStream;
  /** Whether a person is at a terminal: then a bad paste is asked again instead of failing. */
  isTTY: boolean;
  /**
   * Who the person logs in to, as the instructions name it (default: the provider's name), e.g.
   * `the sandbox (schwab flavor)`, so a sandbox is never taken for a real account.
   */
  providerLabel?: string | undefined;
  /** Give up when no URL was given within this many ms (default 5 minutes). */
  timeoutMs?: number | undefined;
  fetch?: typeof fetch | undefined;
  signal?: AbortSignal | undefined;
}

/** How many bad pastes a person at a terminal may make before the login fails. */
const MAX_ATTEMPTS = 5;

/**
 * Where the login page can be opened: on any machine, unless the provider's login page is on a
 * loopback address (the sandbox), which only a browser on this computer can reach.
 */
function whereToOpen(authorizeUrl: URL): string {
  if (!isLoopbackHost(authorizeUrl.hostname)) return 'Open this URL in a browser (on any machine):';
  return `Open this URL in a browser on this computer: the login page is served on ${authorizeUrl.host}, which only this computer can reach.`;
}

/**
 * Log in by pasting the redirected URL. Resolves with the new token record; rejects with a
 * {@link CallbackError} (no URL, wrong state, Deny), the exchange's {@link ProviderError}, or a
 * `login_timeout` {@link TdTokenError}.
 *
 * @example
 * const record = await manualLogin(provider, {
 *   input: process.stdin, output: process.stderr, isTTY: process.stdin.isTTY === true,
 * });
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1
 */
export async function manualLogin(
  provider: Provider,
  options: ManualLoginOptions,
): Promise<TokenRecord> {
  if (
    typeof provider !== 'object' ||
    provider === null ||
    typeof provider.redirectUri !== 'string'
  ) {
    throw new TypeError('"provider" must be a Provider');
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('"options" must be an object with input, output and isTTY');
  }
  const { input, output, isTTY, signal } = options;
  if (input === undefined || typeof input.on !== 'function') {
    throw new TypeError('"options.input" must be a readable stream');
  }
  if (output === undefined || typeof output.write !== 'function') {
    throw new TypeError('"options.output" must be a writable stream');
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError('"options.timeoutMs" must be a positive number');
  }
  const label = options.providerLabel ?? provider.name;
  if (typeof label !== 'string' || label === '') {
    throw new TypeError('"options.providerLabel" must be a non-empty string');
  }
  signal?.throwIfAborted();

  const request = createAuthorizationRequest(provider);
  const say = (text: string) => output.write(text);
  say(
    [
      `To log in to ${label} without a local login server:`,
      `  1. ${whereToOpen(request.url)}`,
      '',
      `     ${request.url.href}`,
      '',
      '  2. Log in and press Allow.',
      `  3. The browser is then sent to ${provider.redirectUri} and that page may fail to load: that is expected.`,
      "     Copy the whole address from the browser's address bar and paste it here, then press Enter.",
      `     Paste it within ${describeDuration(timeoutMs)}, and soon: the code in it expires within a minute.`,
      '',
    ].join('\n'),
  );
  const prompt = () => {
    if (isTTY) say('redirected URL: ');
  };

  const lines = createInterface({
    input,
    output: isTTY ? output : undefined,
    terminal: isTTY && (input as { isTTY?: boolean }).isTTY === true,
  });

  return new Promise<TokenRecord>((resolve, reject) => {
    let finished = false;
    let accepted = false;
    let attempts = 0;

    const finish = (outcome: { record: TokenRecord } | { error: unknown }) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      lines.removeListener('line', onLine);
      lines.removeListener('close', onClose);
      lines.close();
      if ('record' in outcome) resolve(outcome.record);
      else reject(outcome.error);
    };

    const timer = setTimeout(() => {
      say('\n');
      finish({
        error: new TdTokenError(
          'login_timeout',
          `no redirected URL was given within ${describeDuration(timeoutMs)}. run 'td-token login --manual' again and paste the URL sooner (--timeout gives more time)`,
        ),
      });
    }, timeoutMs);

    function onAbort(): void {
      finish({ error: signal?.reason });
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    /** A bad paste: at a terminal ask again (a few times), otherwise fail now. */
    const badPaste = (error: CallbackError) => {
      attempts += 1;
      if (isTTY && attempts < MAX_ATTEMPTS) {
        say(`${error.message}\n`);
        prompt();
        return;
      }
      finish({ error });
    };

    function onLine(line: string): void {
      if (finished || accepted) return;
      const text = cleanPastedText(line);
      if (text === '') {
        prompt();
        return;
      }
      if (!looksLikeCallbackUrl(text)) {
        badPaste(
          new CallbackError(
            'missing_code',
            `that is not the redirected URL. paste the whole address from the browser's address bar, starting with ${provider.redirectUri}`,
          ),
        );
        return;
      }
      let callback: CallbackResult;
      try {
        callback = parseCallbackUrl(text, request.state);
      } catch (error) {
        if (
          error instanceof CallbackError &&
          (error.code === 'state_mismatch' || error.code === 'missing_code')
        ) {
          badPaste(error);
          return;
        }
        finish({ error });
        return;
      }
      accepted = true;
      clearTimeout(timer);
      say('exchanging the code for a token...\n');
      // The URL was read once, above: its checked code is exchanged as it is.
      exchangeCallback(provider, callback, {
        codeVerifier: request.codeVerifier,
        fetch: options.fetch,
        signal,
      }).then(
        (record) => finish({ record }),
        (error: unknown) => finish({ error }),
      );
    }

    function onClose(): void {
      if (finished || accepted) return;
      finish({
        error: new CallbackError(
          'missing_code',
          isTTY
            ? "the input ended before the redirected URL was pasted. run 'td-token login --manual' again and paste the URL"
            : "standard input ended without the redirected URL (no terminal to ask in). run 'td-token login --manual' in a terminal, or pipe the redirected URL into it",
        ),
      });
    }

    lines.on('line', onLine);
    lines.on('close', onClose);
    prompt();
  });
}
