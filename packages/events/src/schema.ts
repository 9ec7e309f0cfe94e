import { z } from 'zod';

/**
 * The audit event envelope, version 1. This schema is the single source of truth: the TypeScript
 * types below are inferred from it, the ClickHouse columns mirror it, and every event read back
 * from the log is parsed with it (`parseEvent`, which first tries `isSchemaValidEvent`, a faster
 * hand-written check held to this schema's answers by a property test: change both together).
 *
 * Wire format: JSON, snake_case, written as canonical JSON (see `canonical-json.ts`).
 *
 *   id          UUIDv7, time-ordered; the dedup key everywhere downstream
 *   type        past-tense event type, the union discriminator
 *   v           schema version (1)
 *   ts          UTC time, ISO 8601 with milliseconds ("2026-11-28T17:16:12.123Z"): a real
 *               calendar instant in 1900-01-01 … 2299-12-31 (what the store's DateTime64 holds)
 *   session_id  MCP session id, or a named stream ("policy", "catalog:<server>", "perimeter:<node>")
 *   seq         position in that stream's chain, gapless from 0
 *   prev_hash   `hash` of seq-1 (64 hex chars), GENESIS_HASH for seq 0
 *   hash        SHA-256 (hex) over the canonical JSON of the event without `hash`
 *   agent       OAuth client_id of the caller (null where there is none, e.g. a rejected token)
 *   user        token `sub`; equals `agent` for client-credentials tokens
 *   scopes      granted token scopes
 *   client_ip, user_agent   as seen by the ingress
 *   server, tool, request_id  upstream server name, namespaced tool name, JSON-RPC id
 *   args        call arguments after redaction; args_sha256 = SHA-256 of their canonical JSON before
 *   decision    { allowed, rule, policy_version }
 *   outcome     { status, latency_ms, result_sha256, result_bytes, error }
 *   data        type-specific payload, described per type below
 */
export const EVENT_SCHEMA_VERSION = 1 as const;
export const GENESIS_HASH = '0'.repeat(64);

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters');
const uuid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'expected a UUIDv7');
/**
 * Earliest and latest instants an event's `ts` may name: what the store's DateTime64(3, 'UTC')
 * column holds exactly (1900-01-01 … 2299-12-31). An event outside them, or on a day that does not
 * exist, would be accepted by the log and then refused by the store on every projection attempt.
 */
export const EVENT_TS_MIN_MS = Date.UTC(1900, 0, 1);
export const EVENT_TS_MAX_MS = Date.UTC(2300, 0, 1) - 1;

/** `ts` names a real instant (no 30 February, no hour 24) within the store's range, written canonically. */
function isStorableInstant(ts: string): boolean {
  const ms = Date.parse(ts);
  return (
    !Number.isNaN(ms) && ms >= EVENT_TS_MIN_MS && ms <= EVENT_TS_MAX_MS && new Date(ms).toISOString() === ts
  );
}

const isoMs = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'expected UTC ISO 8601 with milliseconds')
  .refine(isStorableInstant, 'expected a real UTC instant between 1900-01-01 and 2299-12-31');
const nullableString = z.string().nullable();

export const decisionSchema = z.strictObject({
  allowed: z.boolean(),
  /** The deciding rule in readable form ("deny user:alice support__export_customers"), or "default-deny". */
  rule: z.string(),
  policy_version: z.string(),
});

export const OUTCOME_STATUSES = ['ok', 'error', 'denied', 'timeout', 'audit_unavailable'] as const;
export const outcomeSchema = z.strictObject({
  status: z.enum(OUTCOME_STATUSES),
  latency_ms: z.number().nonnegative().nullable(),
  result_sha256: hex64.nullable(),
  result_bytes: z.number().int().nonnegative().nullable(),
  error: nullableString,
});

/** Fields every event carries. Type-specific requirements are layered on in `eventSchema`. */
const base = {
  id: uuid,
  v: z.literal(EVENT_SCHEMA_VERSION),
  ts: isoMs,
  session_id: z.string().min(1).max(256),
  seq: z.number().int().nonnegative(),
  prev_hash: hex64,
  hash: hex64,
  agent: nullableString,
  user: nullableString,
  scopes: z.array(z.string()),
  client_ip: nullableString,
  user_agent: nullableString,
  server: nullableString,
  tool: nullableString,
  request_id: nullableString,
  // Present, null when there are none: a missing `args` is left out of the hash, but comes back from
  // the store as null (a different hash), and the fast check refuses it too.
  args: z.unknown().refine((value) => value !== undefined, 'args is required (null when the call has none)'),
  args_sha256: hex64.nullable(),
  decision: decisionSchema.nullable(),
  outcome: outcomeSchema.nullable(),
};

