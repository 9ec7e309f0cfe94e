import { decodeEvent, encodeEvent, parseEvent, type GatehouseEvent } from '@gatehouse/events';
import type { ConsumerOptions, EventLog, LogBatch, LogConsumer, LogEnd, NextOptions } from '../event-log.js';
import { LogError } from '../errors.js';

export interface MemoryLogOptions {
  /** Largest encoded event an append accepts, in bytes. Default 1 MiB, as the embedded log. */
  maxRecordBytes?: number;
}

/**
 * The in-memory adapter of `EventLog`, for unit tests of code that appends or consumes. It keeps
 * the port's guarantees (append order, one partition, committed positions that survive a consumer
 * or log "restart" through `reopen`, at-least-once redelivery) and validates and round-trips every
 * event through `encodeEvent`/`decodeEvent`, so a test sees what a real log would give back.
 *
 * Test hooks (explicit, not part of the port): `setAvailable`, `events`, `reopen`.
 */
export interface MemoryEventLog extends EventLog {
  readonly kind: 'memory';
  /**
   * `false` makes every later `append` reject with a retryable `GH_ERR_LOG_UNAVAILABLE` and write
   * nothing, as if the log were down; `true` restores it. Consumers keep working.
   */
  setAvailable(available: boolean): void;
  /** Everything appended so far, in log order (decoded copies). */
  events(): readonly GatehouseEvent[];
  /** A new open handle over the same records and checkpoints, as after a process restart. */
  reopen(): MemoryEventLog;
}

interface SharedState {
  readonly records: GatehouseEvent[];
  readonly checkpoints: Map<string, number>;
  readonly maxRecordBytes: number;
}

/** Creates an empty in-memory log. */
export function createMemoryLog(options: MemoryLogOptions = {}): MemoryEventLog {
  const maxRecordBytes = options.maxRecordBytes ?? 1024 * 1024;
  if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 1) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `maxRecordBytes must be a positive integer, got ${maxRecordBytes}`,
    );
  }
  return new MemoryLog({ records: [], checkpoints: new Map(), maxRecordBytes });
}

class MemoryLog implements MemoryEventLog {
  readonly kind = 'memory' as const;
  readonly #state: SharedState;
  readonly #consumers = new Map<string, MemoryConsumer>();
  #wakers = new Set<() => void>();
  #available = true;
  #closed = false;

  constructor(state: SharedState) {
    this.#state = state;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get endOffset(): number {
    return this.#state.records.length;
  }

  setAvailable(available: boolean): void {
    this.#available = available;
  }

