import type { CheckpointHead, EventOf, GatehouseEvent } from '@gatehouse/events';

/**
 * The AuditStore port: the queryable projection of the event log.
 *
 * Guarantees every implementation gives:
 * - `insertEvents` is all-or-nothing per batch and idempotent per `dedupToken`; the same event
 *   inserted again under another token is still never returned or counted twice by any query.
 * - Every query answers from deduplicated data (by event `id`).
 * - Events come back exactly as sealed: `computeEventHash(event) === event.hash` unless the stored
 *   row was altered after insertion, which is how verification detects tampering in the store.
 * - Failures reject with `StoreError` (`GH_ERR_STORE_*`), `retryable` set for transient ones.
 *
 * Time ranges are half-open: `from` inclusive, `to` exclusive. Timestamps are UTC, millisecond
 * precision.
 */
export interface AuditStore {
  /** `chdb` (in-process, under the data dir) or `http` (a ClickHouse server), for logs and health. */
  readonly kind: 'chdb' | 'http';
  /** The ClickHouse database holding the tables. */
  readonly database: string;

  /**
   * Validates every event (`parseEvent`) and inserts the batch as ONE INSERT with
   * `insert_deduplication_token = <dedupToken>/<digest of the batch's event ids>` (`dedupToken`:
   * at most 990 characters): the same batch read again is dropped as a repeat, while a batch of
   * another log that happens to carry the same range token is not. A bad event rejects the whole batch
   * (`GH_ERR_STORE_INVALID_EVENT`, naming its index and id) with nothing written. An empty batch
   * resolves without contacting ClickHouse.
   */
  insertEvents(events: readonly GatehouseEvent[], dedupToken: string, options?: InsertOptions): Promise<void>;

  /**
   * Optional: `insertEvents` in two steps, so that a caller can encode the next batch while the
   * previous one is still being written. Validates and encodes now (synchronously; throws
   * `GH_ERR_STORE_INVALID_EVENT` as `insertEvents` would reject) and returns the insert, to be run
   * later with the batch's token — with exactly `insertEvents`' semantics. The returned function
   * may be called again (a retry) with the same token.
   */
  prepareInsert?(events: readonly GatehouseEvent[], options?: InsertOptions): PreparedInsert;

  /** One session's (or named stream's) events ordered by `seq`: replay and verification input. */
  sessionEvents(sessionId: string, options?: SessionEventsOptions): Promise<GatehouseEvent[]>;
  /**
   * The session's keys in the session index (`events_by_session`, filled from every insert into
   * `events`) with seq past `afterSeq` (default: all): the highest seq, and the first key; undefined
   * when it lists none. Keys the store's retention may have expired are left out. For verification:
   * a key whose row is gone from `events` was deleted there, and reading `events` alone cannot tell.
   */
  sessionIndexKeys(sessionId: string, afterSeq?: number): Promise<SessionIndexKeys | undefined>;

  /** MCP sessions with at least one event in [from, to), newest first, keyset-paginated. */
  listSessions(options: ListSessionsOptions): Promise<Page<SessionSummary>>;

  /**
   * One agent's call events (`call.*`, `tools.listed`) in [from, to), oldest first, paginated on
   * (ts, id), plus per-tool counts over the whole range (not just the page).
   */
  activity(options: ActivityOptions): Promise<ActivityPage>;

  /** The latest `policy.published` event with ts ≤ `at`, or undefined when none was in force. */
  policyAt(at: Date): Promise<EventOf<'policy.published'> | undefined>;

  /** The first `policy.published` event whose `data.version` is `version`, or undefined. */
  policyByVersion(version: string): Promise<EventOf<'policy.published'> | undefined>;

  /**
   * Every `policy.published` and `catalog.published` event (with `since`: ts at or after it),
   * oldest first (ts, then id), one row per id — whatever stream carries them: an ingress that
   * restarts without its old head, or several ingress nodes, publish on chains of their own.
   */
  publishedSince(since?: Date): Promise<Array<EventOf<'policy.published'> | EventOf<'catalog.published'>>>;

  /** Per upstream server, the latest `catalog.published` event with ts ≤ `at` (sorted by server). */
  catalogsAt(at: Date): Promise<EventOf<'catalog.published'>[]>;

  /**
   * The head (highest seq and its hash) of every chain, sorted by session id — input for signed
   * checkpoints. With `since`, only chains that have an event at or after it.
   */
  latestHeads(options?: { since?: Date }): Promise<CheckpointHead[]>;