const catalogToolSchema = z.strictObject({
  name: z.string(),
  description: z.string().nullable(),
  input_schema_sha256: hex64,
});

const checkpointHeadSchema = z.strictObject({ session_id: z.string(), seq: z.number().int(), hash: hex64 });

/** Per-type payloads. */
export const eventDataSchemas = {
  /** An MCP session was initialized. */
  'session.started': z.strictObject({
    protocol_version: nullableString,
    client_name: nullableString,
    client_version: nullableString,
  }),
  /** The session was closed by DELETE, by the client going away, or by the gateway shutting down. */
  'session.ended': z.strictObject({ reason: z.string() }),
  /** tools/list was answered; `tools` is exactly what the caller was shown. */
  'tools.listed': z.strictObject({ tools: z.array(z.string()), policy_version: z.string() }),
  /** A tools/call arrived and was decided; appended durably before anything is forwarded. */
  'call.attempted': z.strictObject({}),
  /** The decision was deny: the upstream was never contacted. */
  'call.denied': z.strictObject({}),
  /** The upstream answered (`outcome.status` ok, or error when the tool reported isError). */
  'call.completed': z.strictObject({}),
  /** The call could not complete: upstream transport error, timeout, or the audit log refused it. */
  'call.failed': z.strictObject({}),
  /** A request was refused at the perimeter. `reason` is a fixed code, never attacker input. */
  'auth.rejected': z.strictObject({
    http_status: z.number().int(),
    reason: z.string(),
    method: z.string(),
    path: z.string(),
  }),
  /** A policy was loaded; `version` is the SHA-256 of its canonical form. */
  'policy.published': z.strictObject({
    version: hex64,
    model: z.string(),
    rules: z.array(z.array(z.string())),
    source: z.string(),
  }),
  /** An upstream's tool catalog was seen; `version` is the SHA-256 of the canonical tool list. */
  'catalog.published': z.strictObject({ version: hex64, tools: z.array(catalogToolSchema) }),
  /** A signed checkpoint over the latest hash of every active session (compact JWS). */
  'checkpoint.signed': z.strictObject({
    jws: z.string(),
    kid: z.string(),
    heads: z.array(checkpointHeadSchema),
  }),
  /** The query API answered a question: the auditors are audited too. */
  'query.executed': z.strictObject({
    endpoint: z.string(),
    params: z.record(z.string(), z.string()),
    status: z.number().int(),
  }),
} as const;

export type EventType = keyof typeof eventDataSchemas;
export const EVENT_TYPES = Object.keys(eventDataSchemas) as EventType[];

/** Every member of a sealed event, whatever its type: the envelope, `type` and `data`. */
export const EVENT_KEYS: readonly string[] = [...Object.keys(base), 'type', 'data'];

function variant<T extends EventType>(type: T) {
  return z.strictObject({ ...base, type: z.literal(type), data: eventDataSchemas[type] });
}

/** The runtime schema of a sealed (hashed) event. */
export const eventSchema = z.discriminatedUnion('type', [
  variant('session.started'),
  variant('session.ended'),
  variant('tools.listed'),
  variant('call.attempted'),
  variant('call.denied'),
  variant('call.completed'),
  variant('call.failed'),
  variant('auth.rejected'),
  variant('policy.published'),
  variant('catalog.published'),
  variant('checkpoint.signed'),
  variant('query.executed'),
]);

export type GatehouseEvent = z.infer<typeof eventSchema>;
export type EventOf<T extends EventType> = Extract<GatehouseEvent, { type: T }>;
export type Decision = z.infer<typeof decisionSchema>;

/**
 * Deciding rules the gateway records for calls it refuses on its own, before any policy is asked: a
 * tool no upstream catalog holds, and arguments it cannot encode for the audit. Another policy
 * would not change such a decision.
 */
export const GATEWAY_REFUSAL_RULES = {
  unknownTool: 'unknown-tool',
  argumentsUnencodable: 'arguments-unencodable',
} as const;
export type Outcome = z.infer<typeof outcomeSchema>;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];
export type CatalogTool = z.infer<typeof catalogToolSchema>;
export type CheckpointHead = z.infer<typeof checkpointHeadSchema>;
