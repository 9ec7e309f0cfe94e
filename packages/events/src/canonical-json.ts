/**
 * Canonical JSON: object keys sorted by UTF-16 code unit order, no insignificant whitespace,
 * `undefined` members dropped (as JSON.stringify does), numbers in JSON.stringify's shortest form.
 * Two values that are equal as JSON give byte-identical output, which is what the hash chain and
 * `args_sha256` need. Non-finite numbers, bigints, functions and symbols are rejected rather than
 * silently turned into `null`.
 */
export function canonicalJson(value: unknown): string {
  try {
    return write(value);
  } catch (error) {
    if (error instanceof Unencodable)
      throw new TypeError(`canonicalJson: ${error.reason} at $${error.path.reverse().join('')}`, {
        cause: error,
      });
    throw error;
  }
}

/** Thrown inside `write`; each enclosing level adds its key, so no path is built unless it fails. */
class Unencodable {
  readonly path: string[] = [];
  constructor(readonly reason: string) {}
}

function write(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new Unencodable('non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        const items = value as unknown[];
        let out = '[';
        for (let i = 0; i < items.length; i++) {
          const item = items[i];
          if (i > 0) out += ',';
          out += item === undefined ? 'null' : member(item, i);
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      if (typeof (record as { toJSON?: unknown }).toJSON === 'function') {
        return write((record as { toJSON: () => unknown }).toJSON());
      }
      let out = '{';
      for (const key of sortedKeys(record)) {
        const item = record[key];
        if (item === undefined) continue;
        if (out.length > 1) out += ',';
        out += `${quotedKey(key)}:${member(item, key)}`;
      }
      return `${out}}`;
    }
    default:
      throw new Unencodable(`cannot encode ${typeof value}`);
  }
}

/**
 * An object's own keys in UTF-16 code unit order. Objects here mostly have a handful of keys, where
 * an insertion sort with `<` is several times faster than `Array.prototype.sort`, which converts and
 * compares through its generic path; both give the same order.
 */
function sortedKeys(record: object): string[] {
  const keys = Object.keys(record);
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

/** `JSON.stringify(key)`, remembered for the first keys seen (the same few recur in every event). */
const QUOTED = new Map<string, string>();
const QUOTED_MAX = 1_024;

function quotedKey(key: string): string {
  let quoted = QUOTED.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (QUOTED.size < QUOTED_MAX && key.length <= 64) QUOTED.set(key, quoted);
  }
  return quoted;
}

/** `write(value)` of an array item (`at` its index) or object member (`at` its key), naming it in a failure's path. */
function member(value: unknown, at: number | string): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return write(value);
  } catch (error) {
    if (error instanceof Unencodable) error.path.push(typeof at === 'number' ? `[${at}]` : `.${at}`);
    throw error;
  }
}
