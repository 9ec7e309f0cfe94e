import { canonicalJson } from './canonical-json.js';
import { GatehouseError, RedactionPatternError } from './errors.js';
import { sha256Hex } from './hash-chain.js';
import { KeyGlobSyntax, keyGlobToRegExpSource } from './key-glob.js';
import {
  BUILTIN_SECRET_DETECTORS,
  SECRET_PREFILTER,
  secretMarker,
  type SecretDetector,
} from './secret-detectors.js';

/** What the value of a key matched by a key pattern becomes. */
export const REDACTED = '[REDACTED]';

/**
 * The built-in key globs (case-insensitive, whole key; syntax in `key-glob.ts`). Note `*token*`
 * also covers `max_tokens` and `*mfa*` an `mfa_enabled` flag: a redacted number is a small price
 * for never storing a token. `signature` is left out on purpose (an e-mail signature is prose), and so are `dsn` and connection
 * strings: the `url_password` and `secret_assignment` detectors take their password and keep the host.
 */
export const DEFAULT_REDACT_KEYS: readonly string[] = Object.freeze([
  '*password*',
  '*passwd*',
  '*passphrase*',
  'pwd',
  '*secret*',
  '*token*',
  '*api_key*',
  '*api-key*',
  '*apikey*',
  '*access_key*',
  '*access-key*',
  '*accesskey*',
  '*private_key*',
  '*private-key*',
  '*privatekey*',
  '*credential*',
  '*authorization*',
  '*cookie*',
  // Short and partial names credentials go by in tool arguments.
  'auth',
  'pass',
  '*passcode*',
  'pin',
  'otp',
  '*mfa*',
  '*creds*',
  '*jwt*',
  '*bearer*',
  '*hmac*',
  '*signing_key*',
  '*signing-key*',
  '*signingkey*',
  '*encryption_key*',
  '*encryption-key*',
  '*encryptionkey*',
  '*ssh_key*',
  '*ssh-key*',
  '*sshkey*',
  '*client_key*',
  '*client-key*',
  'sessionid',
]);

/** An extra secret detector given in configuration. */
export interface SecretPatternOption {
  /** Marker label: `[REDACTED:<kind>]`. Lowercase letters, digits, `_` and `-`; 1–64 characters. */
  kind: string;
  /** Regular expression (source string or RegExp; flags other than `g` are kept). Must not match "". */
  pattern: string | RegExp;
}

export interface RedactorOptions {
  /** Key globs whose values are replaced whole by `"[REDACTED]"`. Default `DEFAULT_REDACT_KEYS`. */
  keyPatterns?: readonly string[];
  /** Key globs added to `keyPatterns` (e.g. the `audit.redactKeys` config list). Default none. */
  extraKeyPatterns?: readonly string[];
  /** Scan every string value (and object key) with the built-in secret detectors. Default true. */
  detectSecrets?: boolean;
  /** Extra detectors, run after the built-in ones (and even when `detectSecrets` is false). */
  secretPatterns?: readonly SecretPatternOption[];
}

export interface RedactionResult {
  /** A redacted deep copy of the input (plain JSON values; the input is never mutated). */
  args: unknown;
  /** SHA-256 (hex) of the canonical JSON of the input *before* redaction. */
  argsSha256: string;
  /**
   * Where something was redacted, in traversal order, each path once: `$` for the root,
   * `$.key` / `$["odd key"]` for members, `$[3]` for array items.
   */
  redactedPaths: string[];
}

/** Redacts tool-call arguments. Pure and synchronous; safe to share and call concurrently. */
export type Redactor = (args: unknown) => RedactionResult;

const KIND = /^[a-z0-9_-]{1,64}$/;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Compiles the key globs and detectors once and returns the redactor. Throws
 * `RedactionPatternError` (`GH_ERR_EVENT_REDACTION_PATTERN`) naming the option, index and pattern
 * at fault when any pattern is invalid.
 *
 * The redactor throws `GatehouseError` `GH_ERR_EVENT_INVALID` (status 400) for arguments that are
 * not JSON (non-finite numbers, bigints, functions, cycles).
 */
