/**
 * Built-in secret detectors: each finds one kind of credential inside a string and replaces the
 * secret part (only that part) with `[REDACTED:<kind>]`. They run in the order listed, so a
 * `Bearer eyJ…` header is reported as `bearer`, not `jwt`; a later detector never re-matches an
 * earlier one's marker.
 *
 * | kind                    | finds                                                              | keeps                  |
 * |-------------------------|--------------------------------------------------------------------|------------------------|
 * | `private_key`           | `-----BEGIN … PRIVATE KEY-----` … `-----END … PRIVATE KEY-----` (to the end of the string if END is missing) | nothing |
 * | `url_password`          | `scheme://user:password@host`                                      | scheme, user, host     |
 * | `basic_auth`            | `Authorization: Basic <base64>`                                    | `Authorization: Basic` |
 * | `bearer`                | `Bearer <token>` (token68, ≥ 8 chars; lowercase prose such as "bearer instruments" is left alone) | `Bearer` |
 * | `jwt`                   | three or more base64url segments, the first starting `eyJ` (at the start of a base64url run) | nothing |
 * | `github_token`          | `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + ≥ 20 alphanumerics, `github_pat_…` | nothing           |
 * | `slack_token`           | `xoxb-`/`xoxa-`/`xoxp-`/`xoxr-`/`xoxs-`/`xoxe-` + ≥ 8 chars           | nothing                |
 * | `google_api_key`        | `AIza` + ≥ 30 chars                                                 | nothing                |
 * | `stripe_key`            | `sk_live_`/`sk_test_`/`rk_live_`/`rk_test_` + ≥ 10 alphanumerics    | nothing                |
 * | `aws_access_key_id`     | `AKIA`/`ASIA`/`ABIA`/`ACCA`/`A3T?` + 16 uppercase alphanumerics     | nothing                |
 * | `aws_secret_access_key` | `aws_secret_access_key = <40 base64 chars>` and spelling variants   | the name and `=`/`:`   |
 * | `secret_assignment`     | `password=…`, `"api_key": "…"`, `client_secret: …`, `access_token=…` (quoted: up to the closing quote; bare: up to whitespace, a quote or `&`) | the name and `=`/`:` |
 */
export const SECRET_KINDS = [
  'private_key',
  'url_password',
  'basic_auth',
  'bearer',
  'jwt',
  'github_token',
  'slack_token',
  'google_api_key',
  'stripe_key',
  'aws_access_key_id',
  'aws_secret_access_key',
  'secret_assignment',
] as const;
export type SecretKind = (typeof SECRET_KINDS)[number];

/** The marker a detected secret is replaced with. */
export function secretMarker(kind: string): string {
  return `[REDACTED:${kind}]`;
}

/** One compiled detector. `replace` gets the match's capture groups and returns the replacement. */
export interface SecretDetector {
  readonly kind: string;
  /** Global regex; must not match the empty string. */
  readonly regex: RegExp;
  /** Returns the replacement for one match, or the match itself to leave it alone. */
  readonly replace: (match: string, groups: readonly (string | undefined)[]) => string;
}

const marker = (kind: SecretKind) => secretMarker(kind);
const whole =
  (kind: SecretKind): SecretDetector['replace'] =>
  () =>
    marker(kind);

// Quantifiers are bounded so that long base64 blobs cannot make a detector quadratic.
// Names whose assigned value is a secret. Deliberately excludes bare `key` and `*tokens` (max_tokens).
const SECRET_NAME = String.raw`[A-Za-z0-9_.-]{0,64}?(?:passw(?:or)?d|passphrase|secret|api[_-]?key|access[_-]?key|private[_-]?key|auth[_-]?key|(?:access|refresh|auth|id|api|session|bearer|oauth|csrf|xsrf)[_-]?token)[A-Za-z0-9_.-]{0,64}|token|pwd`;
const ASSIGN = String.raw`["']?[ \t]*[:=][ \t]*`;

