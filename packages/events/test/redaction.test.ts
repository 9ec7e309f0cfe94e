import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_REDACT_KEYS,
  GatehouseError,
  REDACTED,
  RedactionPatternError,
  SECRET_KINDS,
  canonicalJson,
  createRedactor,
  sha256Hex,
} from '../src/index.js';

const redact = createRedactor();

/** A secret embedded in text, and the parts of it that must never survive redaction. */
interface Embedded {
  kind: string;
  text: string;
  secrets: string[];
}

const chars = (alphabet: string, min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...alphabet.split('')), minLength: min, maxLength: max });
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const B64URL = `${ALNUM}-_`;
const B64 = `${ALNUM}+/`;

// Every secret carries an uppercase letter or digit; the random surroundings below never do, so a
// secret found in the output can only have come from the secret itself.
const secretArbitraries: Record<string, fc.Arbitrary<Embedded>> = {
  bearer: chars(`${ALNUM}-._~+/`, 13, 40).map((t) => {
    const token = `Tk9${t}`;
    return { kind: 'bearer', text: `Authorization: Bearer ${token}`, secrets: [token] };
  }),
  jwt: fc.tuple(chars(B64URL, 8, 30), chars(B64URL, 8, 40), chars(B64URL, 20, 43)).map(([h, p, s]) => {
    const jwt = `eyJ${h}.eyJ${p}.${s}`;
    return { kind: 'jwt', text: jwt, secrets: [jwt] };
  }),
  private_key: fc
    .tuple(
      fc.constantFrom('', 'RSA ', 'EC ', 'OPENSSH ', 'ENCRYPTED '),
      fc.array(chars(B64, 20, 64), { minLength: 1, maxLength: 4 }),
      fc.boolean(),
    )
    .map(([type, body, complete]) => {
      const lines = body.map((line) => `MII${line}`);
      const end = complete ? `\n-----END ${type}PRIVATE KEY-----` : '';
      return {
        kind: 'private_key',
        text: `-----BEGIN ${type}PRIVATE KEY-----\n${lines.join('\n')}${end}`,
        secrets: lines,
      };
    }),
  aws_access_key_id: fc.tuple(fc.constantFrom('AKIA', 'ASIA'), chars(UPPER_DIGITS, 16, 16)).map(([p, r]) => ({
    kind: 'aws_access_key_id',
    text: `${p}${r}`,
    secrets: [`${p}${r}`],
  })),
  aws_secret_access_key: fc
    .tuple(
      fc.constantFrom(
        'aws_secret_access_key=',
        'AWS_SECRET_ACCESS_KEY: ',
        'SecretAccessKey = ',
        '"aws_secret_access_key": "',
      ),
      chars(`${ALNUM}+/`, 38, 38),
    )
    .map(([name, r]) => {
      const value = `W9${r}`;
      return {
        kind: 'aws_secret_access_key',
        text: `${name}${value}${name.endsWith('"') ? '"' : ''}`,
        secrets: [value],
      };
    }),
  github_token: fc
    .oneof(
      fc
        .tuple(fc.constantFrom('ghp_', 'gho_', 'ghs_', 'ghu_'), chars(ALNUM, 34, 34))
        .map(([p, r]) => `${p}G1${r}`),
      chars(`${ALNUM}_`, 59, 59).map((r) => `github_pat_11A${r}`),
    )
    .map((token) => ({ kind: 'github_token', text: token, secrets: [token] })),
  slack_token: fc
    .tuple(fc.constantFrom('b', 'a', 'p', 'r', 's'), chars('0123456789', 10, 13), chars(ALNUM, 10, 24))
    .map(([t, n, r]) => `xox${t}-${n}-${r}`)
    .map((token) => ({ kind: 'slack_token', text: token, secrets: [token] })),
  google_api_key: chars(`${ALNUM}_-`, 35, 35).map((r) => ({
    kind: 'google_api_key',
    text: `AIza${r}`,
    secrets: [`AIza${r}`],
  })),
  stripe_key: fc
    .tuple(fc.constantFrom('sk_live_', 'rk_live_', 'sk_test_'), chars(ALNUM, 24, 40))
    .map(([p, r]) => ({ kind: 'stripe_key', text: `${p}${r}`, secrets: [`${p}${r}`] })),
  url_password: fc
    .tuple(
      fc.constantFrom('https', 'postgres', 'redis', 'mongodb+srv', 'amqp'),
      chars('abcdefgh', 0, 8),
      chars(`${ALNUM}._~!$*+=-`, 5, 20),
      fc.constantFrom('', '/db', ':5432/x?y=1'),
    )
    .map(([scheme, user, p, rest]) => {
      const password = `Pw1${p}`;
      return {
        kind: 'url_password',
        text: `${scheme}://${user}:${password}@db.example.com${rest}`,
        secrets: [password],
      };
    }),
  basic_auth: chars(B64, 12, 40).map((r) => ({
    kind: 'basic_auth',
    text: `authorization: Basic dX${r}==`,
    secrets: [`dX${r}`],
  })),
  secret_assignment: fc
    .tuple(
      fc.constantFrom('password', 'DB_PASSWORD', 'api_key', 'client_secret', 'access_token', 'passphrase'),
      fc.constantFrom('=', ': ', ' = ', 'json'),
      chars(`${ALNUM}!#$%*+,./;=?^_~-`, 5, 20),
    )
    .map(([name, sep, r]) => {
      const value = `Sx1${r}`;
      const text = sep === 'json' ? `{"${name}":"${value}"}` : `${name}${sep}${value}`;
      return { kind: 'secret_assignment', text, secrets: [value] };
    }),
};