export function createRedactor(options: RedactorOptions = {}): Redactor {
  const keyRegex = compileKeyPatterns(options);
  const builtins = options.detectSecrets === false ? [] : BUILTIN_SECRET_DETECTORS;
  const custom = compileSecretPatterns(options.secretPatterns ?? []);

  const scan = (value: string): string => {
    let out = value;
    if (builtins.length > 0 && SECRET_PREFILTER.test(out)) {
      for (const detector of builtins) out = applyDetector(detector, out);
    }
    for (const detector of custom) out = applyDetector(detector, out);
    return out;
  };
  const scanning = builtins.length > 0 || custom.length > 0;

  return (args: unknown): RedactionResult => {
    let argsSha256: string;
    try {
      argsSha256 = sha256Hex(canonicalJson(args));
    } catch (cause) {
      const reason = cause instanceof RangeError ? 'nested too deeply or cyclic' : (cause as Error).message;
      throw new GatehouseError('GH_ERR_EVENT_INVALID', `args: not encodable as JSON (${reason})`, {
        status: 400,
        cause,
      });
    }
    const redactedPaths = new Set<string>();
    const walk = (value: unknown, path: string): unknown => {
      if (typeof value === 'string') {
        if (!scanning) return value;
        const scanned = scan(value);
        if (scanned !== value) redactedPaths.add(path);
        return scanned;
      }
      if (value === null || typeof value !== 'object') return value;
      if (Array.isArray(value))
        return Array.from(value as unknown[], (item, i) => walk(item, `${path}[${i}]`));
      const source = value as Record<string, unknown>;
      if (typeof (source as { toJSON?: unknown }).toJSON === 'function') {
        return walk((source as { toJSON: () => unknown }).toJSON(), path);
      }
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(source)) {
        const member = source[key];
        if (member === undefined) continue;
        let outKey = key;
        if (scanning) {
          const scannedKey = scan(key);
          if (scannedKey !== key) {
            outKey = scannedKey;
            while (Object.hasOwn(copy, outKey)) outKey += '*';
          }
        }
        const memberPath = `${path}${IDENTIFIER.test(outKey) ? `.${outKey}` : `[${JSON.stringify(outKey)}]`}`;
        if (outKey !== key) redactedPaths.add(memberPath);
        if (keyRegex !== null && keyRegex.test(key)) {
          setMember(copy, outKey, REDACTED);
          redactedPaths.add(memberPath);
        } else {
          setMember(copy, outKey, walk(member, memberPath));
        }
      }
      return copy;
    };
    let redacted: unknown;
    try {
      redacted = walk(args, '$');
    } catch (cause) {
      // The copy takes more stack per level than the encoding above: nesting between the two limits.
      if (!(cause instanceof RangeError)) throw cause;
      throw new GatehouseError('GH_ERR_EVENT_INVALID', 'args: not encodable as JSON (nested too deeply)', {
        status: 400,
        cause,
      });
    }
    return { args: redacted, argsSha256, redactedPaths: [...redactedPaths] };
  };
}

/** Sets an own member, also for `__proto__` (which plain assignment would turn into a prototype). */
function setMember(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function applyDetector(detector: SecretDetector, value: string): string {
  detector.regex.lastIndex = 0;
  if (!detector.regex.test(value)) return value;
  detector.regex.lastIndex = 0;
  return value.replace(detector.regex, (match: string, ...rest: unknown[]) => {
    // `rest` is the capture groups, then offset, whole string (and named groups when present).
    const groupCount = rest.length - (typeof rest[rest.length - 1] === 'object' ? 3 : 2);
    return detector.replace(match, rest.slice(0, groupCount) as (string | undefined)[]);
  });
}

function compileKeyPatterns(options: RedactorOptions): RegExp | null {
  const sources: string[] = [];
  const add = (option: string, patterns: readonly unknown[] | undefined) => {
    if (patterns === undefined) return;
    if (!Array.isArray(patterns))
      throw new RedactionPatternError(option, 0, patterns, 'must be an array of globs');
    patterns.forEach((pattern, index) => {
      const source = keyGlobToRegExpSource(pattern);
      if (source instanceof KeyGlobSyntax)
        throw new RedactionPatternError(option, index, pattern, source.reason);
      try {
        new RegExp(`^(?:${source})$`, 'iu');
      } catch (cause) {
        throw new RedactionPatternError(option, index, pattern, 'cannot be compiled', cause);
      }
      sources.push(source);
    });
  };
  add('keyPatterns', options.keyPatterns ?? DEFAULT_REDACT_KEYS);
  add('extraKeyPatterns', options.extraKeyPatterns);
  if (sources.length === 0) return null;
  return new RegExp(`^(?:${sources.join('|')})$`, 'iu');
}

function compileSecretPatterns(patterns: readonly SecretPatternOption[]): SecretDetector[] {
  if (!Array.isArray(patterns))
    throw new RedactionPatternError('secretPatterns', 0, patterns, 'must be an array');
  return patterns.map((option, index) => {
    const candidate = option as Partial<SecretPatternOption> | null;
    const shown = candidate?.pattern instanceof RegExp ? String(candidate.pattern) : candidate?.pattern;
    if (typeof candidate?.kind !== 'string' || !KIND.test(candidate.kind)) {
      throw new RedactionPatternError('secretPatterns', index, shown, 'kind must be 1–64 of [a-z0-9_-]');
    }
    let regex: RegExp;
    try {
      if (candidate.pattern instanceof RegExp) {
        const flags = candidate.pattern.flags.replace(/[gy]/g, '');
        regex = new RegExp(candidate.pattern.source, `${flags}g`);
      } else if (typeof candidate.pattern === 'string' && candidate.pattern !== '') {
        regex = new RegExp(candidate.pattern, 'g');
      } else {
        throw new RedactionPatternError(
          'secretPatterns',
          index,
          shown,
          'pattern must be a non-empty string or RegExp',
        );
      }
    } catch (cause) {
      if (cause instanceof RedactionPatternError) throw cause;
      throw new RedactionPatternError(
        'secretPatterns',
        index,
        shown,
        `not a valid regular expression (${(cause as Error).message})`,
        cause,
      );
    }
    regex.lastIndex = 0;
    if (regex.test('')) {
      throw new RedactionPatternError('secretPatterns', index, shown, 'matches the empty string');
    }
    const text = secretMarker(candidate.kind);
    return { kind: candidate.kind, regex, replace: (match: string) => (match === '' ? match : text) };
  });
}
