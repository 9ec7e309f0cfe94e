import type { ChainHead, ChainRegistry, EventDraft, GatehouseEvent } from '@gatehouse/events';
import { DEFAULT_SPOOLABLE_TYPES, LogError, type EventLog, type SpoolingLog } from '@gatehouse/eventlog';
import type { Logger } from 'pino';

/**
 * Where outcomes go when the log keeps refusing them: a durable local spool that publishes them
 * later (`packages/eventlog/src/spool`), or anything with the same `put`.
 */
export interface OutcomeSpool {
  /** Stores events durably for later publication; resolves when they are safe on local disk. */
  put(events: readonly GatehouseEvent[]): Promise<void>;
}

/**
 * Event types the ingress hands to its outcome spool (`createSpoolingLog({ spoolableTypes })`):
 * the default outcomes, `tools.listed` (an answer already given), and the durable types
 * `session.started` / `call.attempted`, which the recorder spools only as the in-doubt record of
 * a session or call it has already refused (see `AuditRecorder`); nothing is forwarded on them.
 */
export const INGRESS_SPOOLABLE_TYPES: readonly string[] = [
  ...DEFAULT_SPOOLABLE_TYPES,
  'tools.listed',
  'session.started',
  'call.attempted',
];

/**
 * The spool of a `SpoolingLog` (`createSpoolingLog` from `@gatehouse/eventlog`), when `log` is one:
 * outcomes the recorder could not append go to its `appendOutcome`, which retries, writes them to
 * the fdatasync'd local spool and republishes them in order. Types it does not spool (e.g.
 * `tools.listed`, `auth.rejected`) are refused there and stay in the recorder's in-memory backlog.
 */
export function spoolOf(log: EventLog): OutcomeSpool | undefined {
  const candidate = log as Partial<SpoolingLog>;
  if (typeof candidate.appendOutcome !== 'function') return undefined;
  const spooling = log as SpoolingLog;
  return {
    put: async (events) => {
      await spooling.appendOutcome(events);
    },
  };
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
  /**
   * Most events the in-memory backlog holds (events the spool does not take, e.g. `auth.rejected`
   * during a log outage under a flood of bad tokens). Beyond it events are dropped, logged at
   * error level with their id, and counted in `droppedCount`. Default 100,000.
   */
  maxBacklog?: number;
  /**
   * How long an outcome queued with `linger` waits for the session's next event before it is
   * appended alone, in ms. The next call's `call.attempted` then shares its write and fsync, which
   * halves the log round trips per call. Default 5; 0 disables.
   */
  outcomeLingerMs?: number;
}

/** One append waiting for its stream's turn. */
interface Pending {
  draft: EventDraft;
  /** Durable: reject if refused. Outcome: retry, then park; never reject. */
  durable: boolean;
  /** May wait up to `outcomeLingerMs` for company. */
  linger: boolean;
  attempts: number;
  /** Set once sealed; kept across retries so a retried event keeps its seq, id and hash. */
  sealed?: GatehouseEvent;
  /** Appended in a batch of its own: a batch holding it was refused as too large. */
  alone?: boolean;
  /** Its `args` were already replaced by `ARGS_OMITTED` to fit the log's record limit. */
  shrunk?: boolean;
  resolve: (event: GatehouseEvent) => void;
  reject: (error: unknown) => void;
}

/** One stream's appends: waiting items, the loop's completion, and how to end a linger early. */
interface StreamQueue {
  pending: Pending[];
  idle: Promise<void>;
  wake: (() => void) | undefined;
}

/** Most events appended to the log in one batch for one stream. */
const MAX_STREAM_BATCH = 256;

/**
 * What an outcome carries in place of arguments too large for one log record (the event's
 * `args_sha256` is still the digest of the original arguments).
 */
export const ARGS_OMITTED = {
  gatehouse_omitted: "arguments over the audit log's record limit; args_sha256 is their digest",
} as const;

