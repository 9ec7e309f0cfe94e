-- Gatehouse audit schema, scale-out variant: ClickHouse cluster `gatehouse` (see config.xml),
-- Replicated tables on every node (ON CLUSTER), Distributed tables in front of them.
--
-- The single-node schema (packages/store/src/migrations.ts) creates `gatehouse.events` and
-- `gatehouse.events_by_session` (the session index: keys and hash only) as ReplacingMergeTree.
-- Here the same columns are stored in `*_local` ReplicatedReplacingMergeTree tables, sharded by
-- session (cityHash64(session_id)) so a session's events live on one shard, and `gatehouse.events` / `gatehouse.events_by_session` are
-- Distributed tables with the names the store queries, so the store's SQL is unchanged.
--
-- Idempotence: replicated tables deduplicate a repeated INSERT block by its
-- insert_deduplication_token (the projector's batch ranges `<topic>/<partition>/<first>-<last>`
-- joined by `+`, then `/` and a digest of the batch's event ids);
-- `insert_distributed_sync = 1` (set in users.xml for the services' user) makes the Distributed
-- INSERT forward the block synchronously so the projector commits its Kafka offsets only after
-- the shards acknowledged. Queries use FINAL or dedup by id, so a row written twice still
-- counts once.
--
-- Merges: merge_selector_base = 10 (ClickHouse's default is 5) as in the single-node schema's
-- migrations 4 and 5 — fewer rewrites of each row for the many small parts the projector writes.
--
-- Apply once, on any node:  clickhouse-client --multiquery < schema-replicated.sql
-- then start the services with CLICKHOUSE_URL pointing at any node; their migration step sees the
-- tables exist (CREATE ... IF NOT EXISTS) and records its versions.

CREATE DATABASE IF NOT EXISTS gatehouse ON CLUSTER gatehouse;

CREATE TABLE IF NOT EXISTS gatehouse.events_local ON CLUSTER gatehouse
(
  id UUID,
  type LowCardinality(String),
  v UInt8,
  ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  session_id String,
  seq UInt64,
  prev_hash String,
  hash String,
  agent LowCardinality(Nullable(String)),
  `user` LowCardinality(Nullable(String)),
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
  data String CODEC(ZSTD(3)),
  INDEX type_idx type TYPE set(0) GRANULARITY 4,
  INDEX session_idx session_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/gatehouse/events', '{replica}')
ORDER BY (agent, ts, id)
SETTINGS allow_nullable_key = 1, merge_selector_base = 10;

-- The session index: the key columns and hash of every event (as the single-node schema after its
-- migration 8); replay reads the full rows from `events` by primary key. A table created by an
-- earlier version of this file with every column still works (the store reads only these).
CREATE TABLE IF NOT EXISTS gatehouse.events_by_session_local ON CLUSTER gatehouse (
  id UUID,
  type LowCardinality(String),
  ts DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  session_id String,
  seq UInt64,
  hash String,
  agent LowCardinality(Nullable(String)),
  `user` LowCardinality(Nullable(String)),
  INDEX type_idx type TYPE set(0) GRANULARITY 4
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/gatehouse/events_by_session', '{replica}')
ORDER BY (session_id, seq, id)
SETTINGS merge_selector_base = 10;

-- Each shard keeps its own session index of the rows it receives.
CREATE MATERIALIZED VIEW IF NOT EXISTS gatehouse.events_by_session_mv ON CLUSTER gatehouse
TO gatehouse.events_by_session_local
AS SELECT id, type, ts, session_id, seq, hash, agent, `user` FROM gatehouse.events_local;

-- What the store reads and writes.
CREATE TABLE IF NOT EXISTS gatehouse.events ON CLUSTER gatehouse
AS gatehouse.events_local
ENGINE = Distributed(gatehouse, gatehouse, events_local, cityHash64(session_id));

CREATE TABLE IF NOT EXISTS gatehouse.events_by_session ON CLUSTER gatehouse
AS gatehouse.events_by_session_local
ENGINE = Distributed(gatehouse, gatehouse, events_by_session_local, cityHash64(session_id));
