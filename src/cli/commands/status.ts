/**
 * `td-token status`: like `gh auth status`. Which provider and profile, where the token is
 * stored, when the access and refresh tokens expire, whether the API accepts the token, and the
 * exact command that fixes what is wrong. Tokens are masked (`--show-token` shows the access
 * token; the refresh token is never shown). `--verify` proves the refresh token with the provider.
 *
 * @internal
 * @module
 */
import { describeStore } from '../../config/store.js';
import { isTdTokenError } from '../../errors.js';
import type { TokenManager } from '../../manager.js';
import {
  isRefreshTokenExpired,
  isRefreshTokenExpiryKnown,
  maskToken,
  type TokenRecord,
} from '../../token.js';
import { type Context, openContext } from '../context.js';
import { UsageError } from '../failure.js';
import { fixCommand } from '../fix-command.js';
import { daysLeft, timeLeft, when } from '../format.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT } from '../io.js';
import type { CommandContext } from '../world.js';

const HOUR = 3_600_000;
const API_TIMEOUT_MS = 10_000;

export const spec: CommandSpec = {
  name: 'status',
  summary:
    'Show the provider, profile and store, when the tokens expire, whether the API accepts the token, and the command that fixes what is wrong.',
  usage: 'td-token status [--json] [--show-token] [--offline | --verify] [flags]',
  options: {
    json: { type: 'boolean' },
    'show-token': { type: 'boolean' },
    offline: { type: 'boolean' },
    verify: { type: 'boolean' },
  },
  help: `flags:
  --json         print a JSON report on stdout (fields below) instead of text on stderr
  --show-token   show the access token in full instead of masked (the refresh token is never
                 shown: it stays masked)
  --offline      do not ask the API whether it accepts the token
  --verify       prove the refresh token with the provider: one refresh (saved like any
                 refresh), so a refresh token that a later login replaced, or that was revoked,
                 shows as "replaced or revoked: log in again" (exit 3) instead of "ok"

Without --verify, status never refreshes or changes the stored token. The API check is one GET
of the accounts endpoint with the stored access token (skipped when it has expired).

--json fields (stable):
  ok             true when nothing needs a person's attention
  profile, provider, clientId (masked)
  endpoints      { authorizeUrl, tokenUrl, apiUrl, redirectUri }
  sandbox        null, or { state, url, stateFile } for a sandbox provider: state "running" (a
                 td-token sandbox), "in-process" (started by this command) or "not-started"
                 (--offline, and none running; url null); stateFile keeps the sandbox's tokens
  store          { kind, location }
  loggedIn       whether a token is stored
  accessToken    null, or { token, expiresAt (ISO), expiresAtMs, secondsLeft, valid }
  refreshToken   null, or { token, expiresAt, expiresAtMs, secondsLeft, daysLeft, valid }
  api            { checked, accepted (true | false | null), status (HTTP status | null), detail }
  verify         null without --verify, else { accepted (true | false | null), detail }
  problems       [{ code, severity ("error" | "warning"), message, fix }]; codes: not_logged_in,
                 refresh_token_expired, refresh_token_expiring, access_token_expired, api_rejected,
                 api_unreachable, store_unreadable, refresh_token_replaced, verify_failed
  fix            the command for the first problem, or null
  sources        { <setting>: { kind, name } }: where each setting came from
  (tokens are masked like "abcd…(40 chars)"; --show-token shows the access token only)

exit codes: 0 fine (warnings allowed); 1 a problem (API rejects the token or is unreachable, store
unreadable, --verify could not reach the provider); 2 usage or configuration; 3 a person must
log in again (not logged in, refresh token expired, or --verify found it replaced or revoked).`,
};

interface Problem {
  code: string;
  severity: 'error' | 'warning';
  message: string;
  fix: string | null;
}

interface ApiCheck {
  checked: boolean;
  accepted: boolean | null;
  status: number | null;
  detail: string | null;
}

interface VerifyCheck {
  accepted: boolean | null;
  detail: string;
}