/**
 * Seals events onto their chain (one per session or named stream) and appends them to the log.
 *
 * Guarantees:
 * - Appends of one stream are serialized, so `seq` order equals log order within a stream. Events
 *   of one stream that queue up while an append is in flight go to the log together in the next
 *   append (one fsync / one produce), so concurrent calls in one session still share group commits.
 * - `appendDurable` resolves only after the log acknowledged the event, and rejects if the log
 *   refuses it. A refusal that says nothing was written (`LogError.nothingWritten`: a record too
 *   large or invalid, refused before sending) rewinds the chain head, so the next event reuses the
 *   seq. Any other refusal is ambiguous: Kafka may have written a record whose acknowledgement was
 *   lost, or a produce request carrying several sessions' records may have failed for one of them. The event then stays at its seq and is re-appended like an outcome (retried, spooled),
 *   so the chain is gapless whether or not the first attempt landed, and no seq is ever taken by
 *   two events; a duplicate record carries the same event id, which readers deduplicate by. The
 *   caller was refused either way (a refused `call.attempted` is followed by its `call.failed`
 *   with status `audit_unavailable`).
 * - `appendOutcome` never rejects: it retries, then hands the event to the spool (or an in-memory
 *   backlog retried in the background). Its seq stays taken, so the chain stays gapless once
 *   the event lands.
 * - An event over the log's record limit is never retried as it is (see `#tooLarge`): an outcome
 *   is kept with `ARGS_OMITTED` in place of its arguments, a durable event is refused.
 */
