import type { GatehouseEvent } from '@gatehouse/events';

/**
 * The EventLog port: an append-only, partitioned log of sealed events.
 *
 * Guarantees every adapter gives (checked by one contract suite run against each):
 * - `append` resolves only when every event of the batch is durable (embedded: fsync'd; Kafka:
 *   acknowledged by all in-sync replicas). If it rejects, the caller must assume none was written
 *   in a way it may rely on; it must not forward a call whose `call.attempted` was not acknowledged.
 * - Events with the same key (`session_id`) land in one partition, in append order.
 * - A consumer group reads each partition in order from its committed position; `commit` moves that
 *   position past a batch. After a crash, delivery restarts at the last committed position
 *   (at-least-once); `LogBatch.token` lets the reader write idempotently.
 */
export interface EventLog {
  /**
   * `embedded`, `kafka` or `memory` (`embedded+spool`, `kafka+spool` behind the outcome spool), for
   * logs and health output.
   */
  readonly kind: string;
  /** Appends a batch; resolves when all of it is durable. Rejects with a `LogError`. */
  append(events: readonly GatehouseEvent[]): Promise<void>;
  /** Opens a consumer in `group`. One consumer per group per process. */
  openConsumer(group: string, options?: ConsumerOptions): Promise<LogConsumer>;
  /** Flushes and releases files / connections. Appends after `close` reject. */
  close(): Promise<void>;
  /**
   * How its group commits went since it opened, for health output; undefined (or absent) for a log
   * that keeps no such counts. The embedded log keeps them, and a spooling log passes on its inner
   * log's.
   */
  commitCounts?(): CommitCounts | undefined;
}

/**
 * How a log's group commits went (see `EmbeddedLogOptions.inlineCommitWhenQuietMs`). A commit whose
 * write or fsync failed is counted on the path it took; one refused before writing (a segment that
 * could not be rolled, a writer broken by an earlier failure) is not counted.
 */
export interface CommitCounts {
  /** Commits written and fsync'd on the event loop's thread. */
  readonly inline: number;
  /** Commits written and fsync'd through the libuv pool. */
  readonly pooled: number;
  /** How long the inline commits held the event loop, in all (ms). */
  readonly inlineHeldMs: number;
}

export interface ConsumerOptions {
  /** Start at the earliest retained offset even if the group has a committed position. Default false. */
  fromBeginning?: boolean;
}

/** A run of events from one partition, in log order. */
export interface LogBatch {
  readonly partition: number;
  /** Offset of the first event (inclusive), as a decimal string (Kafka offsets are 64-bit). */
  readonly firstOffset: string;
  /** Offset of the last event (inclusive). */
  readonly lastOffset: string;
  /** The events, each already validated against the event schema (`decodeEvent`). */
  readonly events: readonly GatehouseEvent[];
  /**
   * Deterministic identity of this batch (`<topic>/<partition>/<first>-<last>`), to use as
   * ClickHouse `insert_deduplication_token`.
   */
  readonly token: string;
}

export interface NextOptions {
  /** Upper bound on events in one batch. */
  maxEvents: number;
  /**
   * How long to wait when no event is available (ms). Adapters may return as soon as any event is
   * available (the embedded and in-memory adapters do) or wait up to this long for `maxEvents` to
   * accumulate; either way an empty batch after `maxWaitMs` means nothing arrived.
   */
  maxWaitMs: number;
  /** Aborts the wait; `next` then resolves with whatever it has (possibly an empty batch). */
  signal?: AbortSignal;
  /**
   * Optional upper bound (inclusive offset, decimal string) for the batch: it never extends past
   * this offset. A reader that recorded a batch's boundaries before writing it downstream passes
   * the recorded `lastOffset` after a restart to get exactly the same batch (and so the same
   * `token`) again. Offsets before the consumer's position are ignored (the batch is then normal).
   */
  untilOffset?: string;
}

/**
 * Where a log ends at one moment: per partition, the offset after its last event (a decimal
 * string). A mark to measure `lag` against, so that events appended since do not count.
 */
export type LogEnd = ReadonlyMap<number, string>;

export interface LogConsumer {
  /**
   * The next batch after the last one returned (not the last one committed). Resolves with an
   * empty batch (`events.length === 0`) when nothing arrived within `maxWaitMs`.
   */
  next(options: NextOptions): Promise<LogBatch>;
  /** Durably records that everything up to and including `batch.lastOffset` was processed. */
  commit(batch: LogBatch): Promise<void>;
  /** Stops consuming; uncommitted batches are delivered again to the next consumer of the group. */
  close(): Promise<void>;
  /**
   * Events between the committed position and the end of the log — or `upTo`, an end taken
   * earlier with `end`, so that events appended since do not count — when the adapter knows it.
   */
  lag(upTo?: LogEnd): Promise<number | undefined>;
  /** Where the log ends now, when the adapter knows it. */
  end(): Promise<LogEnd | undefined>;
}
