/**
 * Property-based tests (fast-check) of everything that parses input from outside td-token:
 * callback URLs, token endpoint answers, error bodies, token files (plain and encrypted), and
 * configuration and `.env` files. For every input, the parser either returns a well-formed
 * result or throws one of td-token's own errors, never anything else; and no error message
 * carries a secret planted in the input.
 *
 * The number of inputs tried per property is printed at the end
 * (`properties: ... inputs tried`); docs/security.md quotes it.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import { CallbackError, ConfigError, StoreError, TdTokenError } from '../../src/errors.js';
import {
  parseCallbackUrl,
  processAuthorizationCodeResponse,
  processRefreshTokenResponse,
} from '../../src/oauth/index.js';
import { createProvider } from '../../src/providers/index.js';
import type { ErrorAnswer, Provider } from '../../src/providers/types.js';
import { createEncryptingCodec, createKeyFile } from '../../src/stores/crypto.js';
import {
  parseTokenRecord,
  SEED_FIELDS,
  serializeTokenRecord,
  type TokenRecord,
  validateTokenRecord,
} from '../../src/token.js';

/** Inputs tried per property, for the summary line. */
const tried = new Map<string, number>();

/**
 * The inputs' seed. `npm test` uses a fixed one, so that a run is repeatable and CI does not pass
 * or fail by the draw; `npm run test:soak` (TD_TOKEN_SOAK=1) draws a new one each run, to explore
 * (a failure prints its seed: rerun with TD_TOKEN_FC_SEED=<seed> to see it again, then keep the
 * counterexample as a unit test).
 */
const SEED =
  process.env['TD_TOKEN_FC_SEED'] !== undefined
    ? Number(process.env['TD_TOKEN_FC_SEED'])
    : process.env['TD_TOKEN_SOAK']
      ? Math.floor(Math.random() * 2 ** 31)
      : 20_261_202;

/** Run a property and count its inputs. */
async function check<T>(
  name: string,
  numRuns: number,
  property: fc.IAsyncPropertyWithHooks<[T]> | fc.IPropertyWithHooks<[T]>,
): Promise<void> {
  let count = 0;
  const counted = property.beforeEach((previous) => {
    count++;
    return previous();
  }) as typeof property;
  await fc.assert(counted, { numRuns, seed: SEED });
  tried.set(name, (tried.get(name) ?? 0) + count);
}

afterAll(() => {
  const total = [...tried.values()].reduce((a, b) => a + b, 0);
  const parts = [...tried.entries()].map(([name, n]) => `${name} ${n}`).join(', ');
  process.stdout.write(`properties: ${total} inputs tried (${parts}), seed ${SEED}\n`);
});

// ---- shared arbitraries ---------------------------------------------------------------------

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * A secret shaped like a real token or code: 24 to 120 characters of base64 or base64url with
 * at least one of `@ / + =` (as every TD and Schwab token and code has), or a JWT-like string
 * longer than 64 characters. (A provider's `error` member made only of letters, digits and
 * `_ . -`, at most 64 characters, reads as an OAuth error code and is shown as such.)
 */
const secret: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(
      fc.string({ unit: fc.constantFrom(...B64), minLength: 24, maxLength: 120 }),
      fc.constantFrom('@', '/', '+', '='),
      fc.nat(),
    )
    .map(([body, mark, at]) => {
      const i = at % (body.length + 1);
      return `${body.slice(0, i)}${mark}${body.slice(i)}`;
    }),
  fc
    .array(fc.string({ unit: fc.constantFrom(...B64URL), minLength: 30, maxLength: 60 }), {
      minLength: 3,
      maxLength: 3,
    })
    .map((parts) => parts.join('.')),
);

/** Any text at all: printable, any code point, lone surrogates, control characters. */
const anyText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({
    unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    maxLength: 100,
  }),
);

