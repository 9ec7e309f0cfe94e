import { canonicalJson } from './canonical-json.js';
import { EventSchemaError } from './errors.js';
import { isSchemaValidEvent } from './event-check.js';
import { cachedCanonicalJson } from './hash-chain.js';
import { EVENT_SCHEMA_VERSION, eventDataSchemas, eventSchema, type GatehouseEvent } from './schema.js';

/**
 * Validates an unknown value as a sealed event. Throws `EventSchemaError` whose message names each
 * failing field path (`outcome.status: Invalid option …`), so a bad record is never half-accepted.
 *
 * Plain data that `isSchemaValidEvent` vouches for is returned as it is; anything else goes through
 * `eventSchema`, which returns a copy or names what is wrong.
 */
export function parseEvent(value: unknown): GatehouseEvent {
  if (isSchemaValidEvent(value)) return value;
  const result = eventSchema.safeParse(value);
  if (result.success) return result.data;
  throw new EventSchemaError(
    result.error.issues.map(
      (issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`,
    ),
    result.error,
  );
}

/** Encodes an event as the bytes stored in the log: canonical JSON, UTF-8. */
export function encodeEvent(event: GatehouseEvent): Buffer {
  return Buffer.from(cachedCanonicalJson(event) ?? canonicalJson(event), 'utf8');
}

/** Decodes and validates log bytes. Throws `EventSchemaError` on bad JSON or a schema mismatch. */
export function decodeEvent(bytes: Uint8Array | string): GatehouseEvent {
  return parseEvent(parseJson(bytes));
}

/**
 * Decodes log bytes that passed `parseEvent` when they were written and are known to be unaltered
 * since (a checksummed record its log flagged as schema-checked), without running the schema again:
 * the schema is about half the cost of decoding, and its copy of every object doubles the garbage.
 * Keeps a structural check — a JSON object of a known `type`, schema version `v`, string `id`,
 * `ts`, `session_id`, `hash` and an integer `seq` — so that bytes from anywhere else (another
 * schema version, a mislabelled record) still fail with `EventSchemaError` naming the field rather
 * than flowing on. Anything deeper is what the write-time check vouched for.
 */
export function decodeCheckedEvent(bytes: Uint8Array | string): GatehouseEvent {
  const value = parseJson(bytes);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EventSchemaError(['(root): expected an object']);
  }
  const event = value as Record<string, unknown>;
  const issues: string[] = [];
  if (typeof event.type !== 'string' || !Object.hasOwn(eventDataSchemas, event.type))
    issues.push('type: not a known event type');
  if (event.v !== EVENT_SCHEMA_VERSION) issues.push(`v: expected ${EVENT_SCHEMA_VERSION}`);
  for (const field of ['id', 'ts', 'session_id', 'hash'] as const)
    if (typeof event[field] !== 'string') issues.push(`${field}: expected a string`);
  if (!Number.isSafeInteger(event.seq)) issues.push('seq: expected an integer');
  if (issues.length > 0) throw new EventSchemaError(issues);
  return value as GatehouseEvent;
}

function parseJson(bytes: Uint8Array | string): unknown {
  try {
    // A view over the same memory (Buffer.from(uint8Array) would copy the bytes first).
    const text =
      typeof bytes === 'string'
        ? bytes
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new EventSchemaError(['(root): not valid JSON'], cause);
  }
}
