/**
 * Key globs: the patterns that name argument keys whose values are redacted whole.
 *
 * Syntax (matched against the whole key, case-insensitively):
 *   `*`        any run of characters, including none
 *   `?`        exactly one character
 *   `[abc]`    one of the listed characters; ranges `[a-z]`; negation `[!abc]` or `[^abc]`;
 *              `]` closes the class, write `\]` to list it
 *   `\x`       the character x literally (to match `*`, `?`, `[`, `]` or `\`)
 *   anything else matches itself
 *
 * Invalid: an empty or non-string pattern, a control character, an unterminated or empty `[…]`,
 * a reversed range (`[z-a]`), a trailing `\`, more than `MAX_KEY_GLOB_LENGTH` characters.
 */

/** Longest accepted glob, in characters. */
export const MAX_KEY_GLOB_LENGTH = 256;

/** Why a glob was refused; `compileKeyGlobs` turns it into a `RedactionPatternError`. */
export class KeyGlobSyntax {
  constructor(readonly reason: string) {}
}

const REGEX_SYNTAX = /[\\^$.*+?()[\]{}|/]/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function escapeLiteral(char: string): string {
  return char.replace(REGEX_SYNTAX, '\\$&');
}

/**
 * Translates one glob into regular-expression source (without anchors or flags; to be used with
 * the `u` and `i` flags). Returns a `KeyGlobSyntax` instead of throwing, so the caller can name the
 * option and index at fault.
 */
export function keyGlobToRegExpSource(pattern: unknown): string | KeyGlobSyntax {
  if (typeof pattern !== 'string') return new KeyGlobSyntax('must be a string');
  if (pattern.trim() === '') return new KeyGlobSyntax('must not be empty');
  if (pattern.length > MAX_KEY_GLOB_LENGTH)
    return new KeyGlobSyntax(`longer than ${MAX_KEY_GLOB_LENGTH} characters`);
  if (CONTROL.test(pattern)) return new KeyGlobSyntax('contains a control character');

  const chars = Array.from(pattern);
  let out = '';
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i] as string;
    if (char === '*') {
      if (!out.endsWith('[^]*')) out += '[^]*';
    } else if (char === '?') {
      out += '[^]';
    } else if (char === '\\') {
      const next = chars[i + 1];
      if (next === undefined) return new KeyGlobSyntax('ends with an unfinished escape "\\"');
      out += escapeLiteral(next);
      i += 1;
    } else if (char === '[') {
      const parsed = parseClass(chars, i + 1);
      if (parsed instanceof KeyGlobSyntax) return parsed;
      out += parsed.source;
      i = parsed.end;
    } else {
      out += escapeLiteral(char);
    }
  }
  return out;
}

/** Parses `[…]` starting after the `[`; returns the regex class and the index of the closing `]`. */
function parseClass(
  chars: readonly string[],
  start: number,
): { source: string; end: number } | KeyGlobSyntax {
  let i = start;
  let negated = false;
  if (chars[i] === '!' || chars[i] === '^') {
    negated = true;
    i += 1;
  }
  const members: string[] = [];
  for (; i < chars.length; i++) {
    let char = chars[i] as string;
    if (char === ']') {
      if (members.length === 0) return new KeyGlobSyntax('has an empty character class "[]"');
      return { source: `[${negated ? '^' : ''}${members.join('')}]`, end: i };
    }
    if (char === '\\') {
      const next = chars[i + 1];
      if (next === undefined) return new KeyGlobSyntax('ends with an unfinished escape "\\"');
      char = next;
      i += 1;
    }
    if (chars[i + 1] === '-' && chars[i + 2] !== undefined && chars[i + 2] !== ']') {
      let to = chars[i + 2] as string;
      let skip = 2;
      if (to === '\\') {
        const next = chars[i + 3];
        if (next === undefined) return new KeyGlobSyntax('ends with an unfinished escape "\\"');
        to = next;
        skip = 3;
      }
      if ((char.codePointAt(0) ?? 0) > (to.codePointAt(0) ?? 0)) {
        return new KeyGlobSyntax(`has a reversed range "${char}-${to}"`);
      }
      members.push(`${escapeClassMember(char)}-${escapeClassMember(to)}`);
      i += skip;
    } else {
      members.push(escapeClassMember(char));
    }
  }
  return new KeyGlobSyntax('has an unterminated character class "["');
}

function escapeClassMember(char: string): string {
  return /[\\\]^[-]/.test(char) ? `\\${char}` : char;
}
