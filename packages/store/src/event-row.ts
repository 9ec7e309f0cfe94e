import { canonicalJson, type GatehouseEvent } from '@gatehouse/events';
import { StoreError } from './errors.js';

/**
 * One event as a row of the `events` tables, as read back (JSONEachRow). Written as the same values:
 * JSONCompactEachRow over HTTP, TabSeparated over chDB (`tsv-row.ts`).
 *
 *   ts                  'YYYY-MM-DD hh:mm:ss.mmm' (DateTime64(3, 'UTC'))
 *   seq, outcome_result_bytes   UInt64: written as numbers, read back as decimal strings
 *                       (`output_format_json_quote_64bit_integers=1`, no precision loss)
 *   args, data          canonical JSON text (args NULL when the event's args are null)
 *   decision_*          flattened; decision_allowed NULL ⇔ decision null
 *   outcome_*           flattened; outcome_status NULL ⇔ outcome null
 *
 * There is deliberately no raw copy of the event: `rowToEvent` rebuilds the event from the columns,
 * so an edit of any column made directly in ClickHouse changes the rebuilt event's hash.
 */
export interface EventRow {
  id: string;
  type: string;
  v: number;
  ts: string;
  session_id: string;
  seq: number | string;
  prev_hash: string;
  hash: string;
  agent: string | null;
  user: string | null;
  scopes: string[];
  client_ip: string | null;
  user_agent: string | null;
  server: string | null;
  tool: string | null;
  request_id: string | null;
  args: string | null;
  args_sha256: string | null;
  decision_allowed: boolean | null;
  decision_rule: string | null;
  decision_policy_version: string | null;
  outcome_status: string | null;
  outcome_latency_ms: number | null;
  outcome_result_sha256: string | null;
  outcome_result_bytes: number | string | null;
  outcome_error: string | null;
  data: string;
}

/** DateTime64 covers 1900-01-01 … 2299-12-31; an event outside it could not be rebuilt exactly. */
const MIN_TS_MS = Date.UTC(1900, 0, 1);
const MAX_TS_MS = Date.UTC(2300, 0, 1) - 1;

/** '2026-11-28T17:16:12.123Z' → '2026-11-28 17:16:12.123'. */
export function toClickHouseTs(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

/** '2026-11-28 17:16:12.123' → '2026-11-28T17:16:12.123Z'. */
export function fromClickHouseTs(value: string): string {
  return `${value.slice(0, 10)}T${value.slice(11, 23)}Z`;
}

/** A JS Date as a DateTime64(3, 'UTC') query parameter. */
export function dateParam(date: Date, name: string): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new StoreError('GH_ERR_STORE_CONFIG', `${name}: expected a valid Date`);
  }
  const ms = Math.min(Math.max(date.getTime(), MIN_TS_MS), MAX_TS_MS);
  return toClickHouseTs(new Date(ms).toISOString());
}

/**
 * Maps a validated event to its row. Throws `GH_ERR_STORE_INVALID_EVENT` for an event the columns
 * could not hold exactly (a `ts` that is not a real instant, or outside DateTime64's range).
 */
export function eventToRow(event: GatehouseEvent): EventRow {
  const ms = Date.parse(event.ts);
  if (Number.isNaN(ms) || new Date(ms).toISOString() !== event.ts || ms < MIN_TS_MS || ms > MAX_TS_MS) {
    throw new StoreError(
      'GH_ERR_STORE_INVALID_EVENT',
      `event ${event.id}: ts ${JSON.stringify(event.ts)} is not a UTC instant between 1900 and 2299`,
      {
        status: 400,
      },
    );
  }
  return {
    id: event.id,
    type: event.type,
    v: event.v,
    ts: toClickHouseTs(event.ts),
    session_id: event.session_id,
    seq: event.seq,
    prev_hash: event.prev_hash,
    hash: event.hash,
    agent: event.agent,
    user: event.user,
    scopes: [...event.scopes],
    client_ip: event.client_ip,
    user_agent: event.user_agent,
    server: event.server,
    tool: event.tool,
    request_id: event.request_id,
    args: event.args === null || event.args === undefined ? null : canonicalJson(event.args),
    args_sha256: event.args_sha256,
    decision_allowed: event.decision?.allowed ?? null,
    decision_rule: event.decision?.rule ?? null,
    decision_policy_version: event.decision?.policy_version ?? null,
    outcome_status: event.outcome?.status ?? null,
    outcome_latency_ms: event.outcome?.latency_ms ?? null,
    outcome_result_sha256: event.outcome?.result_sha256 ?? null,
    outcome_result_bytes: event.outcome?.result_bytes ?? null,
    outcome_error: event.outcome?.error ?? null,
    data: canonicalJson(event.data),
  };
}

