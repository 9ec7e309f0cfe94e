import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalJson } from '../src/index.js';

describe('canonicalJson', () => {
  it('sorts object keys by UTF-16 code unit order, whatever the insertion order', () => {
    expect(canonicalJson({ b: 1, a: 2, C: 3, _: 4 })).toBe('{"C":3,"_":4,"a":2,"b":1}');
    expect(canonicalJson({ a: 2, b: 1 })).toBe(canonicalJson({ b: 1, a: 2 }));
  });

  it('sorts nested objects, including objects inside arrays, and keeps array order', () => {
    expect(canonicalJson({ z: { y: [3, { d: 1, c: 2 }, 1], x: null }, a: [] })).toBe(
      '{"a":[],"z":{"x":null,"y":[3,{"c":2,"d":1},1]}}',
    );
  });

  it('writes no insignificant whitespace and the shortest number form', () => {
    expect(canonicalJson({ n: 1.5e3, f: 0.1, neg: -0, big: 1e21, t: true, f2: false })).toBe(
      '{"big":1e+21,"f":0.1,"f2":false,"n":1500,"neg":0,"t":true}',
    );
  });

  it('keeps unicode as characters and escapes what JSON requires', () => {
    expect(canonicalJson({ ключ: 'значение', emoji: '🔐', ctl: 'a\nb"c\\' })).toBe(
      '{"ctl":"a\\nb\\"c\\\\","emoji":"🔐","ключ":"значение"}',
    );
  });

  it('orders keys by code unit, so astral characters sort by their surrogates', () => {
    // U+FF61 (one unit 0xFF61) sorts after U+1F510 (surrogates 0xD83D 0xDD10) in code unit order.
    expect(canonicalJson({ '｡': 1, '🔐': 2 })).toBe('{"🔐":2,"｡":1}');
  });

  it('drops undefined members and writes undefined array items as null, as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1] })).toBe('{"b":[null,1]}');
    // eslint-disable-next-line no-sparse-arrays
    expect(canonicalJson([1, , 3])).toBe('[1,null,3]');
  });

  it('uses toJSON when a value has one (dates become ISO strings)', () => {
    expect(canonicalJson({ at: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)) })).toBe(
      '{"at":"2026-01-02T03:04:05.006Z"}',
    );
  });

  it('rejects NaN and infinities, naming the path', () => {
    expect(() => canonicalJson({ a: [1, Number.NaN] })).toThrow(/non-finite number at \$\.a\[1\]/);
    expect(() => canonicalJson(Number.POSITIVE_INFINITY)).toThrow(/non-finite/);
  });

  it('rejects bigints, functions and symbols instead of dropping them', () => {
    expect(() => canonicalJson({ n: 10n })).toThrow(/bigint at \$\.n/);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(/function/);
    expect(() => canonicalJson([Symbol('s')])).toThrow(/symbol/);
  });

  it('agrees with JSON.parse: the output parses back to an equal value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
    );
  });

  it('orders any set of keys, few or many, exactly as a plain sort of the key strings', () => {
    // Objects of up to 16 keys take an insertion sort, larger ones Array.prototype.sort.
    const reference = (value: unknown): string => {
      if (value === null || typeof value !== 'object') return JSON.stringify(value);
      if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
      const record = value as Record<string, unknown>;
      const members = Object.keys(record)
        .sort()
        .map((key) => `${JSON.stringify(key)}:${reference(record[key])}`);
      return `{${members.join(',')}}`;
    };
    const key = fc.string({ unit: 'binary', maxLength: 6 });
    const leaf = fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null));
    fc.assert(
      fc.property(
        fc.dictionary(key, fc.oneof(leaf, fc.dictionary(key, leaf, { maxKeys: 20 })), {
          maxKeys: 40,
        }),
        (value) => {
          expect(canonicalJson(value)).toBe(reference(value));
        },
      ),
    );
  });
});
