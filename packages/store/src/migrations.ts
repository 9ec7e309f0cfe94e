/**
 * The ClickHouse schema, as an ordered list of migrations. Each migration is ONE named statement,
 * written so that running it again is harmless (`IF NOT EXISTS`), and is recorded in
 * `<db>.schema_migrations` once it succeeded. Never edit a released migration: add the next one.
 * `{db}` is replaced by the (validated) database name.
 *
 * Tables
 *
 *   events             one row per event, every envelope field in its own column so a session can be
 *                      rebuilt and re-hashed from the columns alone (see `event-row.ts`).
 *                      ReplacingMergeTree ordered by (agent, ts, id): "what did agent X do between A
 *                      and B" reads one contiguous key range. Same event inserted twice → same key →
 *                      collapsed by merges; every read deduplicates too (FINAL, or `LIMIT 1 BY id`
 *                      over a narrow key range — see `clickhouse-store.ts`), so no query sees it twice.
 *   events_by_session  the session index: (id, type, ts, session_id, seq, hash, agent, user) of every
 *                      event, ordered by (session_id, seq, id), filled by the materialized view
 *                      `events_by_session_mv` on each insert. Session listings and chain heads read
 *                      it alone; replay and verification find a session's events in it (per agent,
 *                      the ts range) and read their full rows from `events` by primary key.
 *                      Until migration 8 it held every column; the copy of the wide columns was a
 *                      fifth of the CPU of projecting an event, so migrations 6-8 narrow it in place
 *                      (the rows and the key columns are kept; `ALTER … DROP COLUMN`).
 *
 * Both tables keep a deduplication window for non-replicated MergeTree so that an INSERT repeated
 * with the same `insert_deduplication_token` (a projector batch delivered twice) writes nothing.
 *
 * Merges (migrations 4, 5): `merge_selector_base = 10` instead of ClickHouse's 5. The projector
 * writes one part per batch (1k–20k rows), and merging them was about a quarter of the CPU of
 * projecting an event; a base of 10 lets about ten similar-sized parts gather before they are
 * merged instead of five, so each row is rewritten fewer times over its life (≈ log₁₀ instead of
 * log₅ of the part count) at the price of a few more active parts for reads to open (measured:
 * 300k events in 5k batches leave 14 parts instead of 8 per table).
 *
 * Scale-out variant (ClickHouse cluster): create the same tables as
 * `ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/events', '{replica}')` (the
 * replicated engines deduplicate inserts by default, so the window setting is not needed), add
 * `Distributed(<cluster>, {db}, events, cityHash64(session_id))` tables in front, and point the
 * store at the Distributed tables; the queries are unchanged.
 */
export interface Migration {
  /** Strictly increasing, starting at 1. */
  readonly version: number;
  /** Short kebab-case name, recorded next to the version. */
  readonly name: string;
  /** One statement; `{db}` is the database name. */
  readonly sql: string;
  /**
   * Runs only when `{db}.<onlyForMergeTree>` is a *MergeTree table. Elsewhere — the Distributed
   * tables of the scale-out schema, whose local tables `infra/clickhouse/schema-replicated.sql`
   * declares with the same change — it is recorded as applied without running.
   */
  readonly onlyForMergeTree?: string;
}

const EVENT_COLUMNS = `
  id UUID,
  type LowCardinality(String),
  v UInt8,
  ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  session_id String,
  seq UInt64,
  prev_hash String,
  hash String,
  agent LowCardinality(Nullable(String)),
  \`user\` LowCardinality(Nullable(String)),
  scopes Array(LowCardinality(String)),
  client_ip Nullable(String),
  user_agent LowCardinality(Nullable(String)),
  server LowCardinality(Nullable(String)),
  tool LowCardinality(Nullable(String)),
  request_id Nullable(String),
  args Nullable(String) CODEC(ZSTD(3)),
  args_sha256 Nullable(String),
  decision_allowed Nullable(Bool),
  decision_rule LowCardinality(Nullable(String)),
  decision_policy_version LowCardinality(Nullable(String)),
  outcome_status LowCardinality(Nullable(String)),
  outcome_latency_ms Nullable(Float64),
  outcome_result_sha256 Nullable(String),
  outcome_result_bytes Nullable(UInt64),
  outcome_error Nullable(String),
  data String CODEC(ZSTD(3))`;

