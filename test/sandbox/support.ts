/**
 * Shared steps for the sandbox tests: building authorize URLs, getting a code through the
 * login pages, and calling the token endpoint the way each provider expects.
 */

import type { Sandbox } from '../../src/sandbox/index.js';
import { SANDBOX_DEFAULT_APPS } from '../../src/sandbox/index.js';
import { approveInSandbox } from '../helpers/sandbox-login.js';

export const TD_KEY = SANDBOX_DEFAULT_APPS.tdameritrade.clientId;
export const TD_CLIENT_ID = `${TD_KEY}@AMER.OAUTHAP`;
export const TD_REDIRECT = 'https://localhost:8000';
export const SCHWAB_KEY = SANDBOX_DEFAULT_APPS.schwab.clientId;
export const SCHWAB_SECRET = SANDBOX_DEFAULT_APPS.schwab.clientSecret ?? '';
export const SCHWAB_REDIRECT = 'https://127.0.0.1:8182';

/** The flavor's authorize URL with the default app's parameters, overridable. */
export function authorizeUrl(
  sandbox: Sandbox,
  overrides: Record<string, string | undefined> = {},
): URL {
  const url = new URL(sandbox.authorizeUrl);
  const params: Record<string, string | undefined> =
    sandbox.flavor === 'tdameritrade'
      ? { response_type: 'code', client_id: TD_CLIENT_ID, redirect_uri: TD_REDIRECT }
      : { response_type: 'code', client_id: SCHWAB_KEY, redirect_uri: SCHWAB_REDIRECT };
  for (const [name, value] of Object.entries({ ...params, ...overrides })) {
    if (value !== undefined) url.searchParams.set(name, value);
  }
  return url;
}

/** Logs in through the pages and returns the decoded code from the callback. */
export async function loginCode(
  sandbox: Sandbox,
  overrides: Record<string, string | undefined> = {},
): Promise<string> {
  const location = await approveInSandbox(authorizeUrl(sandbox, overrides));
  const code = new URL(location).searchParams.get('code');
  if (code === null) throw new Error(`no code in ${location}`);
  return code;
}

/** `Authorization: Basic` for the default Schwab app (or the given credentials). */
export function basic(id = SCHWAB_KEY, secret = SCHWAB_SECRET): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

/** POSTs a form to the token endpoint. */
export function postToken(
  sandbox: Sandbox,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(sandbox.tokenUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

/** TD code grant for the default app. */
export function tdCodeGrant(
  sandbox: Sandbox,
  code: string,
  overrides: Record<string, string | undefined> = {},
): Promise<Response> {
  return postToken(
    sandbox,
    compact({
      grant_type: 'authorization_code',
      access_type: 'offline',
      code,
      client_id: TD_CLIENT_ID,
      redirect_uri: TD_REDIRECT,
      ...overrides,
    }),
  );
}

/** Schwab code grant for the default app. */
export function schwabCodeGrant(
  sandbox: Sandbox,
  code: string,
  overrides: Record<string, string | undefined> = {},
  headers: Record<string, string> = { Authorization: basic() },
): Promise<Response> {
  return postToken(
    sandbox,
    compact({
      grant_type: 'authorization_code',
      code,
      redirect_uri: SCHWAB_REDIRECT,
      ...overrides,
    }),
    headers,
  );
}

/** Drops undefined entries. */
export function compact(record: Record<string, string | undefined>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(record)) if (value !== undefined) result[name] = value;
  return result;
}

/** Reads a JSON body as a plain record. */
export async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

/** Logs in and exchanges the code; returns the token response body. */
export async function loginTokens(sandbox: Sandbox): Promise<Record<string, unknown>> {
  const code = await loginCode(sandbox);
  const response =
    sandbox.flavor === 'tdameritrade'
      ? await tdCodeGrant(sandbox, code)
      : await schwabCodeGrant(sandbox, code);
  if (response.status !== 200) throw new Error(`code grant answered ${response.status}`);
  return json(response);
}