function expectNoSecret(message: string, planted: string): void {
  if (message.includes(planted)) {
    throw new Error(
      `the message holds the planted secret: ${message.split(planted).join('<SECRET>')}`,
    );
  }
  // Not even a 24-character part of it.
  for (let i = 0; i + 24 <= planted.length; i += 4) {
    if (message.includes(planted.slice(i, i + 24))) {
      throw new Error(`the message holds part of the planted secret`);
    }
  }
}

// ---- callback URLs --------------------------------------------------------------------------

describe('parseCallbackUrl', () => {
  const states = fc.option(fc.string({ maxLength: 40 }), { nil: undefined });

  it('arbitrary text: a result with a code, or a CallbackError; nothing else', async () => {
    const input = fc.oneof(
      anyText,
      anyText.map((t) => `https://127.0.0.1:8182/?${t}`),
      anyText.map((t) => `?code=${t}&state=${t}`),
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
    );
    await check(
      'callback: arbitrary text',
      2000,
      fc.property(fc.tuple(input, states), ([text, state]) => {
        try {
          const result = parseCallbackUrl(text, state);
          expect(typeof result.code).toBe('string');
          expect(result.code.length).toBeGreaterThan(0);
          if (state !== undefined) expect(result.state).toBe(state);
        } catch (err) {
          if (!(err instanceof CallbackError)) throw err;
        }
      }),
    );
  });

  /** Codes with everything that must survive one decoding: @ / + = % & # ? space, unicode. */
  const code = fc.string({
    unit: fc.oneof(
      fc.constantFrom(...B64, '@', '/', '+', '=', '%', '&', '#', '?', ' ', '.', '~', '"', "'"),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
    ),
    minLength: 1,
    maxLength: 160,
  });
  const encoding = fc.constantFrom('upper', 'lower');
  const encode = (value: string, how: string) => {
    const e = encodeURIComponent(value);
    return how === 'lower' ? e.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()) : e;
  };
  const callback = fc.record({
    code,
    state: fc.string({ minLength: 1, maxLength: 40 }),
    how: encoding,
    host: fc.constantFrom(
      'https://127.0.0.1:8182/',
      'https://localhost:8000',
      'http://127.0.0.1:9/cb',
    ),
    extras: fc.array(
      fc.tuple(
        fc.constantFrom('session', 'scope', 'x', 'code_x', 'iss'),
        fc.string({ maxLength: 20 }),
      ),
      { maxLength: 3 },
    ),
    order: fc.nat(),
    wrap: fc.constantFrom('', ' ', '"', "'", '<', '`', '\n'),
    asUrl: fc.boolean(),
  });

  it('structured callbacks: the code comes back decoded exactly once, whatever it holds', async () => {
    await check(
      'callback: structured',
      2000,
      fc.property(callback, (c) => {
        const params = [
          `code=${encode(c.code, c.how)}`,
          `state=${encode(c.state, c.how)}`,
          ...c.extras.map(([k, v]) => `${k}=${encode(v, c.how)}`),
        ];
        const i = c.order % params.length;
        const [first] = params.splice(i, 1);
        params.unshift(first as string);
        const text = `${c.host}?${params.join('&')}`;
        const close = c.wrap === '<' ? '>' : c.wrap;
        const input = c.asUrl ? new URL(text) : `${c.wrap}${text}${close}`;
        const result = parseCallbackUrl(input, c.state);
        expect(result).toEqual({ code: c.code, state: c.state });
        // Encoded twice, it is decoded once: the once-encoded form comes back, not the code.
        const twice = parseCallbackUrl(
          `${c.host}?state=${encode(c.state, c.how)}&code=${encode(encode(c.code, c.how), c.how)}`,
          c.state,
        );
        expect(twice.code).toBe(encode(c.code, c.how));
      }),
    );
  });

  it('a callback whose state is not this login is state_mismatch, whatever the code', async () => {
    await check(
      'callback: foreign state',
      500,
      fc.property(fc.tuple(callback, fc.string({ minLength: 1, maxLength: 40 })), ([c, other]) => {
        fc.pre(other !== c.state);
        const text = `${c.host}?code=${encode(c.code, c.how)}&state=${encode(c.state, c.how)}`;
        try {
          parseCallbackUrl(text, other);
        } catch (err) {
          expect(err).toBeInstanceOf(CallbackError);
          expect((err as CallbackError).code).toBe('state_mismatch');
          expectNoSecret(
            (err as Error).message,
            c.code.length >= 24 ? c.code : '\u0000'.repeat(24),
          );
          return;
        }
        throw new Error('a foreign state was accepted');
      }),
    );
  });
});

