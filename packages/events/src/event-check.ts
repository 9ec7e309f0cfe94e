import {
  EVENT_KEYS,
  EVENT_SCHEMA_VERSION,
  OUTCOME_STATUSES,
  type EventType,
  type GatehouseEvent,
} from './schema.js';

/**
 * A hand-written check of a sealed event that says "the schema accepts this" without running it.
 *
 * `eventSchema` (schema.ts) stays the single source of truth; `parseEvent` runs it whenever this
 * check says no, so every error message still comes from the schema. The check is conservative: it
 * answers yes only for plain data (plain objects, dense arrays, no `undefined`) that the schema
 * accepts, and a property test holds the two to the same answer for JSON values. It exists because
 * the schema (zod) costs 3–5 µs and a full copy of every event, on every append to the embedded log
 * and every record the projector decodes; this costs well under a microsecond and copies nothing.
 */
export function isSchemaValidEvent(value: unknown): value is GatehouseEvent {
  if (!isPlainObject(value)) return false;
  const event = value as Record<string, unknown>;
  const type = event.type;
  if (typeof type !== 'string' || !Object.hasOwn(DATA_CHECKS, type)) return false;
  if (!hasExactly(event, EVENT_KEY_SET)) return false;
  return (
    isUuidV7(event.id) &&
    event.v === EVENT_SCHEMA_VERSION &&
    isIsoMs(event.ts) &&
    typeof event.session_id === 'string' &&
    event.session_id.length >= 1 &&
    event.session_id.length <= 256 &&
    isNonNegativeInteger(event.seq) &&
    isHex64(event.prev_hash) &&
    isHex64(event.hash) &&
    isNullableString(event.agent) &&
    isNullableString(event.user) &&
    isStringArray(event.scopes) &&
    isNullableString(event.client_ip) &&
    isNullableString(event.user_agent) &&
    isNullableString(event.server) &&
    isNullableString(event.tool) &&
    isNullableString(event.request_id) &&
    event.args !== undefined &&
    (event.args_sha256 === null || isHex64(event.args_sha256)) &&
    (event.decision === null || isDecision(event.decision)) &&
    (event.outcome === null || isOutcome(event.outcome)) &&
    DATA_CHECKS[type as EventType](event.data)
  );
}

/** Every member of a sealed event (the schema's `base`, `type` and `data`). */
const EVENT_KEY_SET = keySet(EVENT_KEYS);
const DECISION_KEYS = keySet(['allowed', 'rule', 'policy_version']);
const OUTCOME_KEYS = keySet(['status', 'latency_ms', 'result_sha256', 'result_bytes', 'error']);
const OUTCOME_STATUS_SET: ReadonlySet<unknown> = new Set(OUTCOME_STATUSES);

type Data = Record<string, unknown>;
/** A strict object's keys, with their code-point order (the order canonical JSON writes them in). */
interface KeySet {
  readonly size: number;
  readonly sorted: readonly string[];
  has(key: string): boolean;
}
function keySet(keys: readonly string[]): KeySet {
  const set = new Set(keys);
  return { size: set.size, sorted: [...set].sort(), has: (key) => set.has(key) };
}
/** `data` of each event type: an object with exactly `keys`, whose members pass `members`. */
function dataCheck(keys: readonly string[], members: (data: Data) => boolean): (value: unknown) => boolean {
  const set = keySet(keys);
  return (value) => isPlainObject(value) && hasExactly(value as Data, set) && members(value as Data);
}
const empty = dataCheck([], () => true);

