/**
 * The notification settings as configuration: `notify` (a string or a list), `notifyBefore` and
 * `notifyFailingAfter` per profile in the config file, under `.env`, the environment and the
 * flags; and no source name, warning or error ever showing a target's secret.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConfigInput, resolveConfig } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/errors.js';
import { notifySettings } from '../../src/notify/cli-options.js';

const PATH_TOKEN = 'T0AAAAAA/B0BBBBBB/XyZ9sEcReTwEbHoOkPaTh0123';
const WEBHOOK = `https://hooks.example.com/services/${PATH_TOKEN}`;
const SMTP_PASSWORD = 'smtp-pa55word-Secret!';
const SMTP = `smtps://me%40example.com:${SMTP_PASSWORD}@mail.example.com:465?to=me@example.com`;

let root: string;
let cwd: string;
let configDir: string;
let configPath: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'td-token-notify-config-'));
  cwd = join(root, 'work');
  configDir = join(root, 'config');
  configPath = join(configDir, 'config.json');
  await mkdir(cwd, { recursive: true });
  await mkdir(configDir, { recursive: true });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function input(flags: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): ConfigInput {
  return { flags: flags as ConfigInput['flags'], env, cwd, configDir };
}

async function configFile(value: unknown): Promise<void> {
  await writeFile(configPath, JSON.stringify(value), { mode: 0o600 });
}

/** Everything of a resolved configuration that `status --json` and warnings show. */
function shown(config: Awaited<ReturnType<typeof resolveConfig>>): string {
  return JSON.stringify({ sources: config.sources, warnings: config.warnings });
}