export class AuditRecorder {
  readonly #log: EventLog;
  readonly #chains: ChainRegistry;
  readonly #logger: Logger;
  readonly #spool: OutcomeSpool | undefined;
  readonly #retryDelaysMs: readonly number[];
  readonly #backlogRetryMs: number;
  readonly #lingerMs: number;
  readonly #maxBacklog: number;
  #dropped = 0;
  readonly #queues = new Map<string, StreamQueue>();
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
    this.#lingerMs = options.outcomeLingerMs ?? 5;
    this.#maxBacklog = options.maxBacklog ?? 100_000;
  }

  /**
   * Events dropped: the backlog was full (see `maxBacklog`), or an outcome stayed over the log's
   * record limit even without its arguments.
   */
  get droppedCount(): number {
    return this.#dropped;
  }

  /** Events sealed but not yet in the log (in-memory backlog only; a spool keeps its own count). */
  get backlogSize(): number {
    return this.#backlog.length;
  }

  /** Seals and appends; resolves with the sealed event once durable; rejects if refused (see the class doc). */
  appendDurable(draft: EventDraft): Promise<GatehouseEvent> {
    return this.#enqueue(draft, true, false);
  }

  /**
   * Seals and appends an outcome (or any event that must not be lost). Resolves once the event is
   * in the log, in the spool, or in the backlog; never rejects. `linger`: see `outcomeLingerMs`
   * (for outcomes nobody waits for, such as `call.completed`).
   */
  appendOutcome(draft: EventDraft, options: { linger?: boolean } = {}): Promise<GatehouseEvent> {
    return this.#enqueue(draft, false, options.linger === true && this.#lingerMs > 0);
  }

  /** Forgets a finished session's chain head once its queued appends are done. */
  async forget(stream: string): Promise<void> {
    await this.#queues.get(stream)?.idle;
    if (!this.#queues.has(stream)) this.#chains.forget(stream);
  }

  /** Waits for every queued append, then tries the backlog once more. */
  async drain(): Promise<void> {
    while (this.#queues.size > 0) await Promise.all([...this.#queues.values()].map((q) => q.idle));
    await this.#flushBacklog();
  }

  /** Stops the background retry (events still in the backlog are reported, not dropped silently). */
  stop(): void {
    if (this.#backlogTimer) clearInterval(this.#backlogTimer);
    this.#backlogTimer = undefined;
    if (this.#backlog.length > 0) {
      this.#logger.error(
        { events: this.#backlog.length, ids: this.#backlog.map((e) => e.id) },
        'audit events still unpublished at shutdown',
      );
    }
  }

  #enqueue(draft: EventDraft, durable: boolean, linger: boolean): Promise<GatehouseEvent> {
    return new Promise<GatehouseEvent>((resolve, reject) => {
      const item: Pending = { draft, durable, linger, attempts: 0, resolve, reject };
      const queue = this.#queues.get(draft.session_id);
      if (queue) {
        queue.pending.push(item);
        if (!linger) queue.wake?.();
        return;
      }
      const fresh: StreamQueue = { pending: [item], idle: Promise.resolve(), wake: undefined };
      this.#queues.set(draft.session_id, fresh);
      fresh.idle = this.#run(draft.session_id, fresh);
    });
  }

  /** Appends the stream's queue batch by batch until it is empty, then removes it. */
  async #run(stream: string, queue: StreamQueue): Promise<void> {
    const pending = queue.pending;
    await Promise.resolve(); // let callers of this tick join the first batch
    while (pending.length > 0) {
      if (pending.every((item) => item.linger)) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          queue.wake = resolve;
          timer = setTimeout(resolve, this.#lingerMs);
        });
        clearTimeout(timer);
        queue.wake = undefined;
        for (const item of pending) item.linger = false;
      }
      const batch = pending.splice(0, pending[0]?.alone === true ? 1 : MAX_STREAM_BATCH);
      const before: ChainHead | undefined = this.#chains.head(stream);
      const fresh = batch.filter((item) => item.sealed === undefined);
      const sealed = batch.map((item) => (item.sealed ??= this.#chains.seal(item.draft)));
      try {
        await this.#log.append(sealed);
        batch.forEach((item, i) => item.resolve(sealed[i]!));
        continue;
      } catch (error) {
        // Only a refusal before anything was sent is definite. Any other failure, retryable or
        // not, may have written some records (Kafka sends appends of many sessions in one request).
        const definite = error instanceof LogError && error.nothingWritten;
        if (definite) {
          // Nothing was written: give this batch's seqs back (earlier in-doubt events keep theirs).
          this.#chains.rewind(stream, before);
          for (const item of fresh) item.sealed = undefined;
        }
        if (definite && error.code === 'GH_ERR_LOG_RECORD_TOO_LARGE') {
          this.#tooLarge(stream, batch, sealed, error);
          continue;
        }
        const retry: Pending[] = [];
        for (const item of batch) {
          if (!item.durable) retry.push(item);
          else if (definite) item.reject(error);
          else {
            item.reject(error);
            this.#logger.warn(
              { event_id: item.sealed?.id, type: item.draft.type, session_id: stream },
              'durable append refused (maybe written); re-appending the event at its seq',
            );
            item.durable = false;
            item.resolve = noop;
            item.reject = noop;
            retry.push(item);
          }
        }
        if (retry.length === 0) continue;
        const attempt = retry[0]!.attempts;
        if (attempt < this.#retryDelaysMs.length) {
          for (const item of retry) item.attempts += 1;
          await sleep(this.#retryDelaysMs[attempt] ?? 0);
          pending.unshift(...retry);
        } else {
          for (const item of retry) {
            const event = (item.sealed ??= this.#chains.seal(item.draft));
            await this.#park(event, error);
            item.resolve(event);
          }
        }
      }
    }
    this.#queues.delete(stream);
  }

  /**
   * A batch the log refused, writing nothing, because an event is over its record limit: the same
   * events can never fit, so they are not retried as they are. The events of a larger batch go
   * again one at a time (so the others are not refused with it). An event alone: a durable one is
   * refused (its call with it); an outcome is appended again with `ARGS_OMITTED` in place of its
   * arguments; one still too large, or in doubt from an earlier attempt, is dropped, logged and
   * counted. Dropping leaves no gap: its seq was given back.
   */
  #tooLarge(stream: string, batch: Pending[], sealed: GatehouseEvent[], error: LogError): void {
    const queue = this.#queues.get(stream)!;
    if (batch.length > 1) {
      for (const item of batch) item.alone = true;
      queue.pending.unshift(...batch);
      return;
    }
    const item = batch[0]!;
    if (item.durable) {
      item.reject(error);
      return;
    }
    const args = item.draft.args;
    if (!item.shrunk && item.sealed === undefined && args !== null && args !== undefined) {
      item.shrunk = true;
      item.draft = { ...item.draft, args: ARGS_OMITTED } as EventDraft;
      this.#logger.warn(
        { type: item.draft.type, session_id: stream, err: error.message },
        'outcome over the log record limit; appending it without its arguments',
      );
      queue.pending.unshift(item);
      return;
    }
    this.#dropped += 1;
    this.#logger.error(
      { type: item.draft.type, session_id: stream, err: error.message, dropped: this.#dropped },
      'outcome over the log record limit even without its arguments; dropped',
    );
    item.resolve(sealed[0]!);
  }

  async #park(event: GatehouseEvent, cause: unknown): Promise<void> {
    const reason = cause instanceof Error ? cause.message : String(cause);
    if (this.#spool) {
      try {
        await this.#spool.put([event]);
        this.#logger.warn(
          { event_id: event.id, type: event.type, reason },
          'audit log refused an outcome; spooled to disk',
        );
        return;
      } catch (spoolError) {
        this.#logger.error(
          { event_id: event.id, err: spoolError },
          'outcome spool failed; keeping the event in memory',
        );
      }
    }
    if (this.#backlog.length >= this.#maxBacklog) {
      this.#dropped += 1;
      this.#logger.error(
        { event_id: event.id, type: event.type, session_id: event.session_id, dropped: this.#dropped },
        'audit backlog full; event dropped',
      );
      return;
    }
    this.#backlog.push(event);
    this.#logger.warn(
      { event_id: event.id, type: event.type, reason, backlog: this.#backlog.length },
      'audit log refused an outcome; kept for retry',
    );
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

function noop(): void {}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