const DATA_CHECKS: Record<EventType, (value: unknown) => boolean> = {
  'session.started': dataCheck(
    ['protocol_version', 'client_name', 'client_version'],
    (d) =>
      isNullableString(d.protocol_version) &&
      isNullableString(d.client_name) &&
      isNullableString(d.client_version),
  ),
  'session.ended': dataCheck(['reason'], (d) => typeof d.reason === 'string'),
  'tools.listed': dataCheck(
    ['tools', 'policy_version'],
    (d) => isStringArray(d.tools) && typeof d.policy_version === 'string',
  ),
  'call.attempted': empty,
  'call.denied': empty,
  'call.completed': empty,
  'call.failed': empty,
  'auth.rejected': dataCheck(
    ['http_status', 'reason', 'method', 'path'],
    (d) =>
      Number.isSafeInteger(d.http_status) &&
      typeof d.reason === 'string' &&
      typeof d.method === 'string' &&
      typeof d.path === 'string',
  ),
  'policy.published': dataCheck(
    ['version', 'model', 'rules', 'source'],
    (d) =>
      isHex64(d.version) &&
      typeof d.model === 'string' &&
      isArrayOf(d.rules, isStringArray) &&
      typeof d.source === 'string',
  ),
  'catalog.published': dataCheck(
    ['version', 'tools'],
    (d) => isHex64(d.version) && isArrayOf(d.tools, isCatalogTool),
  ),
  'checkpoint.signed': dataCheck(
    ['jws', 'kid', 'heads'],
    (d) => typeof d.jws === 'string' && typeof d.kid === 'string' && isArrayOf(d.heads, isCheckpointHead),
  ),
  'query.executed': dataCheck(
    ['endpoint', 'params', 'status'],
    (d) => typeof d.endpoint === 'string' && isStringRecord(d.params) && Number.isSafeInteger(d.status),
  ),
};

const CATALOG_TOOL_KEYS = keySet(['name', 'description', 'input_schema_sha256']);
function isCatalogTool(value: unknown): boolean {
  if (!isPlainObject(value) || !hasExactly(value as Data, CATALOG_TOOL_KEYS)) return false;
  const tool = value as Data;
  return (
    typeof tool.name === 'string' && isNullableString(tool.description) && isHex64(tool.input_schema_sha256)
  );
}

const CHECKPOINT_HEAD_KEYS = keySet(['session_id', 'seq', 'hash']);
function isCheckpointHead(value: unknown): boolean {
  if (!isPlainObject(value) || !hasExactly(value as Data, CHECKPOINT_HEAD_KEYS)) return false;
  const head = value as Data;
  return typeof head.session_id === 'string' && Number.isSafeInteger(head.seq) && isHex64(head.hash);
}

function isDecision(value: unknown): boolean {
  if (!isPlainObject(value) || !hasExactly(value as Data, DECISION_KEYS)) return false;
  const decision = value as Data;
  return (
    typeof decision.allowed === 'boolean' &&
    typeof decision.rule === 'string' &&
    typeof decision.policy_version === 'string'
  );
}

function isOutcome(value: unknown): boolean {
  if (!isPlainObject(value) || !hasExactly(value as Data, OUTCOME_KEYS)) return false;
  const outcome = value as Data;
  const latency = outcome.latency_ms;
  return (
    OUTCOME_STATUS_SET.has(outcome.status) &&
    (latency === null || (typeof latency === 'number' && Number.isFinite(latency) && latency >= 0)) &&
    (outcome.result_sha256 === null || isHex64(outcome.result_sha256)) &&
    (outcome.result_bytes === null || isNonNegativeInteger(outcome.result_bytes)) &&
    isNullableString(outcome.error)
  );
}

/** An object literal or `JSON.parse` output (prototype Object.prototype or null), not an array. */
function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `object`'s own enumerable keys are exactly `keys` (strict objects: nothing missing, nothing extra). */
function hasExactly(object: Data, keys: KeySet): boolean {
  const own = Object.keys(object);
  if (own.length !== keys.size) return false;
  // Canonical JSON sorts keys, so a decoded event lists them in `sorted` order: compared in one pass.
  const sorted = keys.sorted;
  let i = 0;
  while (i < own.length && own[i] === sorted[i]) i++;
  for (; i < own.length; i++) if (!keys.has(own[i]!)) return false;
  return true;
}

function isNullableString(value: unknown): boolean {
  return value === null || typeof value === 'string';
}

