import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSchemaValidEvent } from '../src/event-check.js';
import { ChainRegistry, eventSchema, parseEvent, type GatehouseEvent } from '../src/index.js';
import { draftsByType } from './fixtures.js';

/** One sealed event of every type, as plain JSON data (what the projector decodes). */
const sealed: GatehouseEvent[] = Object.values(draftsByType()).map((draft) =>
  new ChainRegistry().seal(draft),
);
const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value)) as unknown;
const schemaAccepts = (value: unknown): boolean => eventSchema.safeParse(value).success;

type Path = readonly (string | number)[];
/** Every member and element path of `value` (objects and arrays, depth first). */
function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (typeof value !== 'object' || value === null) return [];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((key) => {
    const path = [...prefix, key];
    return [path, ...pathsOf((value as Record<string | number, unknown>)[key], path)];
  });
}

type Mutation =
  | { kind: 'set'; path: Path; value: unknown }
  | { kind: 'delete'; path: Path }
  | { kind: 'add'; path: Path; key: string; value: unknown };

/** A copy of `event` with `mutation` applied (`add` puts an extra member into the object at `path`). */
function mutate(event: unknown, mutation: Mutation): unknown {
  const copy = structuredClone(event) as Record<string | number, unknown>;
  const parentPath = mutation.kind === 'add' ? mutation.path : mutation.path.slice(0, -1);
  let parent: Record<string | number, unknown> = copy;
  for (const key of parentPath) parent = parent[key] as Record<string | number, unknown>;
  if (mutation.kind === 'add') {
    if (typeof parent === 'object' && parent !== null && !Array.isArray(parent))
      parent[mutation.key] = mutation.value;
    return copy;
  }
  const key = mutation.path[mutation.path.length - 1]!;
  if (mutation.kind === 'delete') delete parent[key];
  else parent[key] = mutation.value;
  return copy;
}

/** Values near what the schema asks for, where a hand-written check would most likely slip. */
const nearMisses = fc.constantFrom<unknown>(
  'a'.repeat(63),
  'a'.repeat(65),
  'A'.repeat(64),
  `${'a'.repeat(63)}g`,
  `${'a'.repeat(63)}\n`,
  '0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b',
  '0190a3b4-5c6d-6e8f-9a0b-1c2d3e4f5a6b',
  '0190a3b4-5c6d-7e8f-ca0b-1c2d3e4f5a6b',
  '0190A3B4-5C6D-7E8F-9A0B-1C2D3E4F5A6B',
  '0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6',
  '2026-11-28T17:16:12.123Z',
  '2026-11-28T17:16:12.12Z',
  '2026-11-28 17:16:12.123Z',
  '2026-11-28T17:16:12.123+00:00',
  '２026-11-28T17:16:12.123Z',
  '2026-02-30T12:00:00.000Z',
  '2026-02-29T12:00:00.000Z',
  '2024-02-29T12:00:00.000Z',
  '2000-02-29T00:00:00.000Z',
  '2100-02-29T00:00:00.000Z',
  '2026-04-31T00:00:00.000Z',
  '2026-13-01T00:00:00.000Z',
  '2026-00-10T00:00:00.000Z',
  '2026-01-00T00:00:00.000Z',
  '2026-01-01T24:00:00.000Z',
  '2026-01-01T23:60:00.000Z',
  '2026-01-01T23:59:60.000Z',
  '1800-06-01T00:00:00.000Z',
  '1899-12-31T23:59:59.999Z',
  '1900-01-01T00:00:00.000Z',
  '2299-12-31T23:59:59.999Z',
  '2300-01-01T00:00:00.000Z',
  '0000-01-01T00:00:00.000Z',
  '',
  'x'.repeat(256),
  'x'.repeat(257),
  'ok',
  'denied',
  'Ok',
  0,
  -1,
  1.5,
  2 ** 53,
  2 ** 53 - 1,
  -0,
  1e308,
  true,
  null,
  [],
  {},
  ['a', 1],
  [['a']],
  { a: 'b' },
  { a: 1 },
);

/** A mutation of one of the sealed events: a member replaced, removed or added, anywhere in it. */
const mutated = (values: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.constantFrom(...sealed.map((event) => asJson(event))).chain((event) => {
    const paths = pathsOf(event);
    const objectPaths: Path[] = [[], ...paths.filter((path) => isObjectAt(event, path))];
    return fc
      .oneof(
        fc.record({ kind: fc.constant('set' as const), path: fc.constantFrom(...paths), value: values }),
        fc.record({ kind: fc.constant('delete' as const), path: fc.constantFrom(...paths) }),
        fc.record({
          kind: fc.constant('add' as const),
          path: fc.constantFrom(...objectPaths),
          key: fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'hash', 'type')),
          value: values,
        }),
      )
      .map((mutation: Mutation) => mutate(event, mutation));
  });

