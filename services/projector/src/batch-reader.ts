import type { KafkaConsumer, LogBatch, LogConsumer } from '@gatehouse/eventlog';
import { sha256Hex, type GatehouseEvent } from '@gatehouse/events';

/**
 * A Kafka batch: the port's fields plus each event's offset and the range's invalid records (with
 * `deliverInvalidRecords`). Other adapters' batches have neither: their offsets are consecutive.
 */
type KafkaLogBatch = Awaited<ReturnType<KafkaConsumer['next']>>;
/** A record of the log that is not an event, as the Kafka adapter hands it out. */
type LogInvalidRecord = KafkaLogBatch['invalid'][number];

/** The invalid records a log batch carries (none for adapters that do not hand them out). */
function invalidOf(batch: LogBatch): readonly LogInvalidRecord[] {
  const invalid = (batch as Partial<KafkaLogBatch>).invalid;
  return Array.isArray(invalid) ? invalid : [];
}

/** Events plus invalid records: how much of its range a log batch covers. */
function sizeOf(batch: LogBatch): number {
  return batch.events.length + invalidOf(batch).length;
}

/** Where an event or record was read. */
export interface LogPosition {
  /** `embedded`, or the Kafka topic (the topic part of the batch token). */
  readonly source: string;
  readonly partition: number;
  /** Offset (decimal string). */
  readonly offset: string;
}

/** A record of a projection batch that is not an event, with where it was read. */
export interface InvalidRecord extends LogPosition {
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly error: string;
}

/** The topic part of a batch token (`<topic>/<partition>/<first>-<last>`), or `fallback`. */
function sourceOf(batch: LogBatch, fallback: string): string {
  const suffix = `/${batch.partition}/${batch.firstOffset}-${batch.lastOffset}`;
  return batch.token.endsWith(suffix) ? batch.token.slice(0, -suffix.length) : fallback;
}

/**
 * Longest token spelled out range by range; past it (many partitions, or a long topic name) a
 * multi-range token is `<n>-ranges/<sha256 of the spelled-out form>`, as deterministic and well
 * inside the store's 990-character limit.
 */
const MAX_SPELLED_TOKEN = 512;

/** One partition's consecutive offsets within a projection batch (what the batch journal records). */
export interface BatchRange {
  readonly partition: number;
  readonly firstOffset: string;
  readonly lastOffset: string;
  /** The range's own token (`<topic>/<partition>/<first>-<last>`). */
  readonly token: string;
}

/** A batch to insert, and the adapter's own batches to commit once it is stored. */
export interface ProjectionBatch {
  /** What goes into one INSERT, partition by partition, each partition's events in log order. */
  readonly events: readonly GatehouseEvent[];
  /**
   * Deterministic identity of the INSERT: the range's token for one partition; the ranges' tokens
   * in partition order, joined by `+`, for several (hashed when that is long, see
   * `MAX_SPELLED_TOKEN`).
   */
  readonly token: string;
  /** The partitions' ranges, ascending by partition (none for an empty batch). */
  readonly ranges: readonly BatchRange[];
  /**
   * Records of the ranges that are not events (Kafka with `deliverInvalidRecords`), in partition
   * and offset order. A batch may consist of such records only (`events` empty, `ranges` not).
   */
  readonly invalid: readonly InvalidRecord[];
  /** Where `events[index]` was read. */
  locate(index: number): LogPosition;
  /** The last log batch read of each partition; committing them commits the whole projection batch. */
  readonly commitWith: readonly LogBatch[];
  /**
   * More events are known to be waiting: the batch is full, or it ended where another partition's
   * events begin. False at the tail of the log (the batch ended on `maxWaitMs` or an empty read).
   */
  readonly moreWaiting: boolean;
}

export interface BatchReaderOptions {
  maxEvents: number;
  /** How long a batch may keep accumulating after its first event, and how long an idle read waits (ms). */
  maxWaitMs: number;
  /**
   * Whether one batch may hold several partitions' events (Kafka: a topic's partitions interleave,
   * and a batch per partition would make each INSERT a few hundred events). False where a batch
   * must be one range, e.g. for the batch journal, which re-reads exactly one range after a crash.
   */
  crossPartition: boolean;
  signal: AbortSignal;
  /** Names where records were read when a batch token does not (`embedded`, `kafka`). */
  source: string;
  /** Wraps each `consumer.next` (retry policy). */
  attempt: (what: string, operation: () => Promise<LogBatch>) => Promise<LogBatch>;
}

/**
 * Assembles insert batches from the log: reads until `maxEvents` events are together or
 * `maxWaitMs` passed since the first one. Adapters return as soon as anything is available, so
 * without this a steady trickle of events would become one ClickHouse INSERT (one part) per few
 * events; with it there are at most ~1000/maxWaitMs inserts per second when idle-ish and full
 * batches under load.
 *
 * Without `crossPartition`, a batch holds one partition's events and ends where another
 * partition's begin (that read starts the next batch). The token of a batch is derived from its
 * partitions and offsets alone (`<topic>/<partition>/<first>-<last>`, the adapters' own format, per
 * partition), so the same ranges re-read after a crash carry the same token however the log
 * happens to split them then.
 */
