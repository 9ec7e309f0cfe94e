import { canonicalJson } from './canonical-json.js';
import { EventSchemaError } from './errors.js';
import { cachedCanonicalJson } from './hash-chain.js';
import { eventSchema, type GatehouseEvent } from './schema.js';

/**
 * Validates an unknown value as a sealed event. Throws `EventSchemaError` whose message names each
 * failing field path (`outcome.status: Invalid option …`), so a bad record is never half-accepted.
 */
export function parseEvent(value: unknown): GatehouseEvent {
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
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new EventSchemaError(['(root): not valid JSON'], cause);
  }
  return parseEvent(value);
}