/** The built-in detectors, in the order they run. */
export const BUILTIN_SECRET_DETECTORS: readonly SecretDetector[] = [
  {
    kind: 'private_key',
    regex:
      /-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)/g,
    replace: whole('private_key'),
  },
  {
    kind: 'url_password',
    // Greedy password up to the last `@` of the authority, so an unencoded `@` in it is covered.
    regex: /([A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/)([^\s:/?#@"'<>]{0,256}):([^\s/?#"'<>]{1,256})@/g,
    replace: (match, [scheme, user, password]) =>
      password === undefined || password.startsWith('[REDACTED')
        ? match
        : `${scheme}${user}:${marker('url_password')}@`,
  },
  {
    kind: 'basic_auth',
    regex: /(authorization["']?[ \t]*[:=][ \t]*["']?[ \t]*basic[ \t]+)([A-Za-z0-9+/]+=*)/gi,
    replace: (_match, [prefix]) => `${prefix}${marker('basic_auth')}`,
  },
  {
    kind: 'bearer',
    regex: /(?<![A-Za-z0-9])(bearer)(\s+)([A-Za-z0-9\-._~+/]+=*)/gi,
    replace: (match, [scheme = '', space = '', token = '']) => {
      if (token.length < 8) return match;
      if (scheme === 'bearer' && /^[a-z]+$/.test(token)) return match; // prose, not a header
      return `${scheme}${space}${marker('bearer')}`;
    },
  },
  {
    kind: 'jwt',
    // Starts only where a base64url run starts, so a long run of `eyJ` cannot make it quadratic.
    regex:
      /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}/g,
    replace: whole('jwt'),
  },
  {
    kind: 'github_token',
    regex: /(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g,
    replace: whole('github_token'),
  },
  { kind: 'slack_token', regex: /xox[abeprs]-[A-Za-z0-9-]{8,}/g, replace: whole('slack_token') },
  { kind: 'google_api_key', regex: /AIza[A-Za-z0-9_-]{30,}/g, replace: whole('google_api_key') },
  { kind: 'stripe_key', regex: /[sr]k_(?:live|test)_[A-Za-z0-9]{10,}/g, replace: whole('stripe_key') },
  {
    kind: 'aws_access_key_id',
    regex: /(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}/g,
    replace: whole('aws_access_key_id'),
  },
  {
    kind: 'aws_secret_access_key',
    regex: new RegExp(
      String.raw`((?:aws[_-]?)?secret[_-]?(?:access[_-]?)?key${ASSIGN}["']?)([A-Za-z0-9/+]{40}[A-Za-z0-9/+=]*)`,
      'gi',
    ),
    replace: (_match, [prefix]) => `${prefix}${marker('aws_secret_access_key')}`,
  },
  {
    kind: 'secret_assignment',
    // Quoted value: up to the same closing quote (escapes honoured). Bare value: up to whitespace,
    // a quote or `&`. A value that already is a marker is left alone.
    regex: new RegExp(
      String.raw`(?<![A-Za-z0-9])(${SECRET_NAME})(${ASSIGN})(?:(["'])((?:(?!\3)[^\\\n]|\\[^\n])+)\3|(?!\[REDACTED)([^\s"'&]+))`,
      'gi',
    ),
    replace: (match, [name, assign, quote, quoted, bare]) => {
      if (quoted !== undefined) {
        return quoted.startsWith('[REDACTED')
          ? match
          : `${name}${assign}${quote}${marker('secret_assignment')}${quote}`;
      }
      return bare === undefined ? match : `${name}${assign}${marker('secret_assignment')}`;
    },
  },
];

/**
 * A cheap first pass: a string in which none of these occur cannot hold a built-in secret, and is
 * returned untouched without running the detectors. Must stay a superset of every detector.
 */
export const SECRET_PREFILTER =
  /bearer|eyJ|PRIVATE KEY|A(?:KIA|SIA|BIA|CCA|3T)|gh[pousr]_|github_pat_|xox[abeprs]-|AIza|k_(?:live|test)_|:\/\/|authorization|passw|passphrase|secret|token|pwd|key/i;
