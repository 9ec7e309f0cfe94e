import { LogError } from '../errors.js';

/** One record as it goes to the broker. */
export interface OutgoingRecord {
  key: string;
  value: Buffer;
}

/** Sends one coalesced request; resolves when the broker acknowledged all of it. */
export type SendRecords = (records: OutgoingRecord[]) => Promise<void>;

export interface AppendBatcherOptions {
  send: SendRecords;
  /** Called when an append timed out while its records were in flight: abandon that request. */
  abandonInFlight: (reason: LogError) => void;
  appendTimeoutMs: number;
  lingerMs: number;
  maxBatchBytes: number;
  /** Names the log in error messages (`kafka topic gatehouse.audit`). */
  what: string;
}

interface PendingAppend {
  readonly records: OutgoingRecord[];
  /** Index of the first record not yet handed to `send`. */
  next: number;
  /** Records handed to `send` and not yet acknowledged or failed. */
  inFlight: number;
  settled: boolean;
  readonly resolve: () => void;
  readonly reject: (error: LogError) => void;
  readonly timer: NodeJS.Timeout;
}

/** Per-record overhead counted against `maxBatchBytes` (record headers, varints, key length). */
const RECORD_OVERHEAD_BYTES = 64;

/**
 * Group commit for a remote log: coalesces concurrent appends into one request and keeps exactly
 * one request in flight, so records reach the broker in the order `append` was called (and an
 * idempotent producer's sequence numbers stay simple).
 *
 * - An append resolves when every one of its records was acknowledged; it rejects with the first
 *   failure of any request that carried its records, or with a retryable `GH_ERR_LOG_UNAVAILABLE`
 *   when `appendTimeoutMs` passes first. Records of a rejected append that were not sent yet are
 *   never sent.
 * - A request carries at most `maxBatchBytes` (at least one record); a larger append is sent in
 *   several requests, one after another.
 */
export class AppendBatcher {
  readonly #options: AppendBatcherOptions;
  readonly #queue: PendingAppend[] = [];
  #sending = false;
  #inFlight: PendingAppend[] = [];
  #scheduled: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #idle: (() => void)[] = [];

  constructor(options: AppendBatcherOptions) {
    this.#options = options;
  }

  /** Queues `records`; resolves when all are acknowledged. */
  append(records: OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const pending: PendingAppend = {
        records,
        next: 0,
        inFlight: 0,
        settled: false,
        resolve,
        reject,
        timer: setTimeout(() => this.#timeout(pending), this.#options.appendTimeoutMs),
      };
      this.#queue.push(pending);
      this.#schedule();
    });
  }

  /** Resolves when nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    if (!this.#sending && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Rejects everything queued (not in flight) with `error`. */
  rejectQueued(error: LogError): void {
    for (const pending of this.#queue.splice(0)) this.#settle(pending, error);
  }

  #schedule(): void {
    if (this.#sending || this.#scheduled !== undefined || this.#queue.length === 0) return;
    const flush = () => {
      this.#scheduled = undefined;
      void this.#flush();
    };
    this.#scheduled =
      this.#options.lingerMs > 0 ? setTimeout(flush, this.#options.lingerMs) : setImmediate(flush);
  }

  async #flush(): Promise<void> {
    const records: OutgoingRecord[] = [];
    const carried: PendingAppend[] = [];
    let bytes = 0;
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      let took = 0;
      while (head.next < head.records.length) {
        const record = head.records[head.next]!;
        const size = record.value.length + Buffer.byteLength(record.key) + RECORD_OVERHEAD_BYTES;
        if (records.length > 0 && bytes + size > this.#options.maxBatchBytes) break;
        records.push(record);
        bytes += size;
        head.next++;
        took++;
      }
      if (took > 0) {
        head.inFlight += took;
        carried.push(head);
      }
      if (head.next < head.records.length) break;
      this.#queue.shift();
    }
    if (records.length === 0) return this.#afterFlush();
    this.#sending = true;
    this.#inFlight = carried;
    let failure: LogError | undefined;
    try {
      await this.#options.send(records);
    } catch (error) {
      failure =
        error instanceof LogError
          ? error
          : new LogError(
              'GH_ERR_LOG_UNAVAILABLE',
              `append to ${this.#options.what} failed: ${String(error)}`,
              { retryable: true, cause: error },
            );
    }
    this.#sending = false;
    this.#inFlight = [];
    for (const pending of carried) {
      if (failure !== undefined) {
        this.#settle(pending, failure);
        continue;
      }
      pending.inFlight = 0;
      if (!pending.settled && pending.next >= pending.records.length) this.#settle(pending, undefined);
    }
    this.#afterFlush();
  }

  #afterFlush(): void {
    if (this.#queue.length > 0) {
      this.#schedule();
      return;
    }
    if (!this.#sending) for (const resolve of this.#idle.splice(0)) resolve();
  }

  #timeout(pending: PendingAppend): void {
    if (pending.settled) return;
    const error = new LogError(
      'GH_ERR_LOG_UNAVAILABLE',
      `append to ${this.#options.what} was not acknowledged within appendTimeoutMs (${this.#options.appendTimeoutMs} ms); the broker may be down`,
      { retryable: true },
    );
    const queued = this.#queue.indexOf(pending);
    if (queued >= 0) this.#queue.splice(queued, 1);
    this.#settle(pending, error);
    if (this.#inFlight.includes(pending)) this.#options.abandonInFlight(error);
  }

  #settle(pending: PendingAppend, error: LogError | undefined): void {
    if (pending.settled) return;
    pending.settled = true;
    clearTimeout(pending.timer);
    // Still queued only while some of its records were not taken (#flush shifts it off once all were).
    if (pending.next < pending.records.length) {
      const queued = this.#queue.indexOf(pending);
      if (queued >= 0) this.#queue.splice(queued, 1);
    }
    if (error === undefined) pending.resolve();
    else pending.reject(error);
  }
}