  /**
   * `checkpoint.signed` events whose `data.heads` name `sessionId`, newest first (ts, then id),
   * every stored row (copies of one id included: a checkpoint forged under an existing id must not
   * hide behind deduplication). Candidates only, as stored: nothing here is verified, and the
   * caller checks each one's signature and payload. Keyset-paginated with `before` (the last row of the previous page).
   */
  checkpointsNaming(
    sessionId: string,
    options: CheckpointsNamingOptions,
  ): Promise<EventOf<'checkpoint.signed'>[]>;

  /** Number of distinct events stored. */
  countEvents(): Promise<number>;

  /** True when ClickHouse answers a trivial query. Never throws. */
  ping(): Promise<boolean>;

  /** Releases the connection (and chDB's data dir). Further calls reject with `GH_ERR_STORE_CLOSED`. */
  close(): Promise<void>;
}

/** What `AuditStore.sessionIndexKeys` answers. */
export interface SessionIndexKeys {
  /** The highest seq listed. */
  head: number;
  /** The first key listed: its seq and its event's ts (ClickHouse text, UTC). */
  first: { seq: number; ts: string };
}

export interface SessionEventsOptions {
  /** Only events with seq ≥ this. Default 0. */
  fromSeq?: number;
  /** At most this many events. Default: all. */
  limit?: number;
  /**
   * Every stored row, copies of one event id included (default: one row per id). For
   * verification: a row forged under an existing id must not hide behind the deduplication.
   */
  allCopies?: boolean;
}

export interface CheckpointsNamingOptions {
  /** Only checkpoints with ts at or after this instant. */
  since?: Date;
  /** Only checkpoints ordered before this one (ts, id): the last row of the previous page. */
  before?: { ts: string; id: string };
  /** At most this many rows, 1…10,000. */
  limit: number;
}

/** A page of results; pass `nextCursor` back as `cursor` for the next page (absent on the last). */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

export interface ListSessionsOptions {
  /** Only sessions of this agent (OAuth client_id). */
  agent?: string;
  /** Sessions with an event at or after this instant. */
  from?: Date;
  /** Sessions with an event before this instant. */
  to?: Date;
  /** Page size, 1…10,000. */
  limit: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** One MCP session, aggregated over all its events (not only those inside the queried range). */
export interface SessionSummary {
  session_id: string;
  agent: string | null;
  user: string | null;
  /** ISO 8601 UTC with ms. */
  first_ts: string;
  last_ts: string;
  /** Number of events in the session. */
  events: number;
  /** tools/call requests the session made: `call.attempted` (allowed) plus `call.denied` (refused). */
  calls: number;
  /** `call.denied` events. */
  denied: number;
}

/** A batch validated and encoded by `prepareInsert`; resolves once the batch is stored. */
export type PreparedInsert = (dedupToken: string) => Promise<void>;

/** Options of `insertEvents`. */
export interface InsertOptions {
  /**
   * The events were already checked against the event schema — as every `LogBatch` is, since the
   * log adapters decode with `decodeEvent` — so the store skips its own check (about 8 µs an
   * event on the projector's hot path). Default false: untrusted input is validated.
   */
  validated?: boolean;
}

export interface ActivityOptions {
  agent: string;
  from: Date;
  to: Date;
  /** Page size, 1…10,000. */
  limit: number;
  cursor?: string;
}

/**
 * Per-tool counts over a range. An allowed tools/call yields `call.attempted` (with the decision,
 * before forwarding) and then `call.completed` or `call.failed`; a refused one yields `call.denied`
 * alone (nothing was forwarded, so there is nothing to attempt).
 */
export interface ToolCounts {
  tool: string;
  /** Every tools/call for the tool: `call.attempted` plus `call.denied`. */
  attempted: number;
  /** `call.attempted` events whose decision allowed the call. */
  allowed: number;
  /** `call.denied` events. */
  denied: number;
  /** `call.completed` with outcome status ok. */
  ok: number;
  /** `call.completed` with a non-ok status (tool reported an error) plus every `call.failed`. */
  error: number;
}

export interface ActivityPage extends Page<GatehouseEvent> {
  tools: ToolCounts[];
}

/** Event types that make a chain an MCP session (as opposed to a named stream). */
export const SESSION_EVENT_TYPES = [
  'session.started',
  'session.ended',
  'tools.listed',
  'call.attempted',
  'call.denied',
  'call.completed',
  'call.failed',
] as const;

/** Event types `activity` returns. */
export const ACTIVITY_EVENT_TYPES = [
  'tools.listed',
  'call.attempted',
  'call.denied',
  'call.completed',
  'call.failed',
] as const;
