/**
 * Notification targets: each kind parsed from its string, secrets masked in what is shown and in
 * every error, lists split as TD_TOKEN_NOTIFY holds them, and the environment children get.
 */
import { describe, expect, it } from 'vitest';
import type { ValueSource } from '../../src/config/layers.js';
import type { NotifyConfig } from '../../src/config/notify.js';
import { ConfigError } from '../../src/errors.js';
import { notifySettings } from '../../src/notify/cli-options.js';
import { parseNotifyTarget, scrubTargets, splitNotifyTargets } from '../../src/notify/targets.js';
import { childEnv } from '../../src/util/child-env.js';

const SLACK_TOKEN = 'XyZ9sEcReTwEbHoOkPaTh0123';
const SMTP_PASSWORD = 'smtp-pa55word-Secret!';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('did not throw');
}

describe('parseNotifyTarget', () => {
  it('parses a webhook and masks its path and query', () => {
    const t = parseNotifyTarget(`https://hooks.slack.com/services/T000/B000/${SLACK_TOKEN}?x=1`);
    expect(t.kind).toBe('webhook');
    expect(t.display).toBe('https://hooks.slack.com/…?…');
    expect(t.secrets).toContain(SLACK_TOKEN);
  });

  it('allows plain http only for loopback hosts, and the error shows no path', () => {
    expect(parseNotifyTarget('http://127.0.0.1:9000/hook').kind).toBe('webhook');
    expect(parseNotifyTarget('http://[::1]:9000/hook').kind).toBe('webhook');
    const err = configError(() => parseNotifyTarget(`http://hooks.example.com/x/${SLACK_TOKEN}`));
    expect(err.message).toContain('plain http');
    expect(err.message).toContain('https://hooks.example.com/…');
    expect(err.message).not.toContain(SLACK_TOKEN);
  });

  it('parses an ntfy topic and masks it (the topic is the secret)', () => {
    const t = parseNotifyTarget('ntfy+https://ntfy.sh/my-private-topic-123');
    expect(t.kind).toBe('ntfy');
    expect(t.display).toBe('ntfy+https://ntfy.sh/…');
    expect(scrubTargets('posting to ntfy.sh/my-private-topic-123 failed', [t])).toBe(
      'posting to ntfy.sh/… failed',
    );
    expect(configError(() => parseNotifyTarget('ntfy+https://ntfy.sh/')).message).toMatch(
      /names no topic\. give it as ntfy\+https:\/\/ntfy\.sh\/TOPIC$/,
    );
    expect(configError(() => parseNotifyTarget('ntfy+http://ntfy.sh/topic')).message).toContain(
      'plain http',
    );
  });

  it('parses an e-mail target, masking the password only', () => {
    const t = parseNotifyTarget(
      `smtps://bot%40example.com:${encodeURIComponent(SMTP_PASSWORD)}@smtp.example.com?to=me@example.com&to=you@example.com`,
    );
    expect(t.kind).toBe('email');
    expect(t.display).toBe(
      'smtps://bot@example.com:…@smtp.example.com?to=me@example.com,you@example.com',
    );
    expect(t.secrets).toContain(SMTP_PASSWORD);
    expect(scrubTargets(`535 auth failed for ${SMTP_PASSWORD}`, [t])).toBe('535 auth failed for …');
  });

  it('refuses an e-mail target without recipients or with unknown parameters, password masked', () => {
    const a = configError(() => parseNotifyTarget(`smtp://u:${SMTP_PASSWORD}@mail.example.com`));
    expect(a.message).toBe(
      'the e-mail target smtp://u:…@mail.example.com needs one or more recipients. add ?to=YOU@EXAMPLE.COM (repeat to= for more)',
    );
    const b = configError(() =>
      parseNotifyTarget(`smtp://u:${SMTP_PASSWORD}@mail.example.com?to=a@b.c&tls=off`),
    );
    expect(b.message).toContain('unknown parameter "tls"');
    expect(b.message).not.toContain(SMTP_PASSWORD);
  });

  it('parses exec: and desktop, showing only the command name', () => {
    const t = parseNotifyTarget('exec:curl -d @- https://example.com/secret-path-123');
    expect(t.kind).toBe('exec');
    expect(t.display).toBe('exec:curl …');
    expect(parseNotifyTarget('desktop').display).toBe('desktop');
    expect(configError(() => parseNotifyTarget('exec:  ')).message).toContain('names no command');
  });

  it('names an unknown kind by its scheme alone', () => {
    const err = configError(() => parseNotifyTarget(`slack://${SLACK_TOKEN}`));
    expect(err.message).toMatch(/^the notification target "slack:…" is not one td-token knows/);
    expect(err.message).not.toContain(SLACK_TOKEN);
    expect(() => parseNotifyTarget(1 as unknown as string)).toThrow(
      new TypeError('"spec" must be a string'),
    );
  });
});

describe('splitNotifyTargets', () => {
  it('splits at spaces, commas and newlines before a target; exec: takes the rest', () => {
    expect(
      splitNotifyTargets(
        'desktop, https://h.example/x\nsmtp://u:p@m.example?to=a@b.c,d@e.f exec:notify-send "a, b" https://x',
      ),
    ).toEqual([
      'desktop',
      'https://h.example/x',
      'smtp://u:p@m.example?to=a@b.c,d@e.f',
      'exec:notify-send "a, b" https://x',
    ]);
    expect(splitNotifyTargets('  ')).toEqual([]);
  });
});