  events(): readonly GatehouseEvent[] {
    return [...this.#state.records];
  }

  reopen(): MemoryEventLog {
    return new MemoryLog(this.#state);
  }

  async append(events: readonly GatehouseEvent[]): Promise<void> {
    if (this.#closed)
      throw new LogError('GH_ERR_LOG_CLOSED', 'the in-memory event log is closed', { nothingWritten: true });
    if (!this.#available) {
      throw new LogError(
        'GH_ERR_LOG_UNAVAILABLE',
        'the in-memory event log is unavailable (setAvailable(false))',
        { retryable: true },
      );
    }
    const copies = events.map((event) => this.#roundTrip(event));
    // Resolve on a later turn, as a real log would, so callers cannot rely on synchronous appends.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!this.#available) {
      throw new LogError(
        'GH_ERR_LOG_UNAVAILABLE',
        'the in-memory event log became unavailable during the append',
        { retryable: true },
      );
    }
    this.#state.records.push(...copies);
    if (copies.length > 0) this.#wake();
  }

  #roundTrip(event: GatehouseEvent): GatehouseEvent {
    let bytes: Buffer;
    try {
      bytes = encodeEvent(parseEvent(event));
    } catch (cause) {
      throw new LogError(
        'GH_ERR_LOG_INVALID_RECORD',
        `append: event ${JSON.stringify((event as { id?: unknown }).id)} cannot be written: ${String(cause)}`,
        { cause, nothingWritten: true },
      );
    }
    if (bytes.length > this.#state.maxRecordBytes) {
      throw new LogError(
        'GH_ERR_LOG_RECORD_TOO_LARGE',
        `append: event ${event.id} encodes to ${bytes.length} bytes, over maxRecordBytes (${this.#state.maxRecordBytes}); nothing of this append was written`,
        { nothingWritten: true },
      );
    }
    return decodeEvent(bytes);
  }

  async openConsumer(group: string, options: ConsumerOptions = {}): Promise<LogConsumer> {
    if (this.#closed) throw new LogError('GH_ERR_LOG_CLOSED', 'the in-memory event log is closed');
    if (this.#consumers.has(group)) {
      throw new LogError(
        'GH_ERR_LOG_GROUP_BUSY',
        `consumer group ${group} already has an open consumer; close it first`,
      );
    }
    const committed = this.#state.checkpoints.get(group) ?? 0;
    const consumer = new MemoryConsumer(this, group, options.fromBeginning ? 0 : committed);
    this.#consumers.set(group, consumer);
    return consumer;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#consumers.values()].map((consumer) => consumer.close()));
  }

  /** Internal to consumers. */
  read(from: number, count: number): GatehouseEvent[] {
    return this.#state.records.slice(from, from + count);
  }

  committed(group: string): number {
    return this.#state.checkpoints.get(group) ?? 0;
  }

  setCommitted(group: string, next: number): void {
    this.#state.checkpoints.set(group, next);
  }

  onceAppended(wake: () => void): () => void {
    this.#wakers.add(wake);
    return () => this.#wakers.delete(wake);
  }

  release(group: string): void {
    this.#consumers.delete(group);
  }

  #wake(): void {
    const wakers = this.#wakers;
    this.#wakers = new Set();
    for (const wake of wakers) wake();
  }
}

class MemoryConsumer implements LogConsumer {
  readonly #log: MemoryLog;
  readonly #group: string;
  #position: number;
  #closed = false;
  #wakeClosed: (() => void) | undefined;

  constructor(log: MemoryLog, group: string, position: number) {
    this.#log = log;
    this.#group = group;
    this.#position = position;
  }

  async next(options: NextOptions): Promise<LogBatch> {
    this.#assertOpen();
    if (!Number.isSafeInteger(options.maxEvents) || options.maxEvents < 1) {
      throw new LogError(
        'GH_ERR_LOG_CONFIG',
        `next: maxEvents must be a positive integer, got ${options.maxEvents}`,
      );
    }
    let limit = options.maxEvents;
    if (options.untilOffset !== undefined) {
      const until = Number(options.untilOffset);
      if (Number.isSafeInteger(until) && until >= this.#position)
        limit = Math.min(limit, until - this.#position + 1);
    }
    if (this.#position >= this.#log.endOffset && options.maxWaitMs > 0 && !options.signal?.aborted) {
      await this.#wait(options.maxWaitMs, options.signal);
    }
    const first = this.#position;
    const events = this.#closed || this.#log.closed ? [] : this.#log.read(first, limit);
    this.#position += events.length;
    const last = first + events.length - 1;
    return {
      partition: 0,
      firstOffset: String(first),
      lastOffset: String(last),
      events,
      token: `memory/0/${first}-${last}`,
    };
  }

  async commit(batch: LogBatch): Promise<void> {
    this.#assertOpen();
    if (batch.events.length === 0) return;
    const next = Number(batch.lastOffset) + 1;
    if (!Number.isSafeInteger(next) || next > this.#log.endOffset) {
      throw new LogError(
        'GH_ERR_LOG_CHECKPOINT',
        `commit: batch.lastOffset ${batch.lastOffset} is not an offset of this log`,
      );
    }
    this.#log.setCommitted(this.#group, next);
  }

  async lag(upTo?: LogEnd): Promise<number | undefined> {
    const end = upTo === undefined ? this.#log.endOffset : Number(upTo.get(0) ?? 0);
    return Math.max(0, end - this.#log.committed(this.#group));
  }

  async end(): Promise<LogEnd> {
    return new Map([[0, String(this.#log.endOffset)]]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeClosed?.();
    this.#log.release(this.#group);
  }

  #assertOpen(): void {
    if (this.#closed || this.#log.closed)
      throw new LogError('GH_ERR_LOG_CLOSED', `the consumer of group ${this.#group} is closed`);
  }

  #wait(maxWaitMs: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', done);
        this.#wakeClosed = undefined;
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      const unsubscribe = this.#log.onceAppended(done);
      signal?.addEventListener('abort', done, { once: true });
      this.#wakeClosed = done;
    });
  }
}