describe('notification settings in the configuration', () => {
  it("are read from a profile's section, a list or a string, over the top level", async () => {
    await configFile({
      notify: 'desktop',
      notifyBefore: '48h',
      profiles: {
        work: { notify: [WEBHOOK, SMTP], notifyFailingAfter: '10m' },
        home: { notify: `desktop, ${WEBHOOK}` },
      },
    });
    const work = await resolveConfig(input({ profile: 'work' }));
    expect(work.notify.notify?.value).toEqual([WEBHOOK, SMTP]);
    expect(work.sources.notify).toEqual({
      kind: 'config-file',
      name: `${configPath}: profiles.work.notify`,
    });
    expect(work.notify.notifyBefore?.value).toBe('48h');
    expect(work.sources.notifyBefore?.name).toBe(`${configPath}: notifyBefore`);
    expect(work.notify.notifyFailingAfter?.value).toBe('10m');
    const settings = notifySettings({}, {}, false, work);
    expect(settings.targets.map((t) => t.kind)).toEqual(['webhook', 'email']);
    expect(settings.thresholdsMs).toEqual([48 * 3_600_000]);
    expect(settings.failingAfterMs).toBe(10 * 60_000);
    expect(settings.targets.map((t) => t.display).join(' ')).not.toContain(SMTP_PASSWORD);

    const home = notifySettings({}, {}, false, await resolveConfig(input({ profile: 'home' })));
    expect(home.targets.map((t) => t.kind)).toEqual(['desktop', 'webhook']);
    const other = await resolveConfig(input({ profile: 'other' }));
    expect(other.notify.notify?.value).toBe('desktop');
    expect(other.notify.notifyFailingAfter).toBeUndefined();
  });

  it('flags > environment > .env > config file', async () => {
    await configFile({ notify: 'desktop', notifyBefore: '1h', notifyFailingAfter: '1m' });
    const file = await resolveConfig(input());
    expect(file.sources.notify?.kind).toBe('config-file');

    await writeFile(
      join(cwd, '.env'),
      'TD_TOKEN_NOTIFY=exec:true\nTD_TOKEN_NOTIFY_BEFORE=2h\nTD_TOKEN_NOTIFY_FAILING_AFTER=2m\n',
    );
    const dotenv = await resolveConfig(input());
    expect(dotenv.notify.notify?.value).toBe('exec:true');
    expect(dotenv.sources.notify).toEqual({ kind: 'dotenv', name: '.env: TD_TOKEN_NOTIFY' });
    const fromDotenv = notifySettings({}, {}, false, dotenv);
    expect(fromDotenv.targets.map((t) => t.kind)).toEqual(['exec']);
    expect(fromDotenv.thresholdsMs).toEqual([2 * 3_600_000]);
    expect(fromDotenv.failingAfterMs).toBe(2 * 60_000);

    const env = { TD_TOKEN_NOTIFY: WEBHOOK, TD_TOKEN_NOTIFY_BEFORE: '3h' };
    const fromEnv = await resolveConfig(input({}, env));
    expect(fromEnv.sources.notify).toEqual({ kind: 'env', name: 'TD_TOKEN_NOTIFY' });
    expect(fromEnv.sources.notifyBefore).toEqual({ kind: 'env', name: 'TD_TOKEN_NOTIFY_BEFORE' });
    expect(fromEnv.sources.notifyFailingAfter?.kind).toBe('dotenv');

    const flags = { notify: ['desktop', 'exec:true'], 'notify-before': '4h' };
    const fromFlags = await resolveConfig(input(flags, env));
    expect(fromFlags.notify.notify?.value).toEqual(['desktop', 'exec:true']);
    expect(fromFlags.sources.notify).toEqual({ kind: 'flag', name: '--notify' });
    expect(fromFlags.notify.notifyBefore?.value).toBe('4h');
    const settings = notifySettings(flags, env, false, fromFlags);
    expect(settings.targets.map((t) => t.kind)).toEqual(['desktop', 'exec']);
    expect(settings.thresholdsMs).toEqual([4 * 3_600_000]);
  });

  it('never shows a webhook path token or an SMTP password in sources or warnings', async () => {
    await configFile({
      notify: [WEBHOOK, SMTP],
      notfy: SMTP,
      profiles: { work: { notify: SMTP } },
    });
    for (const config of [
      await resolveConfig(input()),
      await resolveConfig(input({ profile: 'work' })),
      await resolveConfig(input({}, { TD_TOKEN_NOTIFY: `${WEBHOOK} ${SMTP}` })),
      await resolveConfig(input({ notify: [SMTP] })),
    ]) {
      expect(config.sources.notify).toBeDefined();
      const text = shown(config);
      expect(text).not.toContain(PATH_TOKEN);
      expect(text).not.toContain('XyZ9sEcReTwEbHoOkPaTh0123');
      expect(text).not.toContain(SMTP_PASSWORD);
    }
    const warned = await resolveConfig(input());
    expect(warned.warnings.join('\n')).toContain('ignoring unknown setting "notfy"');
  });

  it('refuses a malformed value, naming the key and never the value', async () => {
    for (const notify of [[], [SMTP, 7], [SMTP, ' '], { url: SMTP }]) {
      await configFile({ profiles: { work: { notify } } });
      const err = await resolveConfig(input({ profile: 'work' })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as ConfigError).message;
      expect(message).toContain('"profiles.work.notify" must be a non-empty string');
      expect(message).not.toContain(SMTP_PASSWORD);
    }
    await configFile({ notifyBefore: ['1h'] });
    const err = await resolveConfig(input()).catch((e: unknown) => e);
    expect((err as ConfigError).message).toContain('"notifyBefore" must be a non-empty string');
  });

  it('a configured target that does not parse: the error names the key, masks the secret', async () => {
    const bad = `smtps://me:${SMTP_PASSWORD}@mail.example.com:465`;
    await configFile({ profiles: { work: { notify: [bad] } } });
    const config = await resolveConfig(input({ profile: 'work' }));
    let message = '';
    try {
      notifySettings({}, {}, false, config);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as ConfigError).message;
    }
    expect(message).toContain(`${configPath}: profiles.work.notify: `);
    expect(message).not.toContain(SMTP_PASSWORD);
  });
});
