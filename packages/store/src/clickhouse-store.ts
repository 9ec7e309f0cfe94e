import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import {
  canonicalJson,
  parseEvent,
  type CheckpointHead,
  type EventOf,
  type GatehouseEvent,
} from '@gatehouse/events';
import {
  ACTIVITY_EVENT_TYPES,
  SESSION_EVENT_TYPES,
  type ActivityOptions,
  type ActivityPage,
  type AuditStore,
  type CheckpointsNamingOptions,
  type InsertOptions,
  type ListSessionsOptions,
  type Page,
  type PreparedInsert,
  type SessionEventsOptions,
  type SessionIndexKeys,
  type SessionSummary,
  type ToolCounts,
} from './audit-store.js';
import { openClickHouseClient, type RawInsert } from './connection.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { StoreError, translateClickHouseError } from './errors.js';
import {
  dateParam,
  EVENT_ROW_SELECT,
  eventToRow,
  fromClickHouseTs,
  rowToEvent,
  rowValues,
  type EventRow,
} from './event-row.js';
import { EVENT_COLUMN_NAMES } from './migrations.js';
import { TsvPayload, tsvLine } from './tsv-row.js';
import { migrate, type MigrationReport } from './migrate.js';

/** Options of `openAuditStore`. */
export interface AuditStoreOptions {
  /** Gatehouse data dir; chDB keeps its files in `<dataDir>/clickhouse`. Used when `url` is unset. */
  dataDir?: string;
  /** ClickHouse HTTP URL (`CLICKHOUSE_URL`, e.g. `http://user:pass@host:8123`); selects HTTP over chDB. */
  url?: string;
  /** Database name (letters, digits, `_`). Default `gatehouse`. */
  database?: string;
  /** Drop events older than this many days (table TTL on `ts`). Default: keep forever. */
  ttlDays?: number;
  /** `max_threads` for every statement; keeps queries from starving the ingress. Default 2. */
  maxThreads?: number;
  /** HTTP request timeout in ms (HTTP mode only). Default 30,000. */
  requestTimeoutMs?: number;
  /**
   * Longest a read may run in ClickHouse, in ms (`max_execution_time`): past it the read fails with
   * status 504 instead of running on. chDB runs one parameterized query at a time per process, so
   * without a bound one expensive question would stall every other. Default 30,000.
   */
  queryTimeoutMs?: number;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_LIMIT = 10_000;
const SESSION_TYPES_SQL = SESSION_EVENT_TYPES.map((t) => `'${t}'`).join(', ');
const ACTIVITY_TYPES_SQL = ACTIVITY_EVENT_TYPES.map((t) => `'${t}'`).join(', ');

/**
 * Deduplication for reads of a narrow key range, instead of FINAL. Every copy of an event (the same
 * event inserted again under another token) is identical in every column, so keeping one row per
 * `id` is exact. FINAL costs far more here: it merges every part's overlapping ranges, and on
 * `events` — whose sort key starts with the Nullable `agent` — ClickHouse's exact-mode expansion of
 * skip-index selections for FINAL (`use_skip_indexes_if_final_exact_mode`) cannot compare Nullable
 * key values and falls back to reading the whole table (measured: 1.2 s instead of 15 ms for one
 * agent-day over 10M events). Single-row lookups (`LIMIT 1`, `LIMIT 1 BY server`) need neither.
 */
const DEDUP_BY_ID = 'LIMIT 1 BY id';

/**
 * Opens the ClickHouse audit store — chDB in-process under `dataDir` by default, a ClickHouse
 * server when `url` is given — and brings its schema up to date (see `migrations.ts`).
 * Rejects with `StoreError` (`GH_ERR_STORE_CONFIG` for bad options, `GH_ERR_STORE_MIGRATION`, …).
 */
export async function openAuditStore(options: AuditStoreOptions = {}): Promise<ClickHouseAuditStore> {
  const database = options.database ?? 'gatehouse';
  if (!IDENTIFIER.test(database)) {
    throw new StoreError(
      'GH_ERR_STORE_CONFIG',
      `database: ${JSON.stringify(database)} is not a plain identifier (letters, digits, _)`,
    );
  }
  const maxThreads = options.maxThreads ?? 2;
  if (!Number.isInteger(maxThreads) || maxThreads < 1 || maxThreads > 1024) {
    throw new StoreError(
      'GH_ERR_STORE_CONFIG',
      `maxThreads: expected an integer 1…1024, got ${String(maxThreads)}`,
    );
  }
  if (options.ttlDays !== undefined && (!Number.isInteger(options.ttlDays) || options.ttlDays < 1)) {
    throw new StoreError(
      'GH_ERR_STORE_CONFIG',
      `ttlDays: expected a positive integer, got ${String(options.ttlDays)}`,
    );
  }
  const queryTimeoutMs = options.queryTimeoutMs ?? 30_000;
  if (!Number.isInteger(queryTimeoutMs) || queryTimeoutMs < 1 || queryTimeoutMs > 3_600_000) {
    throw new StoreError(
      'GH_ERR_STORE_CONFIG',
      `queryTimeoutMs: expected an integer 1…3,600,000 (ms), got ${String(options.queryTimeoutMs)}`,
    );
  }
  const { client, kind, rawInsert } = openClickHouseClient({
    url: options.url,
    dataDir: options.dataDir,
    maxThreads,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
  });
  try {
    const report = await migrate(client, database, { ttlDays: options.ttlDays });
    return new ClickHouseAuditStore(
      client,
      kind,
      database,
      report,
      rawInsert,
      queryTimeoutMs,
      options.ttlDays,
    );
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
}

/** The `AuditStore` over `@clickhouse/client` (chDB or HTTP). */
export class ClickHouseAuditStore implements AuditStore {
  readonly kind: 'chdb' | 'http';
  readonly database: string;
  /** What the start-up migration did. */
  readonly migrations: MigrationReport;
  readonly #client: ClickHouseClient;
  readonly #rawInsert: RawInsert | undefined;
  readonly #queryTimeoutMs: number;
  /** The tables' retention (days), when they have one. */
  readonly #ttlDays: number | undefined;
  #closed = false;

  /** `rawInsert`: chDB's raw insert path; inserts go through `client.insert` without it. */
  constructor(
    client: ClickHouseClient,
    kind: 'chdb' | 'http',
    database: string,
    migrations: MigrationReport,
    rawInsert?: RawInsert,
    queryTimeoutMs = 30_000,
    ttlDays?: number,
  ) {
    this.#client = client;
    this.#ttlDays = ttlDays;
    this.#rawInsert = rawInsert;
    this.#queryTimeoutMs = queryTimeoutMs;
    this.kind = kind;
    this.database = database;
    this.migrations = migrations;
  }

  insertEvents(
    events: readonly GatehouseEvent[],
    dedupToken: string,
    options: InsertOptions = {},
  ): Promise<void> {
    try {
      checkToken(dedupToken);
      return this.prepareInsert(events, options)(dedupToken);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new TypeError(String(error)));
    }
  }

  prepareInsert(events: readonly GatehouseEvent[], options: InsertOptions = {}): PreparedInsert {
    this.#assertOpen('insertEvents');
    if (events.length === 0) return (dedupToken) => Promise.resolve(checkToken(dedupToken));
    const raw = this.#rawInsert;
    // chDB: one TabSeparated buffer for the raw insert; HTTP: JSONCompactEachRow rows for the client.
    const payload = raw === undefined ? undefined : new TsvPayload(events.length * 640);
    const rows: unknown[][] = raw === undefined ? new Array<unknown[]>(events.length) : [];
    for (let i = 0; i < events.length; i++) {
      const event = events[i];
      try {
        const row = eventToRow(options.validated ? event! : parseEvent(event));
        if (payload === undefined) rows[i] = rowValues(row);
        else payload.add(tsvLine(row));
      } catch (cause) {
        const id =
          typeof (event as { id?: unknown } | undefined)?.id === 'string'
            ? (event as { id: string }).id
            : 'without id';
        throw new StoreError(
          'GH_ERR_STORE_INVALID_EVENT',
          `insert into ${this.database}.events refused: event ${i} of ${events.length} (${id}) is invalid, nothing was written: ${cause instanceof Error ? cause.message : String(cause)}`,
          { cause, status: 400, operation: `insert into ${this.database}.events` },
        );
      }
    }
    const table = `${this.database}.events`;
    const values = payload?.bytes();
    const content = contentDigest(events);
    // optimize_on_insert=0: ReplacingMergeTree would otherwise sort-merge every inserted block (and
    // the view's copy) to collapse equal keys inside it — about a quarter of chDB's insert time, for
    // copies that a batch from the log almost never holds. Reads never rely on it: every query
    // deduplicates (FINAL or LIMIT 1 BY id), and background merges collapse copies as before.
    return async (batchToken) => {
      checkToken(batchToken);
      const dedupToken = `${batchToken}/${content}`;
      const operation = `insert of ${events.length} events into ${table} (token ${dedupToken})`;
      if (raw !== undefined && values !== undefined) {
        await this.#run(operation, () =>
          raw({
            table,
            columns: EVENT_COLUMN_NAMES,
            values,
            format: 'TabSeparated',
            settings: { insert_deduplication_token: dedupToken, optimize_on_insert: '0' },
          }),
        );
        return;
      }
      await this.#run(operation, () =>
        // JSONCompactEachRow: the same JSON values as JSONEachRow without repeating 27 keys per row
        // (about a third less to stringify and for ClickHouse to parse).
        this.#client.insert({
          table,
          columns: [...EVENT_COLUMN_NAMES],
          values: rows,
          format: 'JSONCompactEachRow',
          clickhouse_settings: { insert_deduplication_token: dedupToken, optimize_on_insert: 0 },
        }),
      );
    };
  }

  async sessionEvents(sessionId: string, options: SessionEventsOptions = {}): Promise<GatehouseEvent[]> {
    const fromSeq = options.fromSeq ?? 0;
    checkInteger('fromSeq', fromSeq, 0, Number.MAX_SAFE_INTEGER);
    if (options.limit !== undefined) checkInteger('limit', options.limit, 1, Number.MAX_SAFE_INTEGER);
    const dedup = options.allCopies === true ? '' : DEDUP_BY_ID;
    const limit = options.limit === undefined ? '' : ' LIMIT {limit:UInt64}';
    const params: Record<string, unknown> = {
      session: sessionId,
      fromSeq,
      ...(options.limit === undefined ? {} : { limit: options.limit }),
    };
    // `events_by_session` holds the session's keys only (migrations 6-8): first where its events
    // lie in `events` — per agent, the ts range of the wanted seqs — then their full rows from
    // `events`, each agent's range one primary-key range of (agent, ts, id). Two plain queries
    // rather than one IN-subquery, so that the same SQL runs against the Distributed tables of the
    // scale-out schema (no double-distributed subquery) and a NULL agent needs no setting.
    const ranges = await this.#select<{ agent: string | null; lo: string; hi: string; top: string }>(
      `session key ranges of ${this.database}.events_by_session`,
      `SELECT agent, toString(min(ts)) AS lo, toString(max(ts)) AS hi, toString(max(seq)) AS top FROM (
         SELECT agent, ts, seq FROM ${this.database}.events_by_session
         WHERE session_id = {session:String} AND seq >= {fromSeq:UInt64}
         ORDER BY seq, id ${dedup}${limit})
       GROUP BY agent`,
      params,
    );
    if (ranges.length === 0) return [];
    // The seqs the keys read cover, too: a clock that stepped back puts a later seq inside the ts
    // ranges, which would take the place of one of these under the limit.
    params.toSeq = ranges
      .reduce((top, range) => (BigInt(range.top) > top ? BigInt(range.top) : top), 0n)
      .toString();
    const where = ranges.map((range, i) => {
      params[`lo${i}`] = range.lo;
      params[`hi${i}`] = range.hi;
      if (range.agent === null)
        return `(agent IS NULL AND ts BETWEEN {lo${i}:DateTime64(3, 'UTC')} AND {hi${i}:DateTime64(3, 'UTC')})`;
      params[`agent${i}`] = range.agent;
      return `(agent = {agent${i}:String} AND ts BETWEEN {lo${i}:DateTime64(3, 'UTC')} AND {hi${i}:DateTime64(3, 'UTC')})`;
    });
    const rows = await this.#select<EventRow>(
      `session events of ${this.database}.events`,
      // No FINAL: a copy of an event is the same row in every column (the id fixes the event), so
      // `LIMIT 1 BY id` over the session's few rows removes copies at a fraction of FINAL's cost.
      `SELECT ${EVENT_ROW_SELECT} FROM ${this.database}.events
       WHERE (${where.join(' OR ')}) AND session_id = {session:String}
         AND seq >= {fromSeq:UInt64} AND seq <= {toSeq:UInt64}
       ORDER BY seq, id ${dedup}${limit}`,
      params,
    );
    return rows.map(rowToEvent);
  }

  async sessionIndexKeys(sessionId: string, afterSeq = -1): Promise<SessionIndexKeys | undefined> {
    checkInteger('afterSeq', afterSeq, -1, Number.MAX_SAFE_INTEGER);
    const params: Record<string, unknown> = { session: sessionId, after: afterSeq };
    let retained = '';
    if (this.#ttlDays !== undefined) {
      // Keys the retention may already have removed from `events` (each table expires its rows in
      // its own merges), with an hour's margin for clocks.
      retained = " AND ts >= now64(3, 'UTC') - INTERVAL {ttlDays:UInt32} DAY + INTERVAL 1 HOUR";
      params.ttlDays = this.#ttlDays;
    }
    const [row] = await this.#select<{ keys: string; head: string; first_seq: string; first_ts: string }>(
      `session index keys of ${this.database}.events_by_session`,
      // No FINAL: copies of a key carry the same seq and ts.
      `SELECT count() AS keys, toString(max(seq)) AS head, toString(min(seq)) AS first_seq,
              toString(argMin(ts, seq)) AS first_ts
       FROM ${this.database}.events_by_session
       WHERE session_id = {session:String} AND toInt64(seq) > {after:Int64}${retained}`,
      params,
    );
    if (row === undefined || Number(row.keys) === 0) return undefined;
    return { head: Number(row.head), first: { seq: Number(row.first_seq), ts: row.first_ts } };
  }

  async listSessions(options: ListSessionsOptions): Promise<Page<SessionSummary>> {
    checkInteger('limit', options.limit, 1, MAX_LIMIT);
    const params: Record<string, unknown> = { limit: options.limit + 1 };
    const inner: string[] = [`type IN (${SESSION_TYPES_SQL})`];
    if (options.agent !== undefined) {
      inner.push('agent = {agent:String}');
      params.agent = options.agent;
    }
    if (options.from !== undefined) {
      inner.push("ts >= {from:DateTime64(3, 'UTC')}");
      params.from = dateParam(options.from, 'from');
    }
    if (options.to !== undefined) {
      inner.push("ts < {to:DateTime64(3, 'UTC')}");
      params.to = dateParam(options.to, 'to');
    }
    let having = '';
    if (options.cursor !== undefined) {
      const key = decodeCursor('sessions', options.cursor);
      having = "HAVING (min(ts), session_id) < ({cursorTs:DateTime64(3, 'UTC')}, {cursorId:String})";
      params.cursorTs = key.ts;
      params.cursorId = key.id;
    }
    const rows = await this.#select<{
      session_id: string;
      s_agent: string | null;
      s_user: string | null;
      first_ts: string;
      last_ts: string;
      events: string;
      calls: string;
      denied: string;
    }>(
      `session list of ${this.database}.events_by_session`,
      `SELECT session_id, any(agent) AS s_agent, any(\`user\`) AS s_user, toString(min(ts)) AS first_ts, toString(max(ts)) AS last_ts,
              count() AS events, countIf(type IN ('call.attempted', 'call.denied')) AS calls, countIf(type = 'call.denied') AS denied
       FROM ${this.database}.events_by_session FINAL
       WHERE session_id IN (SELECT session_id FROM ${this.database}.events WHERE ${inner.join(' AND ')})
       GROUP BY session_id
       ${having}
       ORDER BY min(ts) DESC, session_id DESC
       LIMIT {limit:UInt32}`,
      params,
    );
    const page = rows.slice(0, options.limit);
    const items = page.map((row) => ({
      session_id: row.session_id,
      agent: row.s_agent,
      user: row.s_user,
      first_ts: fromClickHouseTs(row.first_ts),
      last_ts: fromClickHouseTs(row.last_ts),
      events: Number(row.events),
      calls: Number(row.calls),
      denied: Number(row.denied),
    }));
    const last = page.at(-1);
    return rows.length > options.limit && last !== undefined
      ? { items, nextCursor: encodeCursor('sessions', last.first_ts, last.session_id) }
      : { items };
  }

  async activity(options: ActivityOptions): Promise<ActivityPage> {
    checkInteger('limit', options.limit, 1, MAX_LIMIT);
    const range = {
      agent: options.agent,
      from: dateParam(options.from, 'from'),
      to: dateParam(options.to, 'to'),
    };
    const where = `agent = {agent:String} AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')} AND type IN (${ACTIVITY_TYPES_SQL})`;
    const params: Record<string, unknown> = { ...range, limit: options.limit + 1 };
    let after = '';
    if (options.cursor !== undefined) {
      const key = decodeCursor('activity', options.cursor);
      if (!UUID.test(key.id)) throw new StoreError('GH_ERR_STORE_CURSOR', 'cursor: not a cursor of activity');
      after = " AND (ts, id) > ({cursorTs:DateTime64(3, 'UTC')}, {cursorId:UUID})";
      params.cursorTs = key.ts;
      params.cursorId = key.id;
    }
    const table = `${this.database}.events`;
    const rows = await this.#select<EventRow>(
      `activity of ${table}`,
      // No FINAL (see `DEDUP_BY_ID`): the key range of one agent's window is read in key order and
      // copies are dropped by id.
      `SELECT ${EVENT_ROW_SELECT} FROM ${table} WHERE ${where}${after} ORDER BY ts, id ${DEDUP_BY_ID} LIMIT {limit:UInt32}`,
      params,
    );
    const counts = await this.#select<{
      tool: string;
      n_attempted: string;
      n_allowed: string;
      n_denied: string;
      n_ok: string;
      n_error: string;
    }>(
      `per-tool counts of ${table}`,
      `SELECT tool,
              countIf(type IN ('call.attempted', 'call.denied')) AS n_attempted,
              countIf(type = 'call.attempted' AND decision_allowed = true) AS n_allowed,
              countIf(type = 'call.denied') AS n_denied,
              countIf(type = 'call.completed' AND outcome_status = 'ok') AS n_ok,
              countIf(type = 'call.failed' OR (type = 'call.completed' AND outcome_status != 'ok')) AS n_error
       FROM (SELECT id, tool, type, decision_allowed, outcome_status FROM ${table}
             WHERE ${where} AND tool IS NOT NULL ${DEDUP_BY_ID})
       GROUP BY tool ORDER BY tool`,
      range,
    );
    const page = rows.slice(0, options.limit);
    const items = page.map(rowToEvent);
    const tools: ToolCounts[] = counts.map((row) => ({
      tool: row.tool,
      attempted: Number(row.n_attempted),
      allowed: Number(row.n_allowed),
      denied: Number(row.n_denied),
      ok: Number(row.n_ok),
      error: Number(row.n_error),
    }));
    const last = page.at(-1);
    return rows.length > options.limit && last !== undefined
      ? { items, tools, nextCursor: encodeCursor('activity', last.ts, last.id) }
      : { items, tools };
  }

  async policyAt(at: Date): Promise<EventOf<'policy.published'> | undefined> {
    const rows = await this.#select<EventRow>(
      `policy in force from ${this.database}.events`,
      `SELECT ${EVENT_ROW_SELECT} FROM ${this.database}.events
       WHERE type = 'policy.published' AND ts <= {at:DateTime64(3, 'UTC')}
       ORDER BY ts DESC, seq DESC, id DESC LIMIT 1`,
      { at: dateParam(at, 'at') },
    );
    return rows[0] === undefined ? undefined : (rowToEvent(rows[0]) as EventOf<'policy.published'>);
  }

  async policyByVersion(version: string): Promise<EventOf<'policy.published'> | undefined> {
    const rows = await this.#select<EventRow>(
      `policy by version from ${this.database}.events`,
      `SELECT ${EVENT_ROW_SELECT} FROM ${this.database}.events
       WHERE type = 'policy.published' AND JSONExtractString(data, 'version') = {version:String}
       ORDER BY ts, seq, id LIMIT 1`,
      { version },
    );
    return rows[0] === undefined ? undefined : (rowToEvent(rows[0]) as EventOf<'policy.published'>);
  }

  async publishedSince(
    since?: Date,
  ): Promise<Array<EventOf<'policy.published'> | EventOf<'catalog.published'>>> {
    const params: Record<string, unknown> = {};
    let after = '';
    if (since !== undefined) {
      after = " AND ts >= {since:DateTime64(3, 'UTC')}";
      params.since = dateParam(since, 'since');
    }
    const rows = await this.#select<EventRow>(
      `publications from ${this.database}.events`,
      // Publications carry no agent: one primary-key range of (agent, ts, id).
      `SELECT ${EVENT_ROW_SELECT} FROM ${this.database}.events
       WHERE agent IS NULL AND type IN ('policy.published', 'catalog.published')${after}
       ORDER BY ts, id ${DEDUP_BY_ID}`,
      params,
    );
    return rows.map((row) => rowToEvent(row) as EventOf<'policy.published'> | EventOf<'catalog.published'>);
  }

  async catalogsAt(at: Date): Promise<EventOf<'catalog.published'>[]> {
    const rows = await this.#select<EventRow>(
      `catalogs in force from ${this.database}.events`,
      `SELECT ${EVENT_ROW_SELECT} FROM ${this.database}.events
       WHERE type = 'catalog.published' AND ts <= {at:DateTime64(3, 'UTC')}
       ORDER BY server, ts DESC, seq DESC, id DESC LIMIT 1 BY server`,
      { at: dateParam(at, 'at') },
    );
    return rows.map((row) => rowToEvent(row) as EventOf<'catalog.published'>);
  }

  async checkpointsNaming(
    sessionId: string,
    options: CheckpointsNamingOptions,
  ): Promise<EventOf<'checkpoint.signed'>[]> {
    checkInteger('limit', options.limit, 1, MAX_LIMIT);
    // `data` is canonical JSON: the member `"session_id":"<id>"` (quotes inside strings are
    // escaped, so the needle matches only the member itself) occurs where a head names the session.
    const params: Record<string, unknown> = {
      needle: `"session_id":${canonicalJson(sessionId)}`,
      limit: options.limit,
    };
    const where = [
      // Checkpoints carry no agent: one primary-key range of (agent, ts, id).
      'agent IS NULL',
      "type = 'checkpoint.signed'",
      'position(data, {needle:String}) > 0',
    ];
    if (options.since !== undefined) {
      where.push("ts >= {since:DateTime64(3, 'UTC')}");
      params.since = dateParam(options.since, 'since');
    }
    if (options.before !== undefined) {
      where.push("(ts, id) < ({beforeTs:DateTime64(3, 'UTC')}, {beforeId:UUID})");
      params.beforeTs = dateParam(new Date(options.before.ts), 'before.ts');
      params.beforeId = options.before.id;
    }
    const rows = await this.#select<EventRow>(
      `checkpoints naming a session from ${this.database}.events`,
      `SELECT ${EVENT_ROW_SELECT} FROM ${this.database}.events
       WHERE ${where.join(' AND ')}
       ORDER BY ts DESC, id DESC LIMIT {limit:UInt32}`,
      params,
    );
    return rows.map((row) => rowToEvent(row) as EventOf<'checkpoint.signed'>);
  }

  async latestHeads(options: { since?: Date } = {}): Promise<CheckpointHead[]> {
    const table = `${this.database}.events_by_session`;
    const params: Record<string, unknown> = {};
    let where = '';
    if (options.since !== undefined) {
      where = `WHERE session_id IN (SELECT session_id FROM ${this.database}.events WHERE ts >= {since:DateTime64(3, 'UTC')})`;
      params.since = dateParam(options.since, 'since');
    }
    const rows = await this.#select<{ session_id: string; head_seq: string; head_hash: string }>(
      `chain heads of ${table}`,
      // No FINAL: copies of an event carry the same seq and hash, so max/argMax are unchanged by them.
      `SELECT session_id, max(seq) AS head_seq, argMax(hash, seq) AS head_hash FROM ${table} ${where}
       GROUP BY session_id ORDER BY session_id`,
      params,
    );
    return rows.map((row) => ({
      session_id: row.session_id,
      seq: Number(row.head_seq),
      hash: row.head_hash,
    }));
  }

  async countEvents(): Promise<number> {
    const rows = await this.#select<{ n: string }>(
      `event count of ${this.database}.events`,
      `SELECT count() AS n FROM ${this.database}.events FINAL`,
      {},
    );
    return Number(rows[0]?.n ?? 0);
  }

  async ping(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      const result = await this.#client.ping();
      return result.success;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.close();
  }

  async #select<T>(operation: string, query: string, params: Record<string, unknown>): Promise<T[]> {
    this.#assertOpen(operation);
    try {
      return await this.#run(operation, async () => {
        const result = await this.#client.query({
          query,
          query_params: params,
          format: 'JSONEachRow',
          clickhouse_settings: { max_execution_time: this.#queryTimeoutMs / 1000 },
        });
        return result.json<T>();
      });
    } catch (error) {
      // TIMEOUT_EXCEEDED: the same question would run out of time again; not an outage.
      if (error instanceof StoreError && error.clickhouseCode === 159)
        throw new StoreError(
          'GH_ERR_STORE_QUERY',
          `${operation}: the query ran longer than the ${this.#queryTimeoutMs} ms the store allows; ask about a shorter time range`,
          { status: 504, retryable: false, cause: error, operation, clickhouseCode: 159 },
        );
      throw error;
    }
  }

  async #run<T>(operation: string, run: () => Promise<T>): Promise<T> {
    this.#assertOpen(operation);
    try {
      return await run();
    } catch (error) {
      throw translateClickHouseError(operation, error);
    }
  }

  #assertOpen(operation: string): void {
    if (this.#closed)
      throw new StoreError('GH_ERR_STORE_CLOSED', `${operation}: the audit store was closed`, { operation });
  }
}

