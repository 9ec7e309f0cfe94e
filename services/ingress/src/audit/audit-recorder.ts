import type { ChainHead, ChainRegistry, EventDraft, GatehouseEvent } from '@gatehouse/events';
import type { EventLog } from '@gatehouse/eventlog';
import type { Logger } from 'pino';

/**
 * Where outcomes go when the log keeps refusing them: a durable local spool that publishes them
 * later (`packages/eventlog/src/spool`), or anything with the same `put`.
 */
export interface OutcomeSpool {
  /** Stores events durably for later publication; resolves when they are safe on local disk. */
  put(events: readonly GatehouseEvent[]): Promise<void>;
}

export interface AuditRecorderOptions {
  log: EventLog;
  chains: ChainRegistry;
  logger: Logger;
  /** Outcomes the log refused after every retry go here. Default: an in-memory backlog retried in the background. */
  spool?: OutcomeSpool;
  /** Delays between retries of an outcome append, in ms. Default [20, 100, 400]. */
  retryDelaysMs?: readonly number[];
  /** Interval of the background backlog retry, in ms. Default 1,000. */
  backlogRetryMs?: number;
}

/**
 * Seals events onto their chain (one per session or named stream) and appends them to the log.
 *
 * Guarantees:
 * - Appends of one stream are serialized, so `seq` order equals log order within a stream.
 * - `appendDurable` resolves only after the log acknowledged the event; if the log refuses, the
 *   chain head is rewound (the next event reuses the seq) and the promise rejects.
 * - `appendOutcome` never rejects: it retries, then hands the event to the spool (or an in-memory
 *   backlog retried in the background). Its seq stays taken, so the chain stays gapless once
 *   the event lands.
 */
export class AuditRecorder {
  readonly #log: EventLog;
  readonly #chains: ChainRegistry;
  readonly #logger: Logger;
  readonly #spool: OutcomeSpool | undefined;
  readonly #retryDelaysMs: readonly number[];
  readonly #backlogRetryMs: number;
  readonly #tails = new Map<string, Promise<unknown>>();
  readonly #backlog: GatehouseEvent[] = [];
  #backlogTimer: NodeJS.Timeout | undefined;
  #backlogFlushing = false;

  constructor(options: AuditRecorderOptions) {
    this.#log = options.log;
    this.#chains = options.chains;
    this.#logger = options.logger;
    this.#spool = options.spool;
    this.#retryDelaysMs = options.retryDelaysMs ?? [20, 100, 400];
    this.#backlogRetryMs = options.backlogRetryMs ?? 1_000;
  }

  /** Events sealed but not yet in the log (in-memory backlog only; a spool keeps its own count). */
  get backlogSize(): number {
    return this.#backlog.length;
  }

  /** Seals and appends; resolves with the sealed event once durable; rejects (and rewinds) if refused. */
  appendDurable(draft: EventDraft): Promise<GatehouseEvent> {
    return this.#serialize(draft.session_id, async () => {
      const before: ChainHead | undefined = this.#chains.head(draft.session_id);
      const event = this.#chains.seal(draft);
      try {
        await this.#log.append([event]);
      } catch (error) {
        this.#chains.rewind(draft.session_id, before);
        throw error;
      }
      return event;
    });
  }

  /**
   * Seals and appends an outcome (or any event that must not be lost). Resolves once the event is
   * in the log, in the spool, or in the backlog; never rejects.
   */
  appendOutcome(draft: EventDraft): Promise<GatehouseEvent> {
    return this.#serialize(draft.session_id, async () => {
      const event = this.#chains.seal(draft);
      let lastError: unknown;
      for (let attempt = 0; attempt <= this.#retryDelaysMs.length; attempt++) {
        if (attempt > 0) await sleep(this.#retryDelaysMs[attempt - 1] ?? 0);
        try {
          await this.#log.append([event]);
          return event;
        } catch (error) {
          lastError = error;
        }
      }
      await this.#park(event, lastError);
      return event;
    });
  }

  /** Forgets a finished session's chain head once its queued appends are done. */
  async forget(stream: string): Promise<void> {
    await this.#tails.get(stream);
    this.#chains.forget(stream);
  }

  /** Waits for every queued append, then tries the backlog once more. */
  async drain(): Promise<void> {
    await Promise.all([...this.#tails.values()]);
    await this.#flushBacklog();
  }

  /** Stops the background retry (events still in the backlog are reported, not dropped silently). */
  stop(): void {
    if (this.#backlogTimer) clearInterval(this.#backlogTimer);
    this.#backlogTimer = undefined;
    if (this.#backlog.length > 0) {
      this.#logger.error({ events: this.#backlog.length, ids: this.#backlog.map((e) => e.id) }, 'audit events still unpublished at shutdown');
    }
  }

  #serialize<T>(stream: string, op: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(stream) ?? Promise.resolve();
    const run = previous.then(op, op);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(stream, tail);
    void tail.then(() => {
      if (this.#tails.get(stream) === tail) this.#tails.delete(stream);
    });
    return run;
  }

  async #park(event: GatehouseEvent, cause: unknown): Promise<void> {
    const reason = cause instanceof Error ? cause.message : String(cause);
    if (this.#spool) {
      try {
        await this.#spool.put([event]);
        this.#logger.warn({ event_id: event.id, type: event.type, reason }, 'audit log refused an outcome; spooled to disk');
        return;
      } catch (spoolError) {
        this.#logger.error({ event_id: event.id, err: spoolError }, 'outcome spool failed; keeping the event in memory');
      }
    }
    this.#backlog.push(event);
    this.#logger.warn({ event_id: event.id, type: event.type, reason, backlog: this.#backlog.length }, 'audit log refused an outcome; kept for retry');
    this.#backlogTimer ??= setInterval(() => void this.#flushBacklog(), this.#backlogRetryMs).unref();
  }

  async #flushBacklog(): Promise<void> {
    if (this.#backlogFlushing || this.#backlog.length === 0) return;
    this.#backlogFlushing = true;
    try {
      while (this.#backlog.length > 0) {
        const batch = this.#backlog.slice(0, 500);
        await this.#log.append(batch);
        this.#backlog.splice(0, batch.length);
      }
      if (this.#backlogTimer) clearInterval(this.#backlogTimer);
      this.#backlogTimer = undefined;
      this.#logger.info('audit backlog published');
    } catch {
      // still down: the interval tries again
    } finally {
      this.#backlogFlushing = false;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