function isObjectAt(root: unknown, path: Path): boolean {
  let at = root as Record<string | number, unknown>;
  for (const key of path) at = at[key] as Record<string | number, unknown>;
  return typeof at === 'object' && at !== null && !Array.isArray(at);
}

describe('isSchemaValidEvent', () => {
  it('accepts a sealed event of every type, as built and as decoded from JSON', () => {
    expect(sealed.map((event) => event.type).sort()).toEqual(
      [...new Set(sealed.map((event) => event.type))].sort(),
    );
    for (const event of sealed) {
      expect(isSchemaValidEvent(event), event.type).toBe(true);
      expect(isSchemaValidEvent(asJson(event)), event.type).toBe(true);
    }
  });

  it('gives the schema’s answer for every JSON value one mutation away from a valid event', () => {
    fc.assert(
      fc.property(
        mutated(fc.oneof(nearMisses, fc.jsonValue({ maxDepth: 2 }))).map((value) => asJson(value)),
        (value) => {
          expect(isSchemaValidEvent(value)).toBe(schemaAccepts(value));
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('gives the schema’s answer for every ts of the right shape, real calendar day or not', () => {
    const [event] = sealed as [GatehouseEvent];
    const pad = (n: number, width: number) => String(n).padStart(width, '0');
    const tsShaped = fc
      .tuple(
        fc.oneof(fc.integer({ min: 1890, max: 2310 }), fc.integer({ min: 0, max: 9999 })),
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 61 }),
        fc.integer({ min: 0, max: 61 }),
        fc.integer({ min: 0, max: 999 }),
      )
      .map(
        ([y, mo, d, h, mi, s, ms]) =>
          `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}.${pad(ms, 3)}Z`,
      );
    fc.assert(
      fc.property(tsShaped, (ts) => {
        const value = asJson({ ...event, ts });
        expect(isSchemaValidEvent(value), ts).toBe(schemaAccepts(value));
      }),
      { numRuns: 20_000 },
    );
  });

  it('never accepts what the schema refuses, JSON or not', () => {
    fc.assert(
      fc.property(
        mutated(fc.oneof(nearMisses, fc.anything({ maxDepth: 2, withNullPrototype: true }))),
        (value) => {
          if (isSchemaValidEvent(value)) expect(schemaAccepts(value)).toBe(true);
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('leaves to the schema what is not plain data', () => {
    const [event] = sealed as [GatehouseEvent];
    class Event {}
    const holey: string[] = ['a'];
    holey[2] = 'b'; // a hole at index 1
    const cases: unknown[] = [
      Object.assign(new Event(), event),
      { ...event, scopes: holey },
      { ...event, seq: Number.NaN },
      { ...event, args: undefined },
      {
        ...event,
        outcome: { status: 'ok', latency_ms: Infinity, result_sha256: null, result_bytes: null, error: null },
      },
      'not an event',
      null,
      [event],
    ];
    for (const value of cases) expect(isSchemaValidEvent(value)).toBe(false);
  });
});

describe('parseEvent', () => {
  it('returns plain valid data as it is, and what the schema returns otherwise', () => {
    const [event] = sealed as [GatehouseEvent];
    const json = asJson(event) as Record<string, unknown>;
    expect(parseEvent(json)).toBe(json);
    // An instance of a class is valid to the schema but not plain data: the schema's copy comes back.
    class Event {}
    const instance = Object.assign(new Event(), json);
    const parsed = parseEvent(instance);
    expect(parsed).not.toBe(instance);
    expect(parsed).toEqual({ ...json });
    // A missing `args` is refused by both (it would hash without args and read back as null).
    expect(isSchemaValidEvent({ ...json, args: undefined })).toBe(false);
    expect(() => parseEvent({ ...json, args: undefined })).toThrow(/args: args is required/);
  });

  it('refuses a ts on a day that does not exist or outside 1900–2299, naming ts', () => {
    const [event] = sealed as [GatehouseEvent];
    for (const ts of [
      '2026-02-30T10:00:00.000Z',
      '1800-01-01T00:00:00.000Z',
      '2300-01-01T00:00:00.000Z',
      '2026-01-01T24:00:00.000Z',
    ]) {
      expect(isSchemaValidEvent({ ...event, ts }), ts).toBe(false);
      expect(() => parseEvent({ ...event, ts }), ts).toThrow(
        /ts: expected a real UTC instant between 1900-01-01 and 2299-12-31/,
      );
    }
    for (const ts of ['1900-01-01T00:00:00.000Z', '2024-02-29T23:59:59.999Z', '2299-12-31T23:59:59.999Z'])
      expect(isSchemaValidEvent({ ...event, ts }), ts).toBe(true);
  });

  it('still names the failing member, as the schema does', () => {
    const [event] = sealed as [GatehouseEvent];
    expect(() => parseEvent({ ...event, prev_hash: 'A'.repeat(64) })).toThrow(
      /prev_hash: expected 64 lowercase hex/,
    );
    expect(() => parseEvent({ ...event, extra: 1 })).toThrow(/extra/);
  });
});