/** Text around a secret: lowercase prose and punctuation, never uppercase letters or digits. */
const filler = chars('abcdefghijklmnopqrstuvwxyz ,.;!?()\n', 0, 10);
const anySecret = fc.oneof(...Object.values(secretArbitraries));
/** Random JSON whose strings (and keys) are lowercase prose. */
const base = fc.jsonValue({
  maxDepth: 3,
  stringUnit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz '.split('')),
});
const sensitiveKey = fc.constantFrom(
  'password',
  'Password',
  'db_password',
  'X-Api-Key',
  'apiKey',
  'authorization',
  'client_secret',
  'accessToken',
  'private_key',
  'AWS_SECRET_ACCESS_KEY',
  'Cookie',
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function containers(
  value: Json,
  into: (Json[] | Record<string, Json>)[] = [],
): (Json[] | Record<string, Json>)[] {
  if (value !== null && typeof value === 'object') {
    into.push(value);
    for (const member of Array.isArray(value) ? value : Object.values(value)) containers(member, into);
  }
  return into;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

describe('createRedactor', () => {
  describe('never lets a secret through', () => {
    it.each(Object.keys(secretArbitraries))('detects %s in a string and marks it with its kind', (kind) => {
      fc.assert(
        fc.property(
          secretArbitraries[kind] as fc.Arbitrary<Embedded>,
          filler,
          filler,
          (embedded, pre, post) => {
            const result = redact({ text: `${pre} ${embedded.text} ${post}` });
            const out = JSON.stringify(result.args);
            for (const secret of embedded.secrets) expect(out).not.toContain(secret);
            expect(out).toContain(`[REDACTED:${kind}]`);
            expect(result.redactedPaths).toEqual(['$.text']);
          },
        ),
        { numRuns: 60 },
      );
    });

    it('no listed or detected secret appears anywhere in random nested arguments', () => {
      const placement = fc.record({
        embedded: anySecret,
        pre: filler,
        post: filler,
        where: fc.nat(),
        asKey: fc.boolean(),
      });
      const keyed = fc.record({
        key: sensitiveKey,
        value: chars(ALNUM, 10, 20),
        nested: fc.boolean(),
        where: fc.nat(),
      });
      fc.assert(
        fc.property(
          base,
          fc.array(placement, { minLength: 1, maxLength: 6 }),
          fc.array(keyed, { maxLength: 3 }),
          (generated, placements, keyedValues) => {
            const args = { root: structuredClone(generated) as Json } as Record<string, Json>;
            const targets = containers(args);
            const secrets: string[] = [];
            placements.forEach(({ embedded, pre, post, where, asKey }, i) => {
              const target = targets[where % targets.length] as Json[] | Record<string, Json>;
              const text = `${pre} ${embedded.text} ${post}`;
              secrets.push(...embedded.secrets);
              if (Array.isArray(target)) target.push(asKey ? { [text]: i } : text);
              else if (asKey) target[text] = i;
              else target[`field${i}`] = text;
            });
            keyedValues.forEach(({ key, value, nested, where }) => {
              const target = targets[where % targets.length] as Json[] | Record<string, Json>;
              const secret = `V4l${value}`;
              secrets.push(secret);
              const member = { [key]: nested ? { inner: [secret] } : secret };
              if (Array.isArray(target)) target.push(member);
              else Object.assign(target, member);
            });
            const snapshot = structuredClone(args);

            const result = redact(deepFreeze(args));
            const out = JSON.stringify(result.args);
            for (const secret of secrets) expect(out).not.toContain(secret);
            expect(result.redactedPaths.length).toBeGreaterThan(0);
            expect(result.argsSha256).toBe(sha256Hex(canonicalJson(snapshot)));
            expect(args).toEqual(snapshot);
          },
        ),
        { numRuns: 150 },
      );
    });
  });

  describe('keys', () => {
    it('replaces the whole value of a matched key, case-insensitively, at any depth', () => {
      const result = redact({
        user: 'bob',
        Password: 'hunter2',
        nested: [{ api_key: 'k', headers: { Authorization: 'Basic x', 'X-Request-Id': 'r1' } }],
        credentials: { user: 'a', pass: 'b' },
      });
      expect(result.args).toEqual({
        user: 'bob',
        Password: REDACTED,
        nested: [{ api_key: REDACTED, headers: { Authorization: REDACTED, 'X-Request-Id': 'r1' } }],
        credentials: REDACTED,
      });
      expect(result.redactedPaths).toEqual([
        '$.Password',
        '$.nested[0].api_key',
        '$.nested[0].headers.Authorization',
        '$.credentials',
      ]);
    });

    it('matches globs against the whole key: * any run, ? one character, [..] classes, \\ escapes', () => {
      const r = createRedactor({
        keyPatterns: ['pin', 'otp?', 'x[0-9]', 'lit\\*', 'code_[!a]'],
        detectSecrets: false,
      });
      const { args } = r({
        pin: 1,
        spin: 2,
        PIN: 3,
        otp1: 4,
        otp12: 5,
        x7: 6,
        xa: 7,
        'lit*': 8,
        litx: 9,
        code_b: 10,
        code_a: 11,
      });
      expect(args).toEqual({
        pin: REDACTED,
        spin: 2,
        PIN: REDACTED,
        otp1: REDACTED,
        otp12: 5,
        x7: REDACTED,
        xa: 7,
        'lit*': REDACTED,
        litx: 9,
        code_b: REDACTED,
        code_a: 11,
      });
    });

    it('keyPatterns replaces the defaults; extraKeyPatterns adds to them', () => {
      expect(createRedactor({ keyPatterns: ['ssn'] })({ ssn: 1, password: 'p' }).args).toEqual({
        ssn: REDACTED,
        password: 'p',
      });
      expect(createRedactor({ extraKeyPatterns: ['ssn'] })({ ssn: 1, password: 'p' }).args).toEqual({
        ssn: REDACTED,
        password: REDACTED,
      });
      expect(createRedactor({ keyPatterns: [] })({ password: 'p' }).args).toEqual({ password: 'p' });
    });

    it('the default list covers the usual credential names', () => {
      for (const key of [
        'password',
        'userPassword',
        'api_key',
        'x-api-key',
        'apiKey',
        'access_token',
        'refreshToken',
        'client_secret',
        'authorization',
        'cookie',
        'private_key',
        'aws_credentials',
      ]) {
        expect(redact({ [key]: 'v' }).args, key).toEqual({ [key]: REDACTED });
      }
      expect(DEFAULT_REDACT_KEYS).toContain('*password*');
    });

    it('rejects an invalid glob with GH_ERR_EVENT_REDACTION_PATTERN naming option, index and pattern', () => {
      const cases: [unknown[], RegExp][] = [
        [['ok', '[abc'], /^keyPatterns\[1\] "\[abc": has an unterminated character class/],
        [[''], /^keyPatterns\[0\] "": must not be empty/],
        [['[]'], /empty character class/],
        [['[z-a]'], /reversed range "z-a"/],
        [['trailing\\'], /unfinished escape/],
        [['a\u0000b'], /control character/],
        [[42], /^keyPatterns\[0\] \(number\): must be a string/],
      ];
      for (const [keyPatterns, message] of cases) {
        let error: unknown;
        try {
          createRedactor({ keyPatterns: keyPatterns as string[] });
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(RedactionPatternError);
        expect(error).toBeInstanceOf(GatehouseError);
        expect((error as GatehouseError).code).toBe('GH_ERR_EVENT_REDACTION_PATTERN');
        expect((error as Error).message).toMatch(message);
      }
      expect(() => createRedactor({ extraKeyPatterns: ['[x'] })).toThrow(/^extraKeyPatterns\[0\] "\[x"/);
    });
  });

  describe('detected secrets', () => {
    it('keeps the non-secret parts: scheme, user and host of a URL, the Bearer scheme, assignment names', () => {
      const { args } = redact({
        dsn: 'postgres://app:s3cr3t@db.internal:5432/prod',
        header: 'Authorization: Bearer abcDEF123456789xyz',
        env: 'DB_PASSWORD=hunter22 MODE=prod',
        body: '{"client_secret":"abc123","user":"bob"}',
        aws: 'AKIAIOSFODNN7EXAMPLE / aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      });
      expect(args).toEqual({
        dsn: 'postgres://app:[REDACTED:url_password]@db.internal:5432/prod',
        header: 'Authorization: Bearer [REDACTED:bearer]',
        env: 'DB_PASSWORD=[REDACTED:secret_assignment] MODE=prod',
        body: '{"client_secret":"[REDACTED:secret_assignment]","user":"bob"}',
        aws: '[REDACTED:aws_access_key_id] / aws_secret_access_key=[REDACTED:aws_secret_access_key]',
      });
    });

    it('reports a Bearer JWT as bearer and a bare JWT as jwt', () => {
      const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
      expect(redact([`Bearer ${jwt}`, `token ${jwt} end`]).args).toEqual([
        'Bearer [REDACTED:bearer]',
        'token [REDACTED:jwt] end',
      ]);
    });

    it('redacts a private key block whole, also when its END line is missing', () => {
      const pem = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----';
      expect(redact(`key:\n${pem}\nthanks`).args).toBe('key:\n[REDACTED:private_key]\nthanks');
      expect(redact('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN').args).toBe('[REDACTED:private_key]');
    });

    it('leaves ordinary text alone', () => {
      const text = [
        'the bearer instrument was signed',
        'visit https://example.com:8080/path?q=1',
        'max tokens 512, keyboard shortcuts, monkey business',
        'ticket #42: customer asks about a refund',
      ];
      const result = redact({ text });
      expect(result.args).toEqual({ text });
      expect(result.redactedPaths).toEqual([]);
    });

    it('scans object keys too, and names the redacted key in the path', () => {
      const result = redact({ ghp_G1abcdefghijklmnopqrstuvwxyz01234567: true });
      expect(result.args).toEqual({ '[REDACTED:github_token]': true });
      expect(result.redactedPaths).toEqual(['$["[REDACTED:github_token]"]']);
    });

    it('names a path once even when both its key and its value held secrets', () => {
      const result = redact({ AKIAABCDEFGHIJKLMNOP: 'Bearer abcDEF123456789xyz' });
      expect(result.args).toEqual({ '[REDACTED:aws_access_key_id]': 'Bearer [REDACTED:bearer]' });
      expect(result.redactedPaths).toEqual(['$["[REDACTED:aws_access_key_id]"]']);
    });

    it('detectSecrets: false turns the detectors off but keeps key patterns', () => {
      const r = createRedactor({ detectSecrets: false });
      expect(r({ note: 'Bearer abcDEF123456789xyz', token: 't' }).args).toEqual({
        note: 'Bearer abcDEF123456789xyz',
        token: REDACTED,
      });
    });

    it('secretPatterns adds detectors of its own kind', () => {
      const r = createRedactor({
        secretPatterns: [
          { kind: 'employee_id', pattern: 'EMP-\\d{6}' },
          { kind: 'pin', pattern: /pin \d{4}/i },
        ],
      });
      expect(r({ note: 'EMP-123456 said PIN 1234' }).args).toEqual({
        note: '[REDACTED:employee_id] said [REDACTED:pin]',
      });
    });

    it('rejects invalid secret patterns with GH_ERR_EVENT_REDACTION_PATTERN naming the pattern', () => {
      expect(() => createRedactor({ secretPatterns: [{ kind: 'x', pattern: '(unclosed' }] })).toThrow(
        /^secretPatterns\[0\] "\(unclosed": not a valid regular expression/,
      );
      expect(() => createRedactor({ secretPatterns: [{ kind: 'x', pattern: 'a*' }] })).toThrow(
        /matches the empty string/,
      );
      expect(() => createRedactor({ secretPatterns: [{ kind: 'Bad Kind', pattern: 'a' }] })).toThrow(
        /kind must be/,
      );
      expect(() => createRedactor({ secretPatterns: [{ kind: 'x', pattern: '[' }] })).toThrow(
        expect.objectContaining({ code: 'GH_ERR_EVENT_REDACTION_PATTERN' }),
      );
    });

    it('exports the list of built-in kinds', () => {
      expect([...SECRET_KINDS].sort()).toEqual([...Object.keys(secretArbitraries)].sort());
    });

    it('handles a large base64 blob that mentions a key in linear time (no pathological backtracking)', () => {
      const blob = `key=${'QUJDRA+/'.repeat(32 * 1024)}`;
      const result = redact({ blob });
      expect((result.args as { blob: string }).blob).toBe('key=' + 'QUJDRA+/'.repeat(32 * 1024));
    });
  });

  describe('argsSha256', () => {
    it('is the SHA-256 of the canonical JSON of the arguments before redaction', () => {
      const args = { password: 'hunter2', q: 'Bearer abcDEF123456789xyz' };
      const result = redact(args);
      expect(result.argsSha256).toBe(sha256Hex(canonicalJson(args)));
      expect(result.argsSha256).not.toBe(sha256Hex(canonicalJson(result.args)));
    });

    it('is equal for equal arguments whatever their key order', () => {
      fc.assert(
        fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1 }), (record) => {
          const reversed = Object.fromEntries(Object.entries(record).reverse());
          expect(redact(reversed).argsSha256).toBe(redact(record).argsSha256);
        }),
      );
    });

    it('differs when a secret differs, although both redact to the same output', () => {
      const a = redact({ password: 'one' });
      const b = redact({ password: 'two' });
      expect(a.args).toEqual(b.args);
      expect(a.argsSha256).not.toBe(b.argsSha256);
    });
  });

  describe('the input', () => {
    it('is never mutated and never shared with the output', () => {
      const args = { password: 'p', nested: { list: ['Bearer abcDEF123456789xyz', { token: 1 }] } };
      const before = structuredClone(args);
      const result = redact(deepFreeze(args));
      expect(args).toEqual(before);
      expect(result.args).not.toBe(args);
      expect((result.args as typeof args).nested).not.toBe(args.nested);
    });

    it('keeps a __proto__ key as a plain member', () => {
      const args = JSON.parse('{"__proto__":{"x":1},"a":2}') as unknown;
      const { args: out } = redact(args);
      expect(Object.keys(out as object)).toEqual(['__proto__', 'a']);
      expect(canonicalJson(out)).toBe(canonicalJson(args));
    });

    it('refuses arguments that are not JSON with GH_ERR_EVENT_INVALID', () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const bad of [{ n: Number.NaN }, { n: 1n }, cyclic]) {
        let error: unknown;
        try {
          redact(bad);
        } catch (caught) {
          error = caught;
        }
        expect((error as GatehouseError).code).toBe('GH_ERR_EVENT_INVALID');
      }
    });

    it('passes primitives and null through', () => {
      expect(redact(null)).toMatchObject({ args: null, redactedPaths: [] });
      expect(redact(7).args).toBe(7);
      expect(redact('Bearer abcDEF123456789xyz')).toMatchObject({
        args: 'Bearer [REDACTED:bearer]',
        redactedPaths: ['$'],
      });
    });
  });
});