/** A row's values in `EVENT_COLUMN_NAMES` order (JSONCompactEachRow). */
export function rowValues(row: EventRow): unknown[] {
  return [
    row.id,
    row.type,
    row.v,
    row.ts,
    row.session_id,
    row.seq,
    row.prev_hash,
    row.hash,
    row.agent,
    row.user,
    row.scopes,
    row.client_ip,
    row.user_agent,
    row.server,
    row.tool,
    row.request_id,
    row.args,
    row.args_sha256,
    row.decision_allowed,
    row.decision_rule,
    row.decision_policy_version,
    row.outcome_status,
    row.outcome_latency_ms,
    row.outcome_result_sha256,
    row.outcome_result_bytes,
    row.outcome_error,
    row.data,
  ];
}

/**
 * Rebuilds the event from its row columns, exactly as it was sealed, so that `computeEventHash`
 * over the result equals `hash` unless a column was altered. Deliberately does NOT validate: a row
 * edited into something the schema rejects still yields an event (JSON text that no longer parses
 * is kept as the string), and verification reports it as a broken hash rather than an exception.
 */
export function rowToEvent(row: EventRow): GatehouseEvent {
  const event = {
    id: row.id,
    type: row.type,
    v: Number(row.v),
    ts: fromClickHouseTs(row.ts),
    session_id: row.session_id,
    seq: Number(row.seq),
    prev_hash: row.prev_hash,
    hash: row.hash,
    agent: row.agent,
    user: row.user,
    scopes: row.scopes,
    client_ip: row.client_ip,
    user_agent: row.user_agent,
    server: row.server,
    tool: row.tool,
    request_id: row.request_id,
    args: row.args === null ? null : parseJsonText(row.args),
    args_sha256: row.args_sha256,
    // An event without a decision (outcome) stores NULL in every one of its columns: a value in any
    // of them is rebuilt into the event, so that an edit there breaks the hash rather than being
    // read past.
    decision:
      row.decision_allowed === null && row.decision_rule === null && row.decision_policy_version === null
        ? null
        : {
            allowed: row.decision_allowed,
            rule: row.decision_rule,
            policy_version: row.decision_policy_version,
          },
    outcome:
      row.outcome_status === null &&
      row.outcome_latency_ms === null &&
      row.outcome_result_sha256 === null &&
      row.outcome_result_bytes === null &&
      row.outcome_error === null
        ? null
        : {
            status: row.outcome_status,
            latency_ms: row.outcome_latency_ms,
            result_sha256: row.outcome_result_sha256,
            result_bytes: row.outcome_result_bytes === null ? null : Number(row.outcome_result_bytes),
            error: row.outcome_error,
          },
    data: parseJsonText(row.data),
  };
  return event as unknown as GatehouseEvent;
}

/**
 * The value of an `args` / `data` column, which holds the canonical JSON of the value as sealed.
 * Text that parses but is not canonical — a duplicated key (JSON.parse keeps the last, SQL's
 * JSONExtract the first), added whitespace, other escapes — was written by someone else: it is kept
 * as the string itself, so the event's hash breaks instead of an edit reading as the original.
 */
function parseJsonText(text: string): unknown {
  try {
    const value = JSON.parse(text) as unknown;
    return canonicalJson(value) === text ? value : text;
  } catch {
    return text;
  }
}

/**
 * The SELECT list that reads a row back in `EventRow` shape. Plain column names on purpose (UUID and
 * DateTime64 already come out as text in JSON): an alias such as `toString(ts) AS ts` would shadow
 * the column in WHERE / ORDER BY and silently change comparisons.
 */
export const EVENT_ROW_SELECT = [
  'id',
  'type',
  'v',
  'ts',
  'session_id',
  'seq',
  'prev_hash',
  'hash',
  'agent',
  '`user`',
  'scopes',
  'client_ip',
  'user_agent',
  'server',
  'tool',
  'request_id',
  'args',
  'args_sha256',
  'decision_allowed',
  'decision_rule',
  'decision_policy_version',
  'outcome_status',
  'outcome_latency_ms',
  'outcome_result_sha256',
  'outcome_result_bytes',
  'outcome_error',
  'data',
].join(', ');
