import { describe, expect, it } from 'vitest';
import {
  ChainRegistry,
  EVENT_TYPES,
  EventSchemaError,
  GatehouseError,
  decodeCheckedEvent,
  decodeEvent,
  encodeEvent,
  parseEvent,
  uuidv7Time,
} from '../src/index.js';
import { ctx, draftsByType } from './fixtures.js';

describe('event schema and codec', () => {
  const drafts = draftsByType();

  it('has a constructor fixture for every event type', () => {
    expect(Object.keys(drafts).sort()).toEqual([...EVENT_TYPES].sort());
  });

  it.each(EVENT_TYPES)(
    '%s round-trips: events.* → ChainRegistry.seal → encodeEvent → decodeEvent',
    (type) => {
      const sealed = new ChainRegistry().seal(drafts[type]);
      expect(sealed.type).toBe(type);
      const bytes = encodeEvent(sealed);
      expect(bytes).toBeInstanceOf(Buffer);
      const decoded = decodeEvent(bytes);
      expect(decoded).toEqual(sealed);
      expect(encodeEvent(decoded).equals(bytes)).toBe(true);
      expect(decodeEvent(bytes.toString('utf8'))).toEqual(sealed);
    },
  );

  it('constructors fill the envelope: UUIDv7 id matching ts, schema version 1, null columns', () => {
    const event = new ChainRegistry().seal(drafts['session.ended']);
    expect(event.v).toBe(1);
    expect(uuidv7Time(event.id)).toBe(Date.parse(event.ts));
    expect(event).toMatchObject({
      session_id: ctx.session_id,
      agent: 'support-bot',
      server: null,
      tool: null,
      outcome: null,
    });
  });

  it('named streams get their own session ids', () => {
    expect(drafts['policy.published'].session_id).toBe('policy');
    expect(drafts['catalog.published'].session_id).toBe('catalog:support');
  });

  it('callDenied records a denied outcome carrying the deciding rule', () => {
    expect(drafts['call.denied'].outcome).toEqual({
      status: 'denied',
      latency_ms: 0,
      result_sha256: null,
      result_bytes: null,
      error: 'default-deny',
    });
  });

  it('an event failing the schema gives EventSchemaError naming the field path', () => {
    const sealed = new ChainRegistry().seal(drafts['call.completed']);
    const bad = { ...sealed, outcome: { ...sealed.outcome, status: 'maybe' } };
    let error: unknown;
    try {
      parseEvent(bad);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EventSchemaError);
    expect(error).toBeInstanceOf(GatehouseError);
    const schemaError = error as EventSchemaError;
    expect(schemaError.code).toBe('GH_ERR_EVENT_INVALID');
    expect(schemaError.status).toBe(400);
    expect(schemaError.issues.some((issue) => issue.startsWith('outcome.status:'))).toBe(true);
    expect(schemaError.message).toMatch(/outcome\.status/);
  });

  it('names nested paths inside type-specific data', () => {
    const sealed = new ChainRegistry().seal(drafts['catalog.published']);
    const bad = {
      ...sealed,
      data: { ...sealed.data, tools: [{ name: 'x', description: null, input_schema_sha256: 'nothex' }] },
    };
    expect(() => parseEvent(bad)).toThrow(/data\.tools\.0\.input_schema_sha256/);
  });

  it('rejects unknown fields (strict objects) and unknown types', () => {
    const sealed = new ChainRegistry().seal(drafts['session.ended']);
    expect(() => parseEvent({ ...sealed, extra: 1 })).toThrow(EventSchemaError);
    expect(() => parseEvent({ ...sealed, type: 'session.paused' })).toThrow(/type/);
  });

  it('decodeEvent rejects bytes that are not JSON with EventSchemaError', () => {
    expect(() => decodeEvent(Buffer.from('{not json'))).toThrow(EventSchemaError);
    expect(() => decodeEvent('{not json')).toThrow(/not valid JSON/);
  });

  it.each(EVENT_TYPES)(
    '%s: decodeCheckedEvent returns what decodeEvent returns for schema-checked bytes',
    (type) => {
      const bytes = encodeEvent(new ChainRegistry().seal(drafts[type]));
      expect(decodeCheckedEvent(bytes)).toEqual(decodeEvent(bytes));
    },
  );

  it('decodeCheckedEvent still refuses bytes of the wrong shape, naming the field', () => {
    const sealed = new ChainRegistry().seal(drafts['call.attempted']);
    const check = (value: unknown) => () => decodeCheckedEvent(JSON.stringify(value));
    expect(() => decodeCheckedEvent('{not json')).toThrow(/not valid JSON/);
    expect(check([sealed])).toThrow(/\(root\): expected an object/);
    expect(check(null)).toThrow(EventSchemaError);
    expect(check({ ...sealed, type: 'session.paused' })).toThrow(/type: not a known event type/);
    expect(check({ ...sealed, type: 'toString' })).toThrow(/type: not a known event type/);
    expect(check({ ...sealed, v: 2 })).toThrow(/v: expected 1/);
    expect(check({ ...sealed, seq: '3' })).toThrow(/seq: expected an integer/);
    expect(check({ ...sealed, id: undefined, hash: 7 })).toThrow(
      /id: expected a string; hash: expected a string/,
    );
  });
});
