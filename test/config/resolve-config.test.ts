/**
 * resolveConfig: every source, their order (flags > environment > .env > config file >
 * defaults), the seed-era names, the store choice, and the errors that name what to fix.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConfigInput, resolveConfig } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/errors.js';
import { PROVIDER_DEFAULTS } from '../../src/providers/index.js';
import { SANDBOX_DEFAULT_APPS } from '../../src/sandbox/index.js';

let root: string;
let cwd: string;
let configDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'td-token-config-'));
  cwd = join(root, 'work');
  configDir = join(root, 'config', 'td-token');
  await mkdir(cwd, { recursive: true });
  await mkdir(configDir, { recursive: true });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function input(flags: ConfigInput['flags'] = {}, env: NodeJS.ProcessEnv = {}): ConfigInput {
  return { flags, env, cwd, configDir };
}

async function dotenv(text: string): Promise<void> {
  await writeFile(join(cwd, '.env'), text);
}

async function configFile(value: unknown): Promise<void> {
  await writeFile(join(configDir, 'config.json'), JSON.stringify(value));
}

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('defaults', () => {
  it('with nothing configured: the Schwab-flavored sandbox and its default app, file store per profile', async () => {
    const c = await resolveConfig(input());
    expect(c.provider).toBe('sandbox-schwab');
    expect(c.protocol).toBe('schwab');
    expect(c.sandboxFlavor).toBe('schwab');
    expect(c.clientId).toBe(SANDBOX_DEFAULT_APPS.schwab.clientId);
    expect(c.clientSecret).toBe(SANDBOX_DEFAULT_APPS.schwab.clientSecret);
    expect(c.redirectUri).toBe(SANDBOX_DEFAULT_APPS.schwab.redirectUris[0]);
    expect(c.authorizeUrl).toBeUndefined();
    expect(c.tokenUrl).toBeUndefined();
    expect(c.profile).toBe('default');
    expect(c.store).toEqual({ kind: 'file', path: join(configDir, 'tokens', 'default.json') });
    expect(c.certDir).toBe(join(configDir, 'certs'));
    expect(c.sources.provider?.kind).toBe('default');
    expect(c.sources.clientId).toEqual({
      kind: 'default',
      name: "the schwab sandbox's default app",
    });
    expect(c.configFileFound).toBe(false);
    expect(c.dotenvFile).toBeUndefined();
  });

  it('the TD-flavored sandbox when named, with its default app (no secret)', async () => {
    const c = await resolveConfig(input({ provider: 'sandbox-tdameritrade' }));
    expect(c.clientId).toBe(SANDBOX_DEFAULT_APPS.tdameritrade.clientId);
    expect(c.clientSecret).toBeUndefined();
    expect(c.redirectUri).toBe(SANDBOX_DEFAULT_APPS.tdameritrade.redirectUris[0]);
  });

  it("the providers' default redirect URIs match the provider modules'", async () => {
    const td = await resolveConfig(input({ provider: 'tdameritrade', 'client-id': 'KEY' }));
    expect(td.redirectUri).toBe(PROVIDER_DEFAULTS.tdameritrade.redirectUri);
    const schwab = await resolveConfig(
      input({ provider: 'schwab', 'client-id': 'KEY', 'client-secret': 'S' }),
    );
    expect(schwab.redirectUri).toBe(PROVIDER_DEFAULTS.schwab.redirectUri);
  });

  it('a client id without a provider: tdameritrade without a secret, schwab with one', async () => {
    expect((await resolveConfig(input({ 'client-id': 'KEY' }))).provider).toBe('tdameritrade');
    expect(
      (await resolveConfig(input({ 'client-id': 'KEY', 'client-secret': 'S' }))).provider,
    ).toBe('schwab');
  });
});

describe('order: flags > environment > .env > config file > defaults', () => {
  it('each source wins over the ones below it, and says so', async () => {
    await configFile({ provider: 'tdameritrade', clientId: 'FROM_FILE' });
    await dotenv('TD_TOKEN_CLIENT_ID=FROM_DOTENV\n');
    const env = { TD_TOKEN_CLIENT_ID: 'FROM_ENV' };

    const all = await resolveConfig(input({ 'client-id': 'FROM_FLAG' }, env));
    expect(all.clientId).toBe('FROM_FLAG');
    expect(all.sources.clientId).toEqual({ kind: 'flag', name: '--client-id' });

    const noFlag = await resolveConfig(input({}, env));
    expect(noFlag.clientId).toBe('FROM_ENV');
    expect(noFlag.sources.clientId).toEqual({ kind: 'env', name: 'TD_TOKEN_CLIENT_ID' });

    const noEnv = await resolveConfig(input());
    expect(noEnv.clientId).toBe('FROM_DOTENV');
    expect(noEnv.sources.clientId).toEqual({ kind: 'dotenv', name: '.env: TD_TOKEN_CLIENT_ID' });
    expect(noEnv.dotenvFile).toBe(join(cwd, '.env'));

    await rm(join(cwd, '.env'));
    const fileOnly = await resolveConfig(input());
    expect(fileOnly.clientId).toBe('FROM_FILE');
    expect(fileOnly.sources.clientId).toEqual({
      kind: 'config-file',
      name: `${join(configDir, 'config.json')}: clientId`,
    });
    expect(fileOnly.provider).toBe('tdameritrade');
    expect(fileOnly.configFileFound).toBe(true);
  });

  it('.env never overrides the real environment, even for another name of the same setting', async () => {
    await dotenv(
      'TD_TOKEN_CLIENT_ID=DOTENV_ID\nTD_TOKEN_PROVIDER=schwab\nTD_TOKEN_CLIENT_SECRET=S\n',
    );
    const c = await resolveConfig(input({}, { CONSUMER_KEY: 'ENV_KEY' }));
    expect(c.clientId).toBe('ENV_KEY');
    // The provider set in .env still applies: CONSUMER_KEY implies TD only when no provider is set.
    expect(c.provider).toBe('schwab');
    expect(c.sources.provider).toEqual({ kind: 'dotenv', name: '.env: TD_TOKEN_PROVIDER' });
  });

  it('every setting has a flag and an environment variable', async () => {
    const values = {
      provider: 'generic',
      'client-id': 'id',
      'client-secret': 'secret',
      'redirect-uri': 'https://app.example/cb',
      'authorize-url': 'https://idp.example/authorize',
      'token-url': 'https://idp.example/token',
      'api-url': 'https://api.example',
      scope: 'read write',
      profile: 'p1',
      store: 'sqlite',
      'store-url': 'db/tokens.db',
    };
    const byFlag = await resolveConfig(input(values));
    const byEnv = await resolveConfig(
      input(
        {},
        {
          TD_TOKEN_PROVIDER: values.provider,
          TD_TOKEN_CLIENT_ID: values['client-id'],
          TD_TOKEN_CLIENT_SECRET: values['client-secret'],
          TD_TOKEN_REDIRECT_URI: values['redirect-uri'],
          TD_TOKEN_AUTHORIZE_URL: values['authorize-url'],
          TD_TOKEN_TOKEN_URL: values['token-url'],
          TD_TOKEN_API_URL: values['api-url'],
          TD_TOKEN_SCOPE: values.scope,
          TD_TOKEN_PROFILE: values.profile,
          TD_TOKEN_STORE: values.store,
          TD_TOKEN_STORE_URL: values['store-url'],
        },
      ),
    );
    for (const c of [byFlag, byEnv]) {
      expect(c).toMatchObject({
        provider: 'generic',
        protocol: 'generic',
        clientId: 'id',
        clientSecret: 'secret',
        redirectUri: 'https://app.example/cb',
        authorizeUrl: 'https://idp.example/authorize',
        tokenUrl: 'https://idp.example/token',
        apiUrl: 'https://api.example',
        scope: 'read write',
        profile: 'p1',
        store: { kind: 'sqlite', path: join(cwd, 'db', 'tokens.db'), profile: 'p1' },
      });
    }
    expect(Object.values(byFlag.sources).every((s) => s?.kind !== 'env')).toBe(true);
    expect(byEnv.sources.scope).toEqual({ kind: 'env', name: 'TD_TOKEN_SCOPE' });
  });

  it('TD_TOKEN_FILE, from the environment and from .env', async () => {
    const env = await resolveConfig(input({}, { TD_TOKEN_FILE: 'output/token.json' }));
    expect(env.store).toEqual({ kind: 'file', path: join(cwd, 'output', 'token.json') });
    expect(env.sources.storeUrl).toEqual({ kind: 'env', name: 'TD_TOKEN_FILE' });
    await dotenv('TD_TOKEN_FILE=/abs/token.json\n');
    const fromDotenv = await resolveConfig(input());
    expect(fromDotenv.store).toEqual({ kind: 'file', path: '/abs/token.json' });
  });
});

describe('the config file and profiles', () => {
  it("a profile's section overrides the top-level defaults, which fill the rest", async () => {
    await configFile({
      provider: 'schwab',
      clientId: 'SHARED',
      clientSecret: 'SHARED_SECRET',
      profiles: {
        work: { clientId: 'WORK', tokenFile: 'work-token.json' },
        td: { provider: 'tdameritrade', clientId: 'TDKEY' },
      },
    });
    const base = await resolveConfig(input());
    expect(base).toMatchObject({ profile: 'default', provider: 'schwab', clientId: 'SHARED' });
    expect(base.store).toEqual({ kind: 'file', path: join(configDir, 'tokens', 'default.json') });

    const work = await resolveConfig(input({ profile: 'work' }));
    expect(work).toMatchObject({
      profile: 'work',
      provider: 'schwab',
      clientId: 'WORK',
      clientSecret: 'SHARED_SECRET',
    });
    // Relative paths in the config file are relative to the config folder.
    expect(work.store).toEqual({ kind: 'file', path: join(configDir, 'work-token.json') });
    expect(work.sources.clientId?.name).toBe(
      `${join(configDir, 'config.json')}: profiles.work.clientId`,
    );

    const td = await resolveConfig(input({}, { TD_TOKEN_PROFILE: 'td' }));
    expect(td).toMatchObject({ profile: 'td', provider: 'tdameritrade', clientId: 'TDKEY' });
    expect(td.sources.profile).toEqual({ kind: 'env', name: 'TD_TOKEN_PROFILE' });
  });

  it('a top-level "profile" picks the default profile; flags still win', async () => {
    await configFile({ profile: 'main', profiles: { main: { clientId: 'MAIN' } } });
    const c = await resolveConfig(input());
    expect(c.profile).toBe('main');
    expect(c.clientId).toBe('MAIN');
    expect(c.store).toEqual({ kind: 'file', path: join(configDir, 'tokens', 'main.json') });
    expect((await resolveConfig(input({ profile: 'other' }))).profile).toBe('other');
  });

  it('unknown settings are warnings; wrong types and bad JSON are errors naming the file', async () => {
    await configFile({ clientID: 'typo', clientId: 'K' });
    const c = await resolveConfig(input());
    expect(c.warnings).toEqual([expect.stringContaining('ignoring unknown setting "clientID"')]);
    await configFile({ clientId: 42 });
    const typed = await configError(resolveConfig(input()));
    expect(typed.message).toBe(
      `${join(configDir, 'config.json')}: "clientId" must be a non-empty string. fix the value or remove the setting`,
    );
    await writeFile(join(configDir, 'config.json'), '{"clientId": ');
    const bad = await configError(resolveConfig(input()));
    expect(bad.message).toMatch(
      /^the config file .*config\.json is not valid JSON .*fix it or remove it$/,
    );
  });
});

describe('seed-era names', () => {
  it('CONSUMER_KEY is the client id and means TD Ameritrade; CALLBACK_URL is the redirect URI', async () => {
    await dotenv('CONSUMER_KEY="MYKEY"\nCALLBACK_URL=https://localhost:8080\n');
    const c = await resolveConfig(input());
    expect(c).toMatchObject({
      provider: 'tdameritrade',
      clientId: 'MYKEY',
      redirectUri: 'https://localhost:8080',
    });
    expect(c.sources.clientId).toEqual({ kind: 'dotenv', name: '.env: CONSUMER_KEY' });
    expect(c.sources.redirectUri).toEqual({ kind: 'dotenv', name: '.env: CALLBACK_URL' });
    expect(c.sources.provider?.name).toContain('CONSUMER_KEY');
  });

  it('TD_TOKEN_CLIENT_ID wins over CONSUMER_KEY in the same source; an explicit provider wins over the TD guess', async () => {
    const c = await resolveConfig(
      input(
        {},
        {
          TD_TOKEN_CLIENT_ID: 'NEW',
          CONSUMER_KEY: 'OLD',
          TD_TOKEN_REDIRECT_URI: 'https://127.0.0.1:9000',
          CALLBACK_URL: 'https://localhost:1',
        },
      ),
    );
    expect(c.clientId).toBe('NEW');
    expect(c.redirectUri).toBe('https://127.0.0.1:9000');
    const schwab = await resolveConfig(
      input({ provider: 'schwab' }, { CONSUMER_KEY: 'K', TD_TOKEN_CLIENT_SECRET: 'S' }),
    );
    expect(schwab.provider).toBe('schwab');
  });

  it('TD_STORE_TOKENS=false (any case) means the memory store; true keeps the default', async () => {
    for (const value of ['false', 'False', 'FALSE', '0', 'no']) {
      const c = await resolveConfig(input({}, { TD_STORE_TOKENS: value }));
      expect(c.store).toEqual({ kind: 'memory' });
      expect(c.sources.store).toEqual({ kind: 'env', name: 'TD_STORE_TOKENS' });
    }
    expect((await resolveConfig(input({}, { TD_STORE_TOKENS: 'True' }))).store.kind).toBe('file');
    await dotenv('TD_STORE_TOKENS=False\n');
    expect((await resolveConfig(input())).store).toEqual({ kind: 'memory' });
    // TD_TOKEN_STORE is the current name and wins in the same source.
    expect(
      (await resolveConfig(input({}, { TD_STORE_TOKENS: 'false', TD_TOKEN_STORE: 'file' }))).store
        .kind,
    ).toBe('file');
    const err = await configError(resolveConfig(input({}, { TD_STORE_TOKENS: 'maybe' })));
    expect(err.message).toBe(
      'the environment variable TD_STORE_TOKENS is "maybe", which is neither true nor false. set it to false to keep tokens in memory only, or remove it',
    );
  });
});

describe('the store', () => {
  it('--store with and without --store-url', async () => {
    expect((await resolveConfig(input({ store: 'sqlite' }))).store).toEqual({
      kind: 'sqlite',
      path: join(configDir, 'tokens.db'),
      profile: 'default',
    });
    expect((await resolveConfig(input({ store: 'file', 'store-url': 'a.json' }))).store).toEqual({
      kind: 'file',
      path: join(cwd, 'a.json'),
    });
    expect(
      (
        await resolveConfig(
          input({ store: 'redis', 'store-url': 'redis://127.0.0.1:6390/2', profile: 'bot' }),
        )
      ).store,
    ).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6390/2', profile: 'bot' });
    expect((await resolveConfig(input({ store: 'MEMORY' }))).store).toEqual({ kind: 'memory' });
  });

  it('redis needs a redis:// URL', async () => {
    expect((await configError(resolveConfig(input({ store: 'redis' })))).message).toMatch(
      /^the redis store needs a server URL\. give it with --store-url/,
    );
    expect(
      (await configError(resolveConfig(input({ store: 'redis', 'store-url': 'http://x' }))))
        .message,
    ).toBe(
      '--store-url is not a redis:// or rediss:// URL. give the Redis address, like redis://127.0.0.1:6379/0',
    );
  });

  it('--token-file is short for the file store; against another --store the higher source wins', async () => {
    const flag = await resolveConfig(
      input({ 'token-file': 't.json' }, { TD_TOKEN_STORE: 'sqlite' }),
    );
    expect(flag.store).toEqual({ kind: 'file', path: join(cwd, 't.json') });
    const env = await resolveConfig(input({ store: 'memory' }, { TD_TOKEN_FILE: 't.json' }));
    expect(env.store).toEqual({ kind: 'memory' });
    const clash = await configError(
      resolveConfig(input({ 'token-file': 't.json', store: 'sqlite' })),
    );
    expect(clash.message).toBe(
      '--token-file asks for a token file but --store asks for the sqlite store. --token-file is short for --store file --store-url PATH: drop one of them',
    );
  });
});

describe('bad values name the flag or variable and the fix', () => {
  it.each([
    [
      { provider: 'etrade' },
      {},
      /^--provider is "etrade", which is not a provider td-token knows\. use one of tdameritrade, schwab, generic, sandbox-tdameritrade, sandbox-schwab$/,
    ],
    [
      {},
      { TD_TOKEN_PROVIDER: 'etrade' },
      /^the environment variable TD_TOKEN_PROVIDER is "etrade"/,
    ],
    [
      { profile: '../etc' },
      {},
      /^--profile is "\.\.\/etc", which is not a usable profile name\. use letters/,
    ],
    [
      { 'client-id': 'KEY', 'token-url': 'http://api.example.com/token' },
      {},
      /^--token-url uses plain http:\/\/ for api\.example\.com, which is not this machine\. use https:\/\//,
    ],
    [
      {},
      { CONSUMER_KEY: 'K', TD_TOKEN_AUTHORIZE_URL: 'not a url' },
      /^the environment variable TD_TOKEN_AUTHORIZE_URL is not a URL/,
    ],
    [{ 'client-id': 'A B' }, {}, /^--client-id contains white space/],
    [
      { provider: 'schwab', 'client-id': 'K' },
      {},
      /^no client secret is configured for schwab: .*set --client-secret, TD_TOKEN_CLIENT_SECRET/,
    ],
    [
      { provider: 'tdameritrade' },
      {},
      /^no client id is configured for tdameritrade\. set --client-id, TD_TOKEN_CLIENT_ID \(or CONSUMER_KEY in \.env\)/,
    ],
    [
      { provider: 'generic', 'client-id': 'K', 'redirect-uri': 'https://a.example/cb' },
      {},
      /^the generic provider needs both endpoints/,
    ],
    [{ 'client-id': '' }, {}, /^--client-id is empty/],
  ] as const)('%o %o', async (flags, env, message) => {
    const err = await configError(resolveConfig(input({ ...flags }, { ...env })));
    expect(err.message).toMatch(message);
    expect(err.code).toBe('invalid_config');
  });

  it('plain http is fine for this machine (a local sandbox)', async () => {
    const c = await resolveConfig(
      input({
        'client-id': 'K',
        'token-url': 'http://127.0.0.1:4000/token',
        'api-url': 'http://localhost:4000',
      }),
    );
    expect(c.tokenUrl).toBe('http://127.0.0.1:4000/token');
  });

  it('rejects a missing input with a TypeError naming the parameter', async () => {
    await expect(resolveConfig(undefined as unknown as ConfigInput)).rejects.toThrow(
      new TypeError('"input" must be an object'),
    );
    await expect(resolveConfig({ flags: {}, env: {}, cwd: '' })).rejects.toThrow(
      new TypeError('"input.cwd" must be a string'),
    );
  });
});
