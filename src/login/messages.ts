/**
 * What the login server's error pages say: each refusal and failure by name, with what happened
 * and what to do. The routes decide which one a request gets; the HTML is in `pages.ts`.
 *
 * @module
 * @internal
 */
import { TdTokenError } from '../errors.js';
import { errorPage, type Page } from './pages.js';

/** What a page refusing a request without the per-run secret says to do. */
export const NO_SECRET_FIX =
  "open the address td-token printed in the terminal, and use the buttons of this server's pages.";

/** An error's message, whatever was thrown. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * The message's fix, when it follows td-token's "what. fix" shape. The message part starts with
 * a capital letter, as it follows another sentence on the pages.
 */
function splitFix(message: string, fallback: string): { message: string; fix: string } {
  const at = message.lastIndexOf('. ');
  if (at > 0 && at < message.length - 2) {
    return { message: capitalize(message.slice(0, at + 1)), fix: message.slice(at + 2) };
  }
  return { message: capitalize(message), fix: fallback };
}

function codeOf(error: unknown, fallback: string): string {
  return error instanceof TdTokenError ? error.code : fallback;
}

/** 421: the `Host` header names another server (DNS rebinding). */
export function wrongHostPage(hostNames: readonly string[], origin: string): Page {
  return errorPage({
    status: 421,
    code: 'wrong_host',
    title: 'Wrong address',
    message: `This login server only answers requests addressed to ${hostNames.slice(0, -1).join(', ')} or ${hostNames.at(-1)}.`,
    fix: `open ${origin}/ directly.`,
  });
}

/** 503: the run is ending. */
export function stoppingPage(): Page {
  return errorPage({
    status: 503,
    code: 'stopping',
    title: 'Stopping',
    message: 'The login server is stopping.',
    fix: "run 'td-token login' again if you still need to log in.",
  });
}

/** 400: an address that does not parse. */
export function badRequestPage(origin: string): Page {
  return errorPage({
    status: 400,
    code: 'bad_request',
    title: 'Bad request',
    message: 'The address does not parse.',
    fix: `open ${origin}/.`,
  });
}

/** 404. */
export function notFoundPage(origin: string): Page {
  return errorPage({
    status: 404,
    code: 'not_found',
    title: 'Not found',
    message: 'There is no such page here.',
    fix: `open ${origin}/.`,
  });
}

/** 405: a page or the callback asked for with a method it does not take. */
export function methodNotAllowedPage(message: string, fix: string): Page {
  return errorPage({ status: 405, code: 'method_not_allowed', title: 'Not allowed', message, fix });
}

/** 405: an action that changes something, asked for without POST. */
export function usePostPage(): Page {
  return errorPage({
    status: 405,
    code: 'method_not_allowed',
    title: 'Use the button',
    message: 'This action changes something, so it only works from the buttons of the status page.',
    fix: NO_SECRET_FIX,
  });
}

/** 403: a POST from elsewhere, or without the per-run secret. */
export function foreignPostPage(): Page {
  return errorPage({
    status: 403,
    code: 'forbidden',
    title: 'Refused',
    message: 'This request did not come from a page of this login server.',
    fix: NO_SECRET_FIX,
  });
}

/** 403: a login start that is not the person's own top-level navigation (Fetch Metadata). */
export function refusedStartPage(): Page {
  return errorPage({
    status: 403,
    code: 'forbidden',
    title: 'Refused',
    message:
      "A login starts only when the address td-token printed is opened in the browser's address bar, or with the Log in button of this server's status page, not from another site, a frame or a script. No login was started.",
    fix: 'open the address td-token printed in the terminal in the address bar.',
  });
}

/** 403: a login start without the per-run secret. */
export function noSecretStartPage(): Page {
  return errorPage({
    status: 403,
    code: 'forbidden',
    title: 'No login was started',
    message:
      'This address does not carry the secret of this run of td-token, so it may not come from the person who started it. No login was started.',
    fix: 'open the address td-token printed in the terminal (it ends in /login?secret=...).',
  });
}

/** 400: a callback of no login this run started. */
export function notFromThisLoginPage(code: 'missing_state' | 'state_mismatch'): Page {
  return errorPage({
    status: 400,
    code,
    title: 'Not from this login',
    message:
      'This callback does not carry the state this login sent to the provider, so it did not come from this login (or it is from an earlier one). Nothing was exchanged or stored.',
    fix: 'the login server is still waiting: start the login again by opening the address td-token printed in the terminal.',
  });
}

/** 409: another callback of this run is being completed. */
export function busyPage(origin: string): Page {
  return errorPage({
    status: 409,
    code: 'busy',
    title: 'Login in progress',
    message: 'Another callback of this login is being completed.',
    fix: `wait a moment, then look at ${origin}/.`,
  });
}

/**
 * 403 (Deny) or 502: the provider gave no token. `secret` (a server that keeps running) offers
 * Log in again.
 */
export function loginFailedPage(error: unknown, secret: string | undefined): Page {
  const denied = error instanceof TdTokenError && error.code === 'access_denied';
  const text = splitFix(describeError(error), "run 'td-token login' again.");
  return errorPage({
    status: denied ? 403 : 502,
    code: codeOf(error, 'error'),
    title: denied ? 'Login denied' : 'Login failed',
    message: denied
      ? `The provider reports that access was not granted (Deny was pressed, or the provider refused the login). ${text.message}`
      : `The provider did not give a token for this login. ${text.message}`,
    fix: text.fix,
    secret,
  });
}

/** 500: the login worked but the token could not be stored. */
export function notStoredPage(error: unknown, secret: string | undefined): Page {
  const text = splitFix(
    describeError(error),
    "fix the token store, then run 'td-token login' again.",
  );
  return errorPage({
    status: 500,
    code: codeOf(error, 'store_error'),
    title: 'Token not stored',
    message: `The login worked, but the token could not be stored. ${text.message}`,
    fix: text.fix,
    secret,
  });
}

/** 409: a refresh asked of a server given no way to refresh. */
export function noStorePage(): Page {
  return errorPage({
    status: 409,
    code: 'no_store',
    title: 'Nothing to refresh',
    message: 'This login server has no token store attached.',
    fix: "run 'td-token refresh'.",
  });
}

/** 502: the refresh failed. */
export function refreshFailedPage(error: unknown): Page {
  const text = splitFix(describeError(error), "run 'td-token login' to log in again.");
  return errorPage({
    status: 502,
    code: codeOf(error, 'error'),
    title: 'Refresh failed',
    message: text.message,
    fix: text.fix,
  });
}

/** 500: the server failed to answer a request. */
export function internalErrorPage(): Page {
  return errorPage({
    status: 500,
    code: 'internal',
    title: 'Server error',
    message: 'The login server failed to answer this request.',
    fix: "look at the terminal running 'td-token login'.",
  });
}