// ---- token endpoint answers -----------------------------------------------------------------

function providers(): Provider[] {
  const common = {
    redirectUri: 'https://127.0.0.1:8182',
    authorizeUrl: 'https://127.0.0.1:1/authorize',
    tokenUrl: 'https://127.0.0.1:1/token',
    apiUrl: 'https://127.0.0.1:1',
  };
  return [
    createProvider('tdameritrade', {
      ...common,
      redirectUri: 'https://localhost:8000',
      clientId: 'KEY',
    }),
    createProvider('schwab', { ...common, clientId: 'APPKEY', clientSecret: 'SECRET' }),
    createProvider('generic', { ...common, clientId: 'client', clientSecret: 'cs' }),
  ];
}

const PREVIOUS: TokenRecord = {
  access_token: 'previous-access',
  expires_at: 1_700_000_000_000,
  refresh_token: 'previous-refresh',
  refresh_token_expires_at: 1_700_600_000_000,
  scope: 'api',
  token_type: 'Bearer',
};

/** A value of any JSON type, or a secret. */
const member = (planted: string) =>
  fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constant(planted),
    fc.integer().map(String),
    fc.constantFrom(0, -1, 1800, 1e308, Number.NaN, '1800', '0', 'Bearer', 'bearer', 'MAC', ''),
  );