export class BatchReader {
  readonly #consumer: LogConsumer;
  readonly #options: BatchReaderOptions;
  /** A batch of another partition read while assembling; it starts the next batch. */
  #carried: LogBatch | undefined;

  constructor(consumer: LogConsumer, options: BatchReaderOptions) {
    this.#consumer = consumer;
    this.#options = options;
  }

  /**
   * The next batch (empty when nothing arrived within `maxWaitMs`). With `untilOffset` (re-reading
   * a journaled batch: one partition), never extends past it and stops as soon as it is reached.
   */
  async next(untilOffset?: string): Promise<ProjectionBatch> {
    const { maxEvents, maxWaitMs, signal } = this.#options;
    const crossPartition = this.#options.crossPartition && untilOffset === undefined;
    const first = this.#carried ?? (await this.#read(maxEvents, maxWaitMs, untilOffset));
    this.#carried = undefined;
    /** Partition → the log batches read of it, in order. */
    const parts = new Map<number, LogBatch[]>([[first.partition, [first]]]);
    let last = first;
    let count = sizeOf(first);
    const deadline = Date.now() + maxWaitMs;
    while (count > 0 && count < maxEvents && last.lastOffset !== untilOffset && !signal.aborted) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const more = await this.#read(maxEvents - count, remaining, untilOffset);
      if (sizeOf(more) === 0) break;
      if (!crossPartition && more.partition !== first.partition) {
        this.#carried = more;
        break;
      }
      const ofPartition = parts.get(more.partition);
      if (ofPartition === undefined) parts.set(more.partition, [more]);
      else ofPartition.push(more);
      last = more;
      count += sizeOf(more);
    }
    const moreWaiting = count >= maxEvents || this.#carried !== undefined;
    if (count === 0)
      return {
        events: [],
        token: first.token,
        ranges: [],
        commitWith: [],
        moreWaiting,
        invalid: [],
        locate: (index) => {
          throw new RangeError(`event ${index} of an empty batch`);
        },
      };
    const ranges: BatchRange[] = [];
    const commitWith: LogBatch[] = [];
    const events: GatehouseEvent[] = [];
    const invalid: InvalidRecord[] = [];
    /** The log batches in the order their events were concatenated, with the index of their first. */
    const pieces: { batch: LogBatch; source: string; start: number }[] = [];
    for (const partition of [...parts.keys()].sort((a, b) => a - b)) {
      const read = parts.get(partition)!;
      const head = read[0]!;
      const tail = read.at(-1)!;
      ranges.push({
        partition,
        firstOffset: head.firstOffset,
        lastOffset: tail.lastOffset,
        token: read.length === 1 ? head.token : assembledToken(head, tail.lastOffset),
      });
      commitWith.push(tail);
      for (const batch of read) {
        const source = sourceOf(batch, this.#options.source);
        pieces.push({ batch, source, start: events.length });
        for (const event of batch.events) events.push(event);
        for (const record of invalidOf(batch)) invalid.push({ ...record, source });
      }
    }
    const spelled = ranges.map((r) => r.token).join('+');
    const token =
      spelled.length <= MAX_SPELLED_TOKEN ? spelled : `${ranges.length}-ranges/${sha256Hex(spelled)}`;
    const locate = (index: number): LogPosition => {
      const piece = pieces.find(
        (candidate) => index >= candidate.start && index < candidate.start + candidate.batch.events.length,
      );
      if (piece === undefined) throw new RangeError(`event ${index} of a batch of ${events.length}`);
      const within = index - piece.start;
      const offsets = (piece.batch as Partial<KafkaLogBatch>).eventOffsets;
      const offset = offsets?.[within] ?? (BigInt(piece.batch.firstOffset) + BigInt(within)).toString();
      return { source: piece.source, partition: piece.batch.partition, offset };
    };
    return { events, token, ranges, commitWith, moreWaiting, invalid, locate };
  }

  #read(maxEvents: number, maxWaitMs: number, untilOffset: string | undefined): Promise<LogBatch> {
    return this.#options.attempt('read from the event log', () =>
      this.#consumer.next({
        maxEvents,
        maxWaitMs,
        signal: this.#options.signal,
        ...(untilOffset === undefined ? {} : { untilOffset }),
      }),
    );
  }
}

/** `embedded/0/10-19` extended to `lastOffset` 42 → `embedded/0/10-42`. */
export function assembledToken(first: LogBatch, lastOffset: string): string {
  const suffix = `/${first.firstOffset}-${first.lastOffset}`;
  return first.token.endsWith(suffix)
    ? `${first.token.slice(0, -suffix.length)}/${first.firstOffset}-${lastOffset}`
    : `${first.token}..${lastOffset}`;
}
