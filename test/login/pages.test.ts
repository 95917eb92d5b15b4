import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  errorPage,
  escapeHtml,
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
    expect(page.html).toContain('1970-01-01T00:30:00.000Z (in 30 min)');
    expect(page.html).toContain('(in 7 days)');
  });
});
