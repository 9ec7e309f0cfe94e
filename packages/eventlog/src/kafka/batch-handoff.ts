import type { GatehouseEvent } from '@gatehouse/events';
import type { LogError } from '../errors.js';

/**
 * A record of the topic that is not a Gatehouse event (it does not decode, or breaks the schema),
 * kept with everything a dead-letter entry needs. Handed out only to a consumer opened with
 * `deliverInvalidRecords`.
 */
export interface InvalidRecord {
  readonly partition: number;
  /** The record's offset (decimal string). */
  readonly offset: string;
  /** The record's key as sent (UTF-8), or null. */
  readonly key: string | null;
  /** The record's value, byte for byte (null for a record without one). */
  readonly value: Buffer | null;
  /** Why it is not an event (the schema's message, naming the field). */
  readonly error: string;
}

/** One record of a fetched run: a decoded event, or (with `deliverInvalidRecords`) an invalid record. */
export type OffsetEvent =
  | { readonly offset: bigint; readonly event: GatehouseEvent; readonly invalid?: undefined }
  | { readonly offset: bigint; readonly event?: undefined; readonly invalid: InvalidRecord };

/** A fetched run of one partition, waiting to be taken by `next`. */
export interface Offer {
  readonly partition: number;
  readonly records: OffsetEvent[];
  /** Index of the first record not yet taken. */
  taken: number;
  /** Set when the record after the good ones could not be decoded: `next` throws it. */
  readonly poison: LogError | undefined;
  /** `taken` = all records, or the offer was withdrawn / aborted. */
  finished: boolean;
  /** Set when the offer was aborted: the fetch loop must rethrow it. */
  abortedWith: unknown;
  /** Resolves when `finished` becomes true. */
  readonly done: Promise<void>;
  readonly finish: () => void;
}

/** What `take` hands out: consecutive records of one partition. */
export interface Taken {
  partition: number;
  records: OffsetEvent[];
}

/**
 * The hand-over between the kafkajs fetch loop (push: one `eachBatch` call per partition, which
 * waits until its batch was taken) and `LogConsumer.next` (pull). At most one offer per partition
 * exists at a time, so the queue is bounded by what one fetch returns.
 */
export class BatchHandoff {
  readonly #offers: Offer[] = [];
  #waiters = new Set<() => void>();

  /** Queues a run of records; the caller awaits `offer.done`. */
  offer(partition: number, records: OffsetEvent[], poison: LogError | undefined): Offer {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const offer: Offer = {
      partition,
      records,
      taken: 0,
      poison,
      finished: false,
      abortedWith: undefined,
      done,
      finish: () => {
        offer.finished = true;
        finish();
      },
    };
    this.#offers.push(offer);
    this.#wake();
    return offer;
  }

  /**
   * Takes up to `maxEvents` records from the oldest offer, not past `untilOffset` when that lies
   * within the offer. Throws the offer's poison when its good records are all taken.
   */
  take(maxEvents: number, untilOffset: bigint | undefined): Taken | undefined {
    const offer = this.#offers[0];
    if (offer === undefined) return undefined;
    if (offer.taken >= offer.records.length) {
      if (offer.poison !== undefined) throw offer.poison;
      this.#remove(offer);
      offer.finish();
      return this.take(maxEvents, untilOffset);
    }
    let end = Math.min(offer.records.length, offer.taken + maxEvents);
    if (untilOffset !== undefined && untilOffset >= offer.records[offer.taken]!.offset) {
      while (end > offer.taken + 1 && offer.records[end - 1]!.offset > untilOffset) end--;
    }
    const records = offer.records.slice(offer.taken, end);
    offer.taken = end;
    if (offer.taken >= offer.records.length && offer.poison === undefined) {
      this.#remove(offer);
      offer.finish();
    }
    return { partition: offer.partition, records };
  }

  /** True when some offer has records to take (or poison to report). */
  get ready(): boolean {
    return this.#offers.length > 0;
  }

  /** Withdraws `offer` quietly (its fetch loop returns normally). */
  withdraw(offer: Offer): void {
    this.#remove(offer);
    offer.finish();
  }

  /** Withdraws the offers of `partitions` (revoked): their records are not delivered. */
  withdrawPartitions(partitions: ReadonlySet<number>): void {
    for (const offer of [...this.#offers]) if (partitions.has(offer.partition)) this.withdraw(offer);
  }

  /** Aborts every offer with `error`; each fetch loop rethrows it (kafkajs then rejoins the group). */
  abortAll(error: unknown): void {
    for (const offer of this.#offers.splice(0)) {
      offer.abortedWith = error;
      offer.finish();
    }
  }

  /** Resolves when an offer arrives, after `ms`, when `signal` aborts, or on `wakeAll`. */
  waitForOffer(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.ready || ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Ends every `waitForOffer` now (the consumer is closing or failed). */
  wakeAll(): void {
    this.#wake();
  }

  #remove(offer: Offer): void {
    const index = this.#offers.indexOf(offer);
    if (index >= 0) this.#offers.splice(index, 1);
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
  }
}
