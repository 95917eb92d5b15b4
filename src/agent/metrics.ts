/**
 * The agent's `/metrics`: Prometheus text exposition format 0.0.4, per profile: seconds until the
 * access and refresh tokens expire, refreshes and refresh failures (counters), a login-required
 * gauge, and token requests served.
 *
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 * @module
 */
import type { ServedProfile } from './profile.js';

/** The `Content-Type` of the 0.0.4 text format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The metrics text for `profiles` at `now`. */
export function metricsText(profiles: readonly ServedProfile[], now: number): string {
  const families: [
    string,
    'gauge' | 'counter',
    string,
    (p: ServedProfile) => number | undefined,
  ][] = [
    [
      'td_token_access_token_expiry_seconds',
      'gauge',
      'Seconds until the access token expires (negative: expired).',
      (p) => (p.last === undefined ? undefined : (p.last.expires_at - now) / 1000),
    ],
    [
      'td_token_refresh_token_expiry_seconds',
      'gauge',
      'Seconds until the refresh token expires and a person must log in again.',
      (p) => (p.last === undefined ? undefined : (p.last.refresh_token_expires_at - now) / 1000),
    ],
    [
      'td_token_refreshes_total',
      'counter',
      'Access token refreshes made by this agent.',
      (p) => p.refreshes,
    ],
    [
      'td_token_refresh_failures_total',
      'counter',
      'Failed refresh attempts of this agent.',
      (p) => p.refreshFailures,
    ],
    [
      'td_token_login_required',
      'gauge',
      '1 when a person must log in again, else 0.',
      (p) => (p.loginRequired ? 1 : 0),
    ],
    [
      'td_token_requests_total',
      'counter',
      'Token requests answered by this agent.',
      (p) => p.requests,
    ],
  ];
  const lines: string[] = [];
  for (const [name, type, help, value] of families) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const p of profiles) {
      const v = value(p);
      if (v === undefined) continue;
      lines.push(
        `${name}{profile="${label(p.info.name)}"} ${Number.isInteger(v) ? v : v.toFixed(3)}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
