import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  errorPage,
  escapeHtml,
  NO_SECRET_LINE,
  STYLE_HASH,
  statusPage,
  successPage,
} from '../../src/login/pages.js';

const hostile = `"><script>alert(1)</script><img src=x onerror='y'>&`;

describe('login pages', () => {
  it('escapes every special character', () => {
    expect(escapeHtml(hostile)).toBe(
      '&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&#39;y&#39;&gt;&amp;',
    );
  });

  it('escapes everything interpolated into the status and error pages', () => {
    const status = statusPage({
      provider: hostile,
      redirectUri: hostile,
      readError: hostile,
      canRefresh: true,
      notice: hostile,
      now: 0,
      secret: hostile,
    });
    const error = errorPage({
      status: 400,
      title: hostile,
      message: hostile,
      fix: hostile,
      code: hostile,
    });
    for (const page of [status, error]) {
      expect(page.html).not.toContain('<script>');
      expect(page.html).not.toContain('<img');
      expect(page.html).toContain('&lt;script&gt;');
    }
    expect(status.html).toContain(`value="${escapeHtml(hostile)}"`);
  });

  it('shows the buttons (POST forms with the secret) only when given the secret', () => {
    const view = { provider: 'schwab', redirectUri: 'https://127.0.0.1:8182', canRefresh: true };
    const open = statusPage({ ...view, now: 0 });
    expect(open.html).not.toMatch(/<form|name="secret"|href="\/login/);
    expect(open.html).toContain(NO_SECRET_LINE);
    const withButtons = statusPage({ ...view, now: 0, secret: 's3cret' });
    expect(withButtons.html).toContain(
      '<form method="post" action="/login"><input type="hidden" name="secret" value="s3cret"><button type="submit" id="login">Log in</button></form>',
    );
    expect(withButtons.html).toContain('action="/shutdown"');
    expect(withButtons.html).not.toContain(NO_SECRET_LINE);
    const error = { status: 502, title: 'Login failed', message: 'm', fix: 'f', code: 'x' };
    expect(errorPage(error).html).not.toContain('<form');
    const offering = errorPage({ ...error, secret: 's3cret' }).html;
    expect(offering).toContain('value="s3cret"');
    expect(offering).toContain('href="/?secret=s3cret"');
    const success = { provider: 'schwab', accessExpiresAt: 1, refreshExpiresAt: 2, now: 0 };
    expect(successPage({ ...success, stopping: true, secret: 's3cret' }).html).not.toContain(
      's3cret',
    );
    expect(successPage({ ...success, stopping: false, secret: 's3cret' }).html).toContain(
      'href="/?secret=s3cret"',
    );
  });

  it('has one stylesheet whose hash is the one the CSP allows, and no scripts', () => {
    const page = successPage({
      provider: 'schwab',
      accessExpiresAt: 1_800_000,
      refreshExpiresAt: 7 * 86_400_000,
      stopping: true,
      now: 0,
    });
    const styles = [...page.html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]);
    expect(styles).toHaveLength(1);
    expect(`'sha256-${createHash('sha256').update(styles[0]!).digest('base64')}'`).toBe(STYLE_HASH);
    expect(page.html).not.toMatch(/<script|\son\w+=|style="/i);
    expect(page.html).toContain('(in 7 days)');
  });

  it("shows times as the terminal does: this computer's local time and the time left, no raw ISO", () => {
    const at = Date.UTC(2026, 2, 14, 9, 26, 53, 123);
    const page = successPage({
      provider: 'the sandbox (schwab flavor)',
      accessExpiresAt: at,
      refreshExpiresAt: at + 7 * 86_400_000,
      stopping: true,
      now: at - 1_800_000,
    });
    expect(page.html).not.toMatch(/\d{2}:\d{2}:\d{2}\.\d{3}Z/);
    const local = new Date(at);
    const offset = -local.getTimezoneOffset();
    const zone = `UTC${offset >= 0 ? '+' : '-'}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}:${String(Math.abs(offset) % 60).padStart(2, '0')}`;
    const hhmm = `${String(local.getHours()).padStart(2, '0')}:${String(local.getMinutes()).padStart(2, '0')}`;
    const day = `${local.getFullYear()}-${String(local.getMonth() + 1).padStart(2, '0')}-${String(local.getDate()).padStart(2, '0')}`;
    expect(page.html).toContain(`${day} ${hhmm} (${zone}) (in 30 min)`);
    expect(page.html).toContain('(in 7 days)');
    expect(page.html).toContain(
      'td-token received and stored a token from the sandbox (schwab flavor).',
    );
  });
});