describe('the default key list', () => {
  it('redacts the short and partial names credentials go by', () => {
    const keys = [
      'auth',
      'pass',
      'passcode',
      'PIN',
      'otp',
      'mfa_code',
      'creds',
      'aws_creds',
      'jwt',
      'bearer',
      'hmac',
      'signing_key',
      'encryption-key',
      'ssh_key',
      'client_key',
      'sessionid',
    ];
    const args = Object.fromEntries(keys.map((key) => [key, 'hunter2hunter2']));
    const { args: redacted } = createRedactor()({ ...args, ticket_id: 'T-1', signature: 'Best, Bob' });
    expect(redacted).toEqual({
      ...Object.fromEntries(keys.map((key) => [key, REDACTED])),
      ticket_id: 'T-1',
      signature: 'Best, Bob',
    });
  });
});

describe('deeply nested arguments', () => {
  it('are refused with GH_ERR_EVENT_INVALID at any depth the encoding or the copy cannot take', () => {
    const redact = createRedactor();
    for (const depth of [2_500, 7_000, 50_000]) {
      let nested: unknown = 'leaf';
      for (let i = 0; i < depth; i++) nested = depth % 2 === 0 ? [nested] : { a: nested };
      let outcome: unknown;
      try {
        redact(nested);
        outcome = 'redacted';
      } catch (error) {
        outcome = (error as GatehouseError).code;
      }
      expect(['redacted', 'GH_ERR_EVENT_INVALID'], `depth ${depth}`).toContain(outcome);
    }
  });
});