/** A token endpoint body: a token-like object with members of any type, any JSON, any text. */
const tokenBody = (planted: string): fc.Arbitrary<string | Uint8Array> =>
  fc.oneof(
    fc
      .record(
        {
          access_token: member(planted),
          refresh_token: member(planted),
          expires_in: member(planted),
          refresh_token_expires_in: member(planted),
          token_type: member(planted),
          scope: member(planted),
          id_token: member(planted),
          error: member(planted),
          error_description: member(planted),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
    fc.json({ maxDepth: 3 }),
    anyText,
    fc.uint8Array({ maxLength: 200 }),
    fc.constant(`<html><body>${planted}</body></html>`),
  );

/** Statuses a Response can carry a body with. */
const status = fc.oneof(
  fc.constant(200),
  fc.constantFrom(201, 400, 401, 403, 404, 429, 500, 502, 503),
  fc.integer({ min: 200, max: 599 }).filter((s) => s !== 204 && s !== 205 && s !== 304),
);

const headers = (planted: string) =>
  fc.dictionary(
    fc.constantFrom('content-type', 'retry-after', 'date', 'www-authenticate', 'location', 'x-any'),
    fc.oneof(
      fc.constantFrom('application/json', 'text/html', 'text/plain', '5', '-1', 'soon'),
      fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()),
      fc.constant(`Bearer error="invalid_token", error_description="${planted}"`),
      fc.string({ unit: fc.constantFrom(...B64), maxLength: 40 }),
    ),
    { maxKeys: 3 },
  );

describe('token endpoint answers', () => {
  const all = providers();
  const answer = fc
    .tuple(secret, fc.nat({ max: all.length - 1 }), status)
    .chain(([planted, which, s]) =>
      fc.record({
        planted: fc.constant(planted),
        which: fc.constant(which),
        status: fc.constant(s),
        body: tokenBody(planted),
        headers: headers(planted),
        grant: fc.constantFrom('authorization_code', 'refresh_token'),
      }),
    );

  it('a valid record or a TdTokenError whose message holds no planted secret', async () => {
    await check(
      'token answers',
      2000,
      fc.asyncProperty(answer, async (a) => {
        const provider = all[a.which] as Provider;
        const response = new Response(a.body, { status: a.status, headers: a.headers });
        try {
          const record =
            a.grant === 'authorization_code'
              ? await processAuthorizationCodeResponse(provider, response, { receivedAt: 1e12 })
              : await processRefreshTokenResponse(provider, response, {
                  receivedAt: 1e12,
                  previous: PREVIOUS,
                });
          validateTokenRecord(record, 'the result');
          expect(a.status).toBeGreaterThanOrEqual(200);
          expect(a.status).toBeLessThan(300);
          expect(record.expires_at).toBeGreaterThan(1e12);
        } catch (err) {
          if (!(err instanceof TdTokenError)) throw err;
          expectNoSecret(err.message, a.planted);
          expectNoSecret(String(err.stack), a.planted);
          expect(JSON.stringify(err)).not.toContain(a.planted);
        }
      }),
    );
  });
});

// ---- error bodies ---------------------------------------------------------------------------

describe('provider.tokenError and provider.apiError', () => {
  const all = providers();
  /** Error bodies as providers send them, and worse, each with the planted secret somewhere. */
  const errorBody = (planted: string): fc.Arbitrary<string> =>
    fc.oneof(
      fc
        .record(
          {
            error: fc.oneof(
              fc.constantFrom(
                'invalid_grant',
                'invalid_client',
                'unsupported_token_type',
                'invalid_request',
                'access_denied',
                'The access token being passed has expired or is invalid.',
              ),
              fc.constant(planted),
              fc.jsonValue({ maxDepth: 1 }),
            ),
            error_description: fc.oneof(
              fc.constant(planted),
              fc.constant(
                `400 Bad Request: "{\\"error_description\\":\\"Exception while authenticating refresh token [${planted}]\\",\\"error\\":\\"refresh_token_authentication_error\\"}"`,
              ),
              fc.constantFrom('refresh token invalid', 'Unauthorized'),
              anyText,
              fc.jsonValue({ maxDepth: 1 }),
            ),
            errors: fc.constant([{ status: 401, title: 'Unauthorized', detail: planted }]),
            refresh_token: fc.constant(planted),
          },
          { requiredKeys: [] },
        )
        .map((o) => JSON.stringify(o)),
      fc.constant(`<html><head><title>Access Denied</title></head><body>${planted}</body></html>`),
      fc.constant(planted),
      anyText.map((t) => `${t} ${planted} ${t}`),
      fc.json({ maxDepth: 3 }),
      fc.constant(''),
    );
  const input = secret.chain((planted) =>
    fc.record({
      planted: fc.constant(planted),
      which: fc.nat({ max: all.length - 1 }),
      status: fc.oneof(
        fc.constantFrom(400, 401, 403, 404, 429, 500, 502, 503),
        fc.integer({ min: -1000, max: 2000 }),
      ),
      body: errorBody(planted),
      headers: headers(planted),
      grant: fc.constantFrom('authorization_code', 'refresh_token'),
      api: fc.boolean(),
    }),
  );

  it('always a TdTokenError, never a throw, and never the body’s secrets in its message', async () => {
    await check(
      'error bodies',
      2000,
      fc.property(input, (a) => {
        const provider = all[a.which] as Provider;
        const answer: ErrorAnswer = {
          status: a.status,
          headers: new Headers(a.headers),
          body: a.body,
        };
        const err = a.api
          ? provider.apiError(answer)
          : provider.tokenError(answer, a.grant as 'authorization_code' | 'refresh_token');
        expect(err).toBeInstanceOf(TdTokenError);
        expect(typeof err.code).toBe('string');
        expectNoSecret(err.message, a.planted);
        expect(JSON.stringify(err)).not.toContain(a.planted);
        if (err.retryAfterMs !== undefined) {
          expect(Number.isFinite(err.retryAfterMs)).toBe(true);
          expect(err.retryAfterMs).toBeGreaterThanOrEqual(0);
        }
      }),
    );
  });
});

// ---- token files ----------------------------------------------------------------------------

const validRecord: fc.Arbitrary<TokenRecord> = fc
  .record(
    {
      access_token: secret,
      expires_at: fc.integer({ min: 0, max: 4e12 }),
      refresh_token: secret,
      refresh_token_expires_at: fc.integer({ min: 0, max: 4e12 }),
      scope: fc.string({ maxLength: 30 }),
      token_type: fc.constant('Bearer'),
      provider: fc.constantFrom('tdameritrade', 'schwab', 'generic'),
      issued_at: fc.integer({ min: 0, max: 4e12 }),
      version: fc.constant(1),
    },
    {
      requiredKeys: [...SEED_FIELDS],
    },
  )
  .map((r) => r as TokenRecord);

/** Edits to a text: cut, insert, replace, truncate, duplicate. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    op: fc.constant('cut' as const),
    at: fc.nat(),
    len: fc.integer({ min: 1, max: 40 }),
  }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: anyText }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('flip' as const),
    at: fc.nat(),
    ch: fc.constantFrom('"', '{', '}', ',', ':', '0', 'x', '\\', '\u0000', ' ', '\n', ']'),
  }),
);

interface Mutation {
  op: 'cut' | 'insert' | 'truncate' | 'flip';
  at: number;
  len?: number;
  text?: string;
  ch?: string;
}

function mutate(text: string, edits: readonly Mutation[]): string {
  let out = text;
  for (const e of edits) {
    const at = out.length === 0 ? 0 : e.at % (out.length + 1);
    if (e.op === 'cut') out = out.slice(0, at) + out.slice(at + (e.len ?? 1));
    else if (e.op === 'insert') out = out.slice(0, at) + (e.text ?? '') + out.slice(at);
    else if (e.op === 'truncate') out = out.slice(0, at);
    else out = out.slice(0, at) + (e.ch ?? '') + out.slice(at + 1);
  }
  return out;
}

/** A valid record with one member replaced by a value of any type, or removed. */
const retyped = fc
  .tuple(
    validRecord,
    fc.constantFrom(...SEED_FIELDS, 'provider', 'issued_at', 'version', '__proto__', 'constructor'),
    fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
  )
  .map(([r, key, value]) => {
    const text = serializeTokenRecord(r);
    const obj = JSON.parse(text) as Record<string, unknown>;
    if (value === undefined) delete obj[key];
    else obj[key] = value;
    return { record: r, text: JSON.stringify(obj) };
  });

function isRecordOrFileError(run: () => TokenRecord, planted: TokenRecord | undefined): void {
  try {
    const record = run();
    validateTokenRecord(record, 'the result');
    expect(typeof record.access_token).toBe('string');
  } catch (err) {
    if (!(err instanceof StoreError) || err.code !== 'invalid_token_file') throw err;
    if (planted) {
      expectNoSecret(err.message, planted.access_token);
      expectNoSecret(err.message, planted.refresh_token);
    }
  }
}

describe('parseTokenRecord', () => {
  it('arbitrary text: a record or invalid_token_file', async () => {
    await check(
      'token files: arbitrary text',
      1000,
      fc.property(fc.oneof(anyText, fc.json({ maxDepth: 3 })), (text) => {
        isRecordOrFileError(() => parseTokenRecord(text, '/tmp/token.json'), undefined);
      }),
    );
  });

  it('mutated and retyped valid records: a record or invalid_token_file, never a token in the message', async () => {
    await check(
      'token files: mutated records',
      1500,
      fc.property(
        fc.oneof(
          fc
            .tuple(validRecord, fc.array(mutation, { minLength: 1, maxLength: 4 }))
            .map(([record, edits]) => ({
              record,
              text: mutate(serializeTokenRecord(record), edits),
            })),
          retyped,
        ),
        ({ record, text }) => {
          isRecordOrFileError(() => parseTokenRecord(text, '/tmp/token.json'), record);
        },
      ),
    );
  });

  describe('encrypted records', () => {
    let dir: string;
    let keyFile: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'td-token-prop-'));
      keyFile = join(dir, 'token.key');
      await createKeyFile(keyFile);
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('mutated envelopes: the record, or decrypt_failed / invalid_token_file', async () => {
      const codec = createEncryptingCodec({ keyFile }, { onWarning: () => undefined });
      const envelopes = new Map<TokenRecord, string>();
      await check(
        'token files: mutated envelopes',
        1000,
        fc.asyncProperty(
          fc.tuple(
            validRecord,
            fc.array(mutation, { minLength: 0, maxLength: 3 }),
            fc.option(
              fc.tuple(
                fc.constantFrom(
                  'td_token_encrypted',
                  'alg',
                  'kdf',
                  'n',
                  'r',
                  'p',
                  'salt',
                  'iv',
                  'tag',
                  'ciphertext',
                ),
                fc.jsonValue({ maxDepth: 1 }),
              ),
              { nil: undefined },
            ),
          ),
          async ([record, edits, replace]) => {
            let stored = envelopes.get(record);
            if (stored === undefined) {
              stored = await codec.encode(serializeTokenRecord(record));
              envelopes.set(record, stored);
            }
            if (replace !== undefined) {
              const obj = JSON.parse(stored) as Record<string, unknown>;
              obj[replace[0]] = replace[1];
              // scrypt with the codec's key file kdf would not be asked; keep the cost small if
              // a mutation turns it into a scrypt envelope.
              if (obj['kdf'] === 'scrypt') Object.assign(obj, { n: 2, r: 1, p: 1 });
              stored = JSON.stringify(obj);
            }
            const text = mutate(stored, edits);
            try {
              const plain = await codec.decode(text, '/tmp/token.json');
              const result = parseTokenRecord(plain, '/tmp/token.json');
              validateTokenRecord(result, 'the result');
              if (edits.length === 0 && replace === undefined) expect(result).toEqual(record);
            } catch (err) {
              if (
                !(err instanceof StoreError) ||
                !['invalid_token_file', 'decrypt_failed'].includes(err.code)
              ) {
                throw err;
              }
              expectNoSecret(err.message, record.access_token);
              expectNoSecret(err.message, record.refresh_token);
            }
          },
        ),
      );
    });
  });
});