describe('notifySettings', () => {
  it('takes --notify over TD_TOKEN_NOTIFY, and the lead times by provider', () => {
    const env = { TD_TOKEN_NOTIFY: 'desktop https://h.example/x' };
    expect(notifySettings({}, env, false).targets.map((t) => t.kind)).toEqual([
      'desktop',
      'webhook',
    ]);
    const flags = notifySettings({ notify: ['exec:true'] }, env, false);
    expect(flags.targets.map((t) => t.kind)).toEqual(['exec']);
    expect(flags.thresholdsMs).toEqual([72 * 3_600_000, 24 * 3_600_000, 2 * 3_600_000]);
    expect(flags.failingAfterMs).toBe(30 * 60_000);
    expect(notifySettings({}, {}, true).thresholdsMs).toEqual([7 * 86_400_000, 2 * 86_400_000]);
    const custom = notifySettings(
      { 'notify-before': '3d, 90m,20s', 'notify-failing-after': '5m' },
      {},
      true,
    );
    expect(custom.thresholdsMs).toEqual([3 * 86_400_000, 90 * 60_000, 20_000]);
    expect(custom.failingAfterMs).toBe(5 * 60_000);
    expect(() => notifySettings({ 'notify-before': 'soon' }, {}, false)).toThrow(ConfigError);
  });

  it("takes the configuration's values below the flags and the variables", () => {
    const file = (key: string): ValueSource => ({
      kind: 'config-file',
      name: `config.json: profiles.work.${key}`,
    });
    const config: { notify: NotifyConfig } = {
      notify: {
        notify: { value: ['desktop', 'exec:echo configured'], source: file('notify') },
        notifyBefore: { value: '7d,1h', source: file('notifyBefore') },
        notifyFailingAfter: { value: '10m', source: file('notifyFailingAfter') },
      },
    };
    const fromConfig = notifySettings({}, {}, false, config);
    expect(fromConfig.targets.map((t) => t.kind)).toEqual(['desktop', 'exec']);
    expect(fromConfig.thresholdsMs).toEqual([7 * 86_400_000, 3_600_000]);
    expect(fromConfig.failingAfterMs).toBe(10 * 60_000);

    const env = {
      TD_TOKEN_NOTIFY: 'https://h.example/x',
      TD_TOKEN_NOTIFY_BEFORE: '2h',
      TD_TOKEN_NOTIFY_FAILING_AFTER: '1m',
    };
    const fromEnv = notifySettings({}, env, false, config);
    expect(fromEnv.targets.map((t) => t.kind)).toEqual(['webhook']);
    expect(fromEnv.thresholdsMs).toEqual([2 * 3_600_000]);
    expect(fromEnv.failingAfterMs).toBe(60_000);

    const flags = { notify: ['exec:true'], 'notify-before': '3h', 'notify-failing-after': '2m' };
    const fromFlags = notifySettings(flags, env, false, config);
    expect(fromFlags.targets.map((t) => t.kind)).toEqual(['exec']);
    expect(fromFlags.thresholdsMs).toEqual([3 * 3_600_000]);
    expect(fromFlags.failingAfterMs).toBe(2 * 60_000);

    // A configured string is a list, split as the variable is.
    const listed = notifySettings({}, {}, false, {
      notify: { ...config.notify, notify: { value: 'desktop, exec:true', source: file('notify') } },
    });
    expect(listed.targets.map((t) => t.kind)).toEqual(['desktop', 'exec']);
  });

  it("names where a bad configured value came from, and never shows a target's secret", () => {
    const source: ValueSource = { kind: 'config-file', name: 'config.json: profiles.work.notify' };
    const bad = configError(() =>
      notifySettings({}, {}, false, {
        notify: {
          notify: { value: [`smtps://me:${SMTP_PASSWORD}@mail.example:465`], source },
          notifyBefore: undefined,
          notifyFailingAfter: undefined,
        },
      }),
    );
    expect(bad.message).toMatch(/^config\.json: profiles\.work\.notify: /);
    expect(bad.message).not.toContain(SMTP_PASSWORD);
    expect(String(bad.cause)).not.toContain(SMTP_PASSWORD);
    const slow = configError(() =>
      notifySettings({}, {}, false, {
        notify: {
          notify: undefined,
          notifyBefore: undefined,
          notifyFailingAfter: {
            value: 'soon',
            source: { kind: 'dotenv', name: '.env: TD_TOKEN_NOTIFY_FAILING_AFTER' },
          },
        },
      }),
    );
    expect(slow.message).toMatch(
      /^\.env: TD_TOKEN_NOTIFY_FAILING_AFTER is "soon", which is not a duration/,
    );
  });
});

describe('childEnv', () => {
  it("takes td-token's secrets out and keeps the rest", () => {
    const env = childEnv(
      {
        PATH: '/bin',
        HOME: '/home/x',
        TD_TOKEN_PASSPHRASE: 'p',
        TD_TOKEN_CLIENT_SECRET: 's',
        TD_TOKEN_NOTIFY: 'smtp://u:p@h?to=a@b',
        TD_TOKEN_STORE_URL: 'redis://:pw@127.0.0.1:6379/0',
        TD_TOKEN_SMTP_PASSWORD: 'x',
        TD_TOKEN_PASSPHRASE_FILE: '/keys/pass',
        TD_TOKEN_PROFILE: 'live',
      },
      { TD_TOKEN_EVENT: 'login_required' },
    );
    expect(env).toEqual({
      PATH: '/bin',
      HOME: '/home/x',
      TD_TOKEN_PASSPHRASE_FILE: '/keys/pass',
      TD_TOKEN_PROFILE: 'live',
      TD_TOKEN_EVENT: 'login_required',
    });
    expect(childEnv({ TD_TOKEN_STORE_URL: '/tokens/db.sqlite' })).toEqual({
      TD_TOKEN_STORE_URL: '/tokens/db.sqlite',
    });
  });
});