/** One forced refresh (saved like any refresh): does the provider still take the refresh token? */
async function verifyRefreshToken(
  manager: TokenManager,
): Promise<{ check: VerifyCheck; record?: TokenRecord; error?: unknown }> {
  try {
    const record = await manager.refresh({ force: true });
    return {
      check: { accepted: true, detail: 'the provider accepted the refresh token (refreshed)' },
      record,
    };
  } catch (err) {
    if (isTdTokenError(err, 'login_required')) {
      return {
        check: { accepted: false, detail: 'replaced or revoked: log in again' },
        error: err,
      };
    }
    if (!isTdTokenError(err)) throw err;
    return { check: { accepted: null, detail: `not verified: ${err.message}` }, error: err };
  }
}

async function checkApi(ctx: Context, record: TokenRecord, cli: CommandContext): Promise<ApiCheck> {
  const url = ctx.provider.accountsUrl();
  try {
    const response = await cli.deps.fetch(url, {
      headers: { authorization: `Bearer ${record.access_token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
      redirect: 'manual',
    });
    await response.body?.cancel().catch(() => {});
    const accepted = response.status >= 200 && response.status < 300;
    return {
      checked: true,
      accepted,
      status: response.status,
      detail: `GET ${url.pathname}: HTTP ${response.status}`,
    };
  } catch (err) {
    const reason =
      (err as Error).name === 'TimeoutError'
        ? 'timed out'
        : (((err as Error).cause as Error | undefined)?.message ?? (err as Error).message);
    return {
      checked: true,
      accepted: null,
      status: null,
      detail: `GET ${url.href} failed: ${reason}`,
    };
  }
}

export async function run(io: CliIO, args: CommandArgs, cli: CommandContext): Promise<number> {
  const json = args.values['json'] === true;
  const show = args.values['show-token'] === true;
  const offline = args.values['offline'] === true;
  const verify = args.values['verify'] === true;
  if (offline && verify) {
    throw new UsageError(
      '--verify asks the provider, so it cannot go with --offline: give one of them',
      'td-token status --help',
    );
  }
  const ctx = await openContext(cli, io, args.values, { offline });
  try {
    const { config, provider, manager } = ctx;
    const now = manager.now();
    const login = fixCommand('login', args.values);
    const refresh = fixCommand('refresh', args.values);
    const problems: Problem[] = [];
    const showAccess = (token: string): string => (show ? token : maskToken(token));

    let record: TokenRecord | undefined;
    try {
      record = await manager.peek();
    } catch (err) {
      if (!isTdTokenError(err)) throw err;
      problems.push({
        code: 'store_unreadable',
        severity: 'error',
        message: err.message,
        fix: login,
      });
    }
    if (record) cli.secrets.remember(record.access_token, record.refresh_token);
    const unreadable = problems.some((p) => p.code === 'store_unreadable');

    let verified: VerifyCheck | null = null;
    if (verify && record && !isRefreshTokenExpired(record, now)) {
      const outcome = await verifyRefreshToken(manager);
      verified = outcome.check;
      if (outcome.record) {
        record = outcome.record;
        cli.secrets.remember(record.access_token, record.refresh_token);
      }
      if (outcome.check.accepted === false) {
        problems.push({
          code: 'refresh_token_replaced',
          severity: 'error',
          message: `the provider refused the refresh token: it was replaced by a later login or revoked (${(outcome.error as Error).message})`,
          fix: login,
        });
      } else if (outcome.check.accepted === null) {
        problems.push({
          code: 'verify_failed',
          severity: 'error',
          message: `the refresh token could not be verified: ${(outcome.error as Error).message}`,
          fix: `${fixCommand('status --verify', args.values)}   (once the provider answers)`,
        });
      }
    }

    const sandbox = ctx.sandbox;
    const sandboxInfo =
      sandbox.kind === 'none'
        ? null
        : {
            state: sandbox.kind,
            url:
              sandbox.kind === 'running'
                ? sandbox.record.url
                : sandbox.kind === 'in-process'
                  ? sandbox.url
                  : null,
            stateFile: sandbox.stateFile,
          };

    const accessValid = record !== undefined && record.expires_at > now;
    const refreshValid = record !== undefined && !isRefreshTokenExpired(record, now);
    // A generic server that never said how long its refresh token lives: no date to warn about.
    const expiryKnown = record === undefined || isRefreshTokenExpiryKnown(record);
    const refusedAt = record?.refresh_token_refused_at;
    if (refusedAt !== undefined && verified?.accepted !== false) {
      problems.push({
        code: 'refresh_token_refused',
        severity: 'error',
        message: `the provider refused the refresh token ${timeLeft(refusedAt, now)}: it expired, was revoked, or a later login replaced it; td-token asks the provider nothing more until a new login`,
        fix: login,
      });
    }
    if (record === undefined && !unreadable) {
      problems.push({
        code: 'not_logged_in',
        severity: 'error',
        message: `not logged in: no token is stored in ${describeStore(config.store)}`,
        fix: login,
      });
    }
    if (record && !refreshValid) {
      problems.push({
        code: 'refresh_token_expired',
        severity: 'error',
        message: `the refresh token expired ${timeLeft(record.refresh_token_expires_at, now)}; only a new login gets a new one`,
        fix: login,
      });
    } else if (record && expiryKnown && record.refresh_token_expires_at - now < 48 * HOUR) {
      problems.push({
        code: 'refresh_token_expiring',
        severity: 'warning',
        message: `the refresh token expires ${timeLeft(record.refresh_token_expires_at, now)}; after that a person must log in`,
        fix: login,
      });
    }
    if (record && refreshValid && !accessValid && refusedAt === undefined) {
      problems.push({
        code: 'access_token_expired',
        severity: 'warning',
        message: `the access token expired ${timeLeft(record.expires_at, now)}; the next 'td-token token' refreshes it`,
        fix: refresh,
      });
    }

    let api: ApiCheck = { checked: false, accepted: null, status: null, detail: null };
    if (record && accessValid && !offline && verified?.accepted !== false) {
      api = await checkApi(ctx, record, cli);
      if (api.accepted === false) {
        problems.push({
          code: 'api_rejected',
          severity: 'error',
          message: `the API refused the access token (${api.detail}); it may have been revoked`,
          fix: `${fixCommand('refresh --force', args.values)}   (if that fails: ${login})`,
        });
      } else if (api.accepted === null) {
        problems.push({
          code: 'api_unreachable',
          severity: 'error',
          message: `the API could not be reached (${api.detail})`,
          fix: `check the network and the API URL (--api-url / TD_TOKEN_API_URL), then run ${fixCommand('status', args.values)}`,
        });
      }
    } else if (offline) {
      api.detail = 'not checked (--offline)';
    } else if (record && !accessValid) {
      api.detail = 'not checked (the access token has expired)';
    } else if (verified?.accepted === false) {
      api.detail = 'not checked (the refresh token was refused)';
    }

    const noEndpoints = sandbox.kind === 'not-started';
    const errors = problems.filter((p) => p.severity === 'error');
    // An unreadable store is exit 1: a login would overwrite what may be a fixable file.
    const loginNeeded = errors.some((p) =>
      [
        'not_logged_in',
        'refresh_token_expired',
        'refresh_token_replaced',
        'refresh_token_refused',
      ].includes(p.code),
    );
    const exit = errors.length === 0 ? EXIT.ok : loginNeeded ? EXIT.loginRequired : EXIT.failed;

    const sources: Record<string, { kind: string; name: string }> = {};
    for (const [key, source] of Object.entries(ctx.sources)) {
      if (source) sources[key] = { kind: source.kind, name: source.name };
    }

    if (json) {
      const report = {
        ok: errors.length === 0,
        profile: config.profile,
        provider: config.provider,
        clientId: maskToken(config.clientId),
        endpoints: {
          authorizeUrl: noEndpoints ? null : provider.authorizeUrl,
          tokenUrl: noEndpoints ? null : provider.tokenUrl,
          apiUrl: noEndpoints ? null : provider.apiUrl,
          redirectUri: provider.redirectUri,
        },
        sandbox: sandboxInfo,
        store: { kind: config.store.kind, location: describeStore(config.store) },
        loggedIn: record !== undefined,
        accessToken: record
          ? {
              token: showAccess(record.access_token),
              expiresAt: new Date(record.expires_at).toISOString(),
              expiresAtMs: record.expires_at,
              secondsLeft: Math.floor((record.expires_at - now) / 1000),
              valid: accessValid,
            }
          : null,
        refreshToken: record
          ? {
              token: maskToken(record.refresh_token),
              expiresAt: expiryKnown
                ? new Date(record.refresh_token_expires_at).toISOString()
                : null,
              expiresAtMs: expiryKnown ? record.refresh_token_expires_at : null,
              secondsLeft: expiryKnown
                ? Math.floor((record.refresh_token_expires_at - now) / 1000)
                : null,
              daysLeft: expiryKnown ? daysLeft(record.refresh_token_expires_at, now) : null,
              expiryKnown,
              refusedAt: refusedAt === undefined ? null : new Date(refusedAt).toISOString(),
              valid: refreshValid && refusedAt === undefined,
            }
          : null,
        api,
        verify: verified,
        problems,
        fix: (errors[0] ?? problems[0])?.fix ?? null,
        sources,
      };
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return exit;
    }

    const from = (key: keyof typeof ctx.sources): string => {
      const s = ctx.sources[key];
      if (!s || s.name === 'default') return '';
      return ` (from ${s.kind === 'env' ? `$${s.name}` : s.name})`;
    };
    const lines: string[] = [];
    lines.push(`profile ${config.profile}${from('profile')}`);
    lines.push(`  provider:       ${config.provider}${from('provider')}`);
    lines.push(`  client id:      ${maskToken(config.clientId)}${from('clientId')}`);
    if (noEndpoints) {
      lines.push(
        `  endpoints:      none (--offline, and no ${config.sandboxFlavor} sandbox is running)`,
      );
    } else {
      lines.push(`  token URL:      ${provider.tokenUrl}${from('tokenUrl')}`);
      lines.push(`  API URL:        ${provider.apiUrl}${from('apiUrl')}`);
    }
    lines.push(`  redirect URI:   ${provider.redirectUri}${from('redirectUri')}`);
    if (sandbox.kind === 'running') {
      lines.push(
        `  sandbox:        td-token sandbox at ${sandbox.record.url} (pid ${sandbox.record.pid})`,
      );
    } else if (sandbox.kind === 'in-process') {
      lines.push(`  sandbox:        started by this command at ${sandbox.url}`);
    } else if (sandbox.kind === 'not-started') {
      lines.push('  sandbox:        none running; commands that need one start it');
    }
    if (sandbox.kind !== 'none') lines.push(`  sandbox tokens: ${sandbox.stateFile}`);
    lines.push(`  store:          ${describeStore(config.store)}${from('storeUrl')}`);
    if (record) {
      lines.push(
        `  access token:   ${showAccess(record.access_token)}, ${accessValid ? 'valid until' : 'expired'} ${when(record.expires_at)} (${timeLeft(record.expires_at, now)})`,
      );
      lines.push(
        refusedAt !== undefined
          ? `  refresh token:  ${maskToken(record.refresh_token)}, refused by the provider ${when(refusedAt)}`
          : !expiryKnown
            ? `  refresh token:  ${maskToken(record.refresh_token)}, expiry unknown (the server does not say; set refreshTokenLifetime if you know it)`
            : `  refresh token:  ${maskToken(record.refresh_token)}, ${refreshValid ? 'valid until' : 'expired'} ${when(record.refresh_token_expires_at)} (${refreshValid ? `${daysLeft(record.refresh_token_expires_at, now)} days left` : timeLeft(record.refresh_token_expires_at, now)})`,
      );
    } else if (unreadable) {
      lines.push('  token:          the store cannot be read (see the problem below)');
    } else {
      lines.push('  token:          none stored');
    }
    if (verified) lines.push(`  verified:       ${verified.detail}`);
    if (api.checked) {
      lines.push(
        `  API:            ${api.accepted ? 'accepts the token' : api.accepted === false ? 'REFUSES the token' : 'unreachable'} (${api.detail})`,
      );
    } else if (api.detail) {
      lines.push(`  API:            ${api.detail}`);
    }
    lines.push('');
    if (problems.length === 0) {
      lines.push('ok: logged in, and the tokens are good');
    }
    for (const p of problems) {
      lines.push(`${p.severity === 'error' ? 'problem' : 'note'}: ${p.message}`);
      if (p.fix) lines.push(`  fix: ${p.fix}`);
    }
    io.stderr.write(`${lines.join('\n')}\n`);
    return exit;
  } finally {
    await ctx.close();
  }
}