// ---- configuration and .env files -----------------------------------------------------------

describe('resolveConfig over arbitrary .env and config.json files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'td-token-prop-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const ENV_KEYS = [
    'TD_TOKEN_PROVIDER',
    'TD_TOKEN_CLIENT_ID',
    'CONSUMER_KEY',
    'TD_TOKEN_CLIENT_SECRET',
    'TD_TOKEN_REDIRECT_URI',
    'CALLBACK_URL',
    'TD_TOKEN_AUTHORIZE_URL',
    'TD_TOKEN_TOKEN_URL',
    'TD_TOKEN_API_URL',
    'TD_TOKEN_SCOPE',
    'TD_TOKEN_PROFILE',
    'TD_TOKEN_STORE',
    'TD_STORE_TOKENS',
    'TD_TOKEN_STORE_URL',
    'TD_TOKEN_FILE',
    'TD_TOKEN_KEY_FILE',
    'TD_TOKEN_PASSPHRASE',
    'TD_TOKEN_PASSPHRASE_FILE',
  ];
  const FILE_KEYS = [
    'provider',
    'clientId',
    'clientSecret',
    'redirectUri',
    'authorizeUrl',
    'tokenUrl',
    'apiUrl',
    'scope',
    'store',
    'storeUrl',
    'tokenFile',
    'encryptionKeyFile',
    'passphraseFile',
    'profile',
    'profiles',
    '$schema',
    'clientID',
  ];
  const value = fc.oneof(
    fc.constantFrom(
      'schwab',
      'tdameritrade',
      'generic',
      'sandbox-schwab',
      'sandbox-tdameritrade',
      'sqlite',
      'redis',
      'memory',
      'file',
      'false',
      'true',
      'redis://127.0.0.1:6379',
      'https://127.0.0.1:8182',
      'http://example.com/',
      'https://localhost:8000/cb',
      'ftp://x',
      'work',
      '../../etc',
      '~/token.json',
      'file:///tmp/x.db',
      'file://host/x',
      'pass.txt',
      'missing.txt',
      '',
      ' ',
    ),
    fc.string({ maxLength: 30 }),
    anyText,
  );
  const dotenvLine = fc.oneof(
    fc
      .tuple(fc.constantFrom(...ENV_KEYS), value, fc.constantFrom('', '"', "'", '`'))
      .map(([k, v, q]) => `${k}=${q}${v}${q}`),
    fc.tuple(fc.constantFrom(...ENV_KEYS), value).map(([k, v]) => `export ${k} = ${v} # note`),
    anyText,
  );
  const dotenv = fc.oneof(
    fc.array(dotenvLine, { maxLength: 8 }).map((lines) => lines.join('\n')),
    anyText,
    fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b).toString('latin1')),
  );
  const section = fc.dictionary(
    fc.constantFrom(...FILE_KEYS),
    fc.oneof(value, fc.jsonValue({ maxDepth: 1 })),
    {
      maxKeys: 5,
    },
  );
  const configJson = fc.oneof(
    fc
      .tuple(
        section,
        fc.option(
          fc.dictionary(
            fc.constantFrom('default', 'work', 'x y', '__proto__', ''),
            fc.oneof(section, fc.jsonValue({ maxDepth: 1 })),
            { maxKeys: 3 },
          ),
          { nil: undefined },
        ),
      )
      .map(([top, profiles]) =>
        JSON.stringify(profiles === undefined ? top : { ...top, profiles }),
      ),
    fc.json({ maxDepth: 3 }),
    anyText,
  );
  const envVars = fc.dictionary(
    fc.constantFrom(...ENV_KEYS),
    value.filter((v) => !v.includes('\u0000')),
    {
      maxKeys: 4,
    },
  );
  const flags = fc.dictionary(
    fc.constantFrom(
      'provider',
      'client-id',
      'store',
      'store-url',
      'token-file',
      'profile',
      'passphrase-file',
      'encryption-key-file',
    ),
    fc.oneof(value, fc.boolean()),
    { maxKeys: 3 },
  );

  it('a configuration or a ConfigError; nothing else', async () => {
    const cwd = join(dir, 'work');
    const configDir = join(dir, 'config');
    await mkdir(cwd, { recursive: true });
    await mkdir(configDir, { recursive: true });
    await writeFile(join(cwd, 'pass.txt'), 'a passphrase\n', { mode: 0o600 });
    await check(
      'config and .env files',
      1000,
      fc.asyncProperty(
        fc.record({
          dotenv: fc.option(dotenv, { nil: undefined }),
          config: fc.option(configJson, { nil: undefined }),
          env: envVars,
          flags,
        }),
        async (c) => {
          await rm(join(cwd, '.env'), { force: true });
          await rm(join(configDir, 'config.json'), { force: true });
          if (c.dotenv !== undefined) await writeFile(join(cwd, '.env'), c.dotenv);
          if (c.config !== undefined) await writeFile(join(configDir, 'config.json'), c.config);
          try {
            const config = await resolveConfig({
              flags: c.flags,
              env: { HOME: dir, PATH: '/usr/bin', ...c.env },
              cwd,
              configDir,
            });
            expect(typeof config.profile).toBe('string');
            expect(typeof config.clientId).toBe('string');
            expect(['file', 'sqlite', 'redis', 'memory']).toContain(config.store.kind);
          } catch (err) {
            if (!(err instanceof ConfigError)) throw err;
          }
        },
      ),
    );
  });
});
