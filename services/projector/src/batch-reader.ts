import type { LogBatch, LogConsumer } from '@gatehouse/eventlog';

/** A batch to insert, and the adapter's own batch to commit once it is stored. */
export interface ProjectionBatch {
  /** What goes into one INSERT: consecutive events of one partition, with a deterministic token. */
  readonly batch: LogBatch;
  /** The last log batch it was assembled from; committing it commits the whole projection batch. */
  readonly commitWith: LogBatch;
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
  signal: AbortSignal;
  /** Wraps each `consumer.next` (retry policy). */
  attempt: (what: string, operation: () => Promise<LogBatch>) => Promise<LogBatch>;
}

/**
 * Assembles insert batches from the log: reads until `maxEvents` events of one partition are
 * together or `maxWaitMs` passed since the first one. Adapters return as soon as anything is
 * available, so without this a steady trickle of events would become one ClickHouse INSERT (one
 * part) per few events; with it there are at most ~1000/maxWaitMs inserts per second when idle-ish
 * and full batches under load.
 *
 * The token of an assembled batch is derived from its partition and offsets alone
 * (`<topic>/<partition>/<first>-<last>`, the adapters' own format), so the same range re-read after
 * a crash — however the log happens to split it then — carries the same token.
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
   * The next batch (empty when nothing arrived within `maxWaitMs`). With `untilOffset`, never
   * extends past it and stops as soon as it is reached (re-reading a journaled batch).
   */
  async next(untilOffset?: string): Promise<ProjectionBatch> {
    const { maxEvents, maxWaitMs } = this.#options;
    const first = this.#carried ?? (await this.#read(maxEvents, maxWaitMs, untilOffset));
    this.#carried = undefined;
    const parts = [first];
    let count = first.events.length;
    const deadline = Date.now() + maxWaitMs;
    while (
      count > 0 &&
      count < maxEvents &&
      parts.at(-1)!.lastOffset !== untilOffset &&
      !this.#options.signal.aborted
    ) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const more = await this.#read(maxEvents - count, remaining, untilOffset);
      if (more.events.length === 0) break;
      if (more.partition !== first.partition) {
        this.#carried = more;
        break;
      }
      parts.push(more);
      count += more.events.length;
    }
    const last = parts.at(-1)!;
    const moreWaiting = count >= maxEvents || this.#carried !== undefined;
    if (parts.length === 1) return { batch: first, commitWith: first, moreWaiting };
    return {
      batch: {
        partition: first.partition,
        firstOffset: first.firstOffset,
        lastOffset: last.lastOffset,
        events: parts.flatMap((part) => part.events),
        token: assembledToken(first, last.lastOffset),
      },
      commitWith: last,
      moreWaiting,
    };
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