function isNonNegativeInteger(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** A dense array whose every element passes `check` (a hole reads as `undefined` and fails it). */
function isArrayOf(value: unknown, check: (element: unknown) => boolean): boolean {
  if (!Array.isArray(value)) return false;
  for (let i = 0; i < value.length; i++) if (!check(value[i])) return false;
  return true;
}

function isString(value: unknown): boolean {
  return typeof value === 'string';
}

function isStringArray(value: unknown): boolean {
  return isArrayOf(value, isString);
}

function isStringRecord(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const record = value as Data;
  const keys = Object.keys(record);
  for (let i = 0; i < keys.length; i++) if (typeof record[keys[i]!] !== 'string') return false;
  return true;
}

/**
 * Character classes by UTF-16 code unit, looked up rather than compared: bit 1 = lowercase hex
 * digit (0-9, a-f), bit 2 = decimal digit. A table read per character is about twice as fast here
 * as range comparisons or the schema's regular expressions.
 */
const CHAR_CLASS = new Uint8Array(0x10000);
const HEX = 1;
const DIGIT = 2;
for (const char of '0123456789') CHAR_CLASS[char.charCodeAt(0)] = HEX | DIGIT;
for (const char of 'abcdef') CHAR_CLASS[char.charCodeAt(0)] = HEX;

/** 64 lowercase hex characters (the schema's `hex64`). */
function isHex64(value: unknown): boolean {
  if (typeof value !== 'string' || value.length !== 64) return false;
  for (let i = 0; i < 64; i++) if ((CHAR_CLASS[value.charCodeAt(i)]! & HEX) === 0) return false;
  return true;
}

/**
 * Shapes by position: the character code a position must hold, or 0 where the class in the
 * shape's `any` must match.
 */
function shape(pattern: string, wildcard: string): readonly number[] {
  return [...pattern].map((char) => (char === wildcard ? 0 : char.charCodeAt(0)));
}
function matchesShape(value: string, codes: readonly number[], any: number): boolean {
  for (let i = 0; i < codes.length; i++) {
    const code = value.charCodeAt(i);
    const expected = codes[i]!;
    if (expected === 0 ? (CHAR_CLASS[code]! & any) === 0 : code !== expected) return false;
  }
  return true;
}

/** `xxxxxxxx-xxxx-7xxx-Vxxx-xxxxxxxxxxxx`; V (the variant) is checked apart. */
const UUID_V7_SHAPE = shape('xxxxxxxx-xxxx-7xxx-xxxx-xxxxxxxxxxxx', 'x');
/** A UUIDv7 in lowercase hex (the schema's `uuid`): version 7, variant 8, 9, a or b. */
function isUuidV7(value: unknown): boolean {
  if (typeof value !== 'string' || value.length !== 36 || !matchesShape(value, UUID_V7_SHAPE, HEX))
    return false;
  const variant = value.charCodeAt(19);
  return variant === 56 || variant === 57 || variant === 97 || variant === 98; // 8 9 a b
}

const ISO_MS_SHAPE = shape('0000-00-00T00:00:00.000Z', '0');
/** Days of each month of a common year (February of a leap year has 29). */
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;
/** The decimal number written by the digits at `from` … `to` - 1 (shape-checked: digits only). */
function digits(value: string, from: number, to: number): number {
  let number = 0;
  for (let i = from; i < to; i++) number = number * 10 + (value.charCodeAt(i) - 48);
  return number;
}
/**
 * UTC ISO 8601 with milliseconds naming a real instant in 1900–2299, as the schema's `isoMs`: the
 * shape, then the calendar by arithmetic (the schema round-trips through `Date` instead).
 */
function isIsoMs(value: unknown): boolean {
  if (typeof value !== 'string' || value.length !== 24 || !matchesShape(value, ISO_MS_SHAPE, DIGIT))
    return false;
  const year = digits(value, 0, 4);
  const month = digits(value, 5, 7);
  const day = digits(value, 8, 10);
  if (year < 1900 || year > 2299 || month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
  return (
    day <= days && digits(value, 11, 13) <= 23 && digits(value, 14, 16) <= 59 && digits(value, 17, 19) <= 59
  );
}