/** Column names of `events` (and of `events_by_session` before migration 7), in declaration order. */
export const EVENT_COLUMN_NAMES = [
  'id',
  'type',
  'v',
  'ts',
  'session_id',
  'seq',
  'prev_hash',
  'hash',
  'agent',
  'user',
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
] as const;

/** Columns `events_by_session` keeps from migration 8 on (what listings, chain heads and the lookup of a session's rows in `events` need). */
export const EVENT_BY_SESSION_COLUMNS = [
  'id',
  'type',
  'ts',
  'session_id',
  'seq',
  'hash',
  'agent',
  'user',
] as const;

/** The event columns `events_by_session` no longer carries (migration 7). */
const EVENT_BY_SESSION_DROPPED = EVENT_COLUMN_NAMES.filter(
  (c) => !(EVENT_BY_SESSION_COLUMNS as readonly string[]).includes(c),
);

/** Deduplication window (blocks) for inserts repeated with the same token. */
const DEDUP_WINDOW = 10_000;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events',
    sql: `CREATE TABLE IF NOT EXISTS {db}.events (${EVENT_COLUMNS},
  INDEX type_idx type TYPE set(0) GRANULARITY 4,
  INDEX session_idx session_id TYPE bloom_filter(0.01) GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (agent, ts, id)
SETTINGS allow_nullable_key = 1, non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
  },
  {
    version: 2,
    name: 'events-by-session',
    sql: `CREATE TABLE IF NOT EXISTS {db}.events_by_session (${EVENT_COLUMNS},
  INDEX type_idx type TYPE set(0) GRANULARITY 4
) ENGINE = ReplacingMergeTree
ORDER BY (session_id, seq, id)
SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
  },
  {
    version: 3,
    name: 'events-by-session-mv',
    sql: `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_by_session_mv TO {db}.events_by_session AS
SELECT ${EVENT_COLUMN_NAMES.map((c) => `\`${c}\``).join(', ')} FROM {db}.events`,
  },
  {
    version: 4,
    name: 'events-merge-selector-base',
    sql: `ALTER TABLE {db}.events MODIFY SETTING merge_selector_base = 10`,
    onlyForMergeTree: 'events',
  },
  {
    version: 5,
    name: 'events-by-session-merge-selector-base',
    sql: `ALTER TABLE {db}.events_by_session MODIFY SETTING merge_selector_base = 10`,
    onlyForMergeTree: 'events_by_session',
  },
  {
    version: 6,
    name: 'events-by-session-mv-drop',
    sql: `DROP VIEW IF EXISTS {db}.events_by_session_mv`,
    onlyForMergeTree: 'events_by_session',
  },
  {
    version: 7,
    name: 'events-by-session-narrow',
    sql: `ALTER TABLE {db}.events_by_session ${EVENT_BY_SESSION_DROPPED.map((c) => `DROP COLUMN IF EXISTS \`${c}\``).join(', ')}`,
    onlyForMergeTree: 'events_by_session',
  },
  {
    version: 8,
    name: 'events-by-session-mv-narrow',
    sql: `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_by_session_mv TO {db}.events_by_session AS
SELECT ${EVENT_BY_SESSION_COLUMNS.map((c) => `\`${c}\``).join(', ')} FROM {db}.events`,
    onlyForMergeTree: 'events_by_session',
  },
];

/** Tables that carry event rows and follow the configured TTL. */
export const EVENT_TABLES = ['events', 'events_by_session'] as const;