function checkToken(dedupToken: string): void {
  if (typeof dedupToken !== 'string' || dedupToken.length === 0 || dedupToken.length > MAX_TOKEN_LENGTH) {
    throw new StoreError(
      'GH_ERR_STORE_CONFIG',
      `insertEvents: dedupToken must be a non-empty string of at most ${MAX_TOKEN_LENGTH} characters`,
    );
  }
}

/** The caller's token, before the store appends `/<content digest>` to it. */
const MAX_TOKEN_LENGTH = 990;

/**
 * What the store appends to a batch's token: the first 128 bits (hex) of the SHA-256 of its event
 * ids. A token names a range of a log (`embedded/0/0-1`), and ranges repeat — a new embedded log
 * writing into an existing ClickHouse, a Kafka topic created again, a second deployment sharing
 * one database — where ClickHouse would take a repeated token for a repeat of the insert and drop
 * the new events without a word. Event ids are UUIDv7, so the digest tells apart batches of
 * different logs, and a re-read of the same range gives the same one.
 */
function contentDigest(events: readonly GatehouseEvent[]): string {
  const hash = createHash('sha256');
  for (const event of events) hash.update(event.id).update('\n');
  return hash.digest('hex').slice(0, 32);
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new StoreError(
      'GH_ERR_STORE_CONFIG',
      `${name}: expected an integer ${min}…${max}, got ${String(value)}`,
    );
  }
}
