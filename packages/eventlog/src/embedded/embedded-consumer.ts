import type { LogBatch, LogConsumer, LogEnd, NextOptions } from '../event-log.js';
import { LogError } from '../errors.js';
import { EMBEDDED_PARTITION, embeddedBatch, parseOffset } from './batch-token.js';
import { deleteCheckpoint, writeCheckpoint } from './checkpoint-store.js';
import type { LogCursor, LogView } from './log-cursor.js';

/** What a consumer needs from the log that owns it. */
export interface ConsumerHost {
  readonly dir: string;
  readonly view: LogView;
  /** Calls `wake` once, after the next durable append; returns an unsubscribe function. */
  onceAppended(wake: () => void): () => void;
  /** True once the log is closed. */
  readonly closed: boolean;
  /** Called when the consumer closes, so its group can be opened again. */
  release(group: string): void;
}

/**
 * A consumer of one group over the embedded log. `next` returns at once when records are past the
 * read position; otherwise it waits for an append notification (no polling) up to `maxWaitMs`.
 * `commit` writes the group's checkpoint atomically. Calls to `next` and `commit` are serialized.
 *
 * Deterministic batches: a batch is `[position, position + n)` with n = min(maxEvents, records
 * available, untilOffset - position + 1). A reader that must re-create exactly the same batch after
 * a crash records `lastOffset` before writing downstream and passes it back as `untilOffset`.
 */
export class EmbeddedConsumer implements LogConsumer {
  readonly #host: ConsumerHost;
  readonly #group: string;
  readonly #cursor: LogCursor;
  #committed: number;
  #closed = false;
  #wakeClosed: (() => void) | undefined;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(host: ConsumerHost, group: string, cursor: LogCursor, committed: number) {
    this.#host = host;
    this.#group = group;
    this.#cursor = cursor;
    this.#committed = committed;
  }

  /** The group's committed position: the first offset not yet committed. */
  get committedOffset(): string {
    return String(this.#committed);
  }

  /** The offset `next` will read from. */
  get position(): string {
    return String(this.#cursor.offset);
  }

  next(options: NextOptions): Promise<LogBatch> {
    return this.#serialize(() => this.#next(options));
  }

  commit(batch: LogBatch): Promise<void> {
    return this.#serialize(() => this.#commit(batch));
  }

  async lag(upTo?: LogEnd): Promise<number | undefined> {
    const end = upTo === undefined ? this.#host.view.endOffset : Number(upTo.get(0) ?? 0);
    return Math.max(0, end - this.#committed);
  }

  async end(): Promise<LogEnd> {
    return new Map([[0, String(this.#host.view.endOffset)]]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeClosed?.();
    await this.#chain.catch(() => undefined);
    await this.#cursor.close();
    this.#host.release(this.#group);
  }

  /**
   * Deletes the group's checkpoint, then closes the consumer: the group's next consumer starts at
   * offset 0, as a group that never committed does. For a reader whose run is complete (a finished
   * rebuild), so that only an interrupted run leaves a position to resume from. The group stays held
   * until the checkpoint is gone; if deleting fails, the consumer stays open and the checkpoint as it was.
   */
  async closeAndForget(): Promise<void> {
    await this.#serialize(async () => {
      this.#assertOpen();
      await deleteCheckpoint(this.#host.dir, this.#group);
      this.#committed = 0;
    });
    await this.close();
  }

  #serialize<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#chain.then(operation, operation);
    this.#chain = result.catch(() => undefined);
    return result;
  }

  #assertOpen(): void {
    if (this.#closed || this.#host.closed) {
      throw new LogError('GH_ERR_LOG_CLOSED', `the consumer of group ${this.#group} is closed`);
    }
  }

  async #next(options: NextOptions): Promise<LogBatch> {
    this.#assertOpen();
    const { maxEvents, maxWaitMs, signal } = options;
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) {
      throw new LogError('GH_ERR_LOG_CONFIG', `next: maxEvents must be a positive integer, got ${maxEvents}`);
    }
    if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) {
      throw new LogError(
        'GH_ERR_LOG_CONFIG',
        `next: maxWaitMs must be a non-negative number of milliseconds, got ${maxWaitMs}`,
      );
    }
    let limit = maxEvents;
    if (options.untilOffset !== undefined) {
      const until = parseOffset(options.untilOffset, 'next: untilOffset');
      if (until >= this.#cursor.offset) limit = Math.min(limit, until - this.#cursor.offset + 1);
    }
    if (this.#cursor.offset >= this.#host.view.endOffset && maxWaitMs > 0)
      await this.#waitForAppend(maxWaitMs, signal);
    const first = this.#cursor.offset;
    if (this.#closed || this.#host.closed) return embeddedBatch(first, []);
    const records = await this.#cursor.read(limit);
    return embeddedBatch(
      first,
      records.map((record) => record.event),
    );
  }

  /** Resolves on the first of: a durable append, `maxWaitMs`, `signal` aborting, this consumer closing. */
  #waitForAppend(maxWaitMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', done);
        this.#wakeClosed = undefined;
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      const unsubscribe = this.#host.onceAppended(done);
      signal?.addEventListener('abort', done, { once: true });
      this.#wakeClosed = done;
    });
  }

  async #commit(batch: LogBatch): Promise<void> {
    this.#assertOpen();
    if (batch.events.length === 0) return;
    if (batch.partition !== EMBEDDED_PARTITION) {
      throw new LogError(
        'GH_ERR_LOG_CHECKPOINT',
        `commit: the embedded log has only partition 0, got a batch of partition ${batch.partition}`,
      );
    }
    const next = parseOffset(batch.lastOffset, 'commit: batch.lastOffset') + 1;
    if (next > this.#host.view.endOffset) {
      throw new LogError(
        'GH_ERR_LOG_CHECKPOINT',
        `commit: batch.lastOffset ${batch.lastOffset} is past the end of the log (${this.#host.view.endOffset - 1})`,
      );
    }
    await writeCheckpoint(this.#host.dir, { group: this.#group, nextOffset: next });
    this.#committed = next;
  }
}
