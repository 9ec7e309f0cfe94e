import { createHash } from 'node:crypto';
import path from 'node:path';
import {
  DEFAULT_KAFKA_TOPIC,
  type EventLog,
  type KafkaEventLog,
  type LogConsumer,
  type LogEnd,
} from '@gatehouse/eventlog';
import { encodeEvent, type GatehouseEvent } from '@gatehouse/events';
import type { AuditStore, PreparedInsert } from '@gatehouse/store';
import { pino, type Logger } from 'pino';
import { BatchJournal } from './batch-journal.js';
import { BatchReader, type BatchRange, type LogPosition, type ProjectionBatch } from './batch-reader.js';
import { DeadLetterFile, type DeadLetter } from './dead-letter-file.js';
import { ProjectorError } from './errors.js';

/** The Kafka adapter's consumer options (`deliverInvalidRecords`); other adapters ignore what they do not know. */
type ConsumerOptionsWithDeadLetters = NonNullable<Parameters<KafkaEventLog['openConsumer']>[1]>;

/** The dead-letter file's name next to the batch journal when no `deadLetterFile` is given. */
export const DEAD_LETTER_FILE_NAME = 'dead-letter.jsonl';

/** Options of `createProjector`. */
/**
 * The consumer group of the projectors of `topic`: `projector` for the default audit topic,
 * `projector.<topic>` for any other. A group is per topic because Kafka's group assignment spreads
 * partitions without regard to what each member subscribed to: two stacks with different topics
 * in one group would leave partitions that nobody consumes. `base` names another role (`rebuild`).
 */
export function projectorGroup(topic: string | undefined, base = 'projector'): string {
  if (topic === undefined || topic === DEFAULT_KAFKA_TOPIC) return base;
  const group = `${base}.${topic}`;
  // Group names are at most 128 characters here; a long topic keeps a readable prefix and a hash.
  return group.length <= 128
    ? group
    : `${group.slice(0, 111)}.${createHash('sha256').update(topic).digest('hex').slice(0, 16)}`;
}

export interface ProjectorOptions {
  /** The event log to read (embedded or Kafka). Not closed by the projector. */
  log: EventLog;
  /** Where events go. Not closed by the projector. */
  store: AuditStore;
  /**
   * Consumer group; projectors of one group share the work (Kafka) and the committed position.
   * Default `projector`; use `projectorGroup(topic)` for a topic other than `gatehouse.audit`.
   */
  group?: string;
  /**
   * Upper bound on events per batch (= per INSERT). Default 20,000: only a backlog fills it (a
   * batch is inserted `maxBatchWaitMs` after its first event), and ClickHouse's cost per event
   * falls with the size of the insert (see BENCHMARKS.md). Without a `journalFile`, a batch
   * gathers every partition this projector reads (one INSERT for all of them, each partition's
   * offset committed after it); with one, a batch is one partition's range.
   */
  maxBatchEvents?: number;
  /**
   * How long a batch keeps accumulating after its first event before it is inserted (and how long
   * an idle read waits), in ms: bounds the INSERT rate when events trickle in. Default 200.
   */
  maxBatchWaitMs?: number;
  /** Attempts per batch for retryable store / log errors before the projector fails. Default 10. */
  maxAttempts?: number;
  /** First retry delay in ms; doubles per attempt up to `retryMaxDelayMs`. Default 100. */
  retryBaseDelayMs?: number;
  /** Longest retry delay in ms. Default 5,000. */
  retryMaxDelayMs?: number;
  /**
   * File recording each batch's boundaries before it is inserted, so that a batch cut short by a
   * crash is re-read with the same boundaries (and dedup token) after the restart. Only for
   * single-partition logs (embedded). Default: none (queries still never see duplicates).
   */
  journalFile?: string;
  /**
   * JSON Lines file where records the projection can never take are set aside (`DeadLetterFile`):
   * a record of the log that is not a valid event, and an event the store refuses for good
   * (`GH_ERR_STORE_INVALID_EVENT`). Each is written and fsync'd (file and directory) before the
   * batch holding it is committed; the rest of the batch is projected and the projector goes on.
   * Default: `dead-letter.jsonl` next to `journalFile` when there is one; otherwise none, and such a
   * record stops the projector (every restart stops on it again) with an error naming its partition
   * and offset and this option.
   */
  deadLetterFile?: string;
  /** Read from the earliest retained event even if the group has a committed position (rebuild). Default false. */
  fromBeginning?: boolean;
  /**
   * Put before every batch's dedup token (`<prefix>/<token>`). A rebuild gives each run its own, so
   * that its batches are not dropped by ClickHouse as repeats of an earlier run's (which would leave
   * rows lost since then unrepaired). Reads deduplicate by event id, so the copies this makes are
   * never counted twice. At most 64 characters. Default: none.
   */
  insertTokenPrefix?: string;
  /** pino logger. Default: a pino logger named `projector` at `LOG_LEVEL` (default info). */
  logger?: Logger;
  /** Called once if the projector fails (after logging it). Default: nothing more. */
  onFailure?: (error: ProjectorError) => void;
}

/** `idle` before `start`; `failed` after an error it could not retry past. */
export type ProjectorState = 'idle' | 'running' | 'stopping' | 'stopped' | 'failed';

/** Counters since `start`. */
export interface ProjectorStats {
  state: ProjectorState;
  /** Batches inserted and committed. */
  batches: number;
  /** Events inserted and committed (a batch delivered again after a crash counts again). */
  events: number;
  /** Retries after retryable errors. */
  retries: number;
  /** Records set aside in the dead-letter file (invalid records, events the store refused). */
  deadLettered: number;
  /** Events between the committed position and the log end, as of the last check (undefined if the log cannot tell). */
  lag: number | undefined;
  /** Token of the last committed batch. */
  lastToken: string | undefined;
  /** When the last batch was committed (ISO 8601). */
  lastCommitAt: string | undefined;
  /** Message of the error that failed the projector. */
  lastError: string | undefined;
}

/** The log → ClickHouse projection loop. */
export interface Projector {
  /** Opens the consumer and starts the loop; resolves once it runs. Rejects if already started. */
  start(): Promise<void>;
  /** Stops after the batch in flight (uncommitted batches are delivered again later) and closes the consumer. Idempotent. */
  stop(): Promise<void>;
  /**
   * Resolves when everything in the log up to now has been inserted and committed (lag 0; for a log
   * that cannot report lag: when a read found nothing new). Rejects with
   * `GH_ERR_PROJECTOR_DRAIN_TIMEOUT` after `timeoutMs`, `GH_ERR_PROJECTOR_FAILED` if the projector
   * fails, `GH_ERR_PROJECTOR_STATE` if it is not running or stops meanwhile.
   */
  /**
   * Resolves once the projection has caught up with the log (lag 0), or with `upToNow` once it has
   * projected what the log held when drain was called: events appended meanwhile do not hold it
   * up (a rebuild beside live traffic ends). Rejects after `timeoutMs`, or if the projector fails.
   */
  drain(timeoutMs: number, options?: { upToNow?: boolean }): Promise<void>;
  stats(): ProjectorStats;
}

/**
 * Test hooks, deliberately not exported from the package: the crash test pauses the loop between
 * a store insert and its commit to SIGKILL the process right there.
 */
export interface ProjectorTestHooks {
  afterInsert?: (batch: ProjectionBatch) => Promise<void>;
}

/**
 * Creates the projector. The loop: `consumer.next` → `store.insertEvents(batch.events, batch.token)`
 * (retried with backoff while the error is retryable) → `consumer.commit(batch)` only after the
 * store acknowledged. At-least-once delivery plus the store's deduplication by token and by event
 * id means a crash anywhere loses nothing and makes no query count an event twice.
 */
export function createProjector(options: ProjectorOptions): Projector {
  return createProjectorWithHooks(options, {});
}

export function createProjectorWithHooks(options: ProjectorOptions, hooks: ProjectorTestHooks): Projector {
  return new ProjectorLoop(options, hooks);
}

interface DrainWaiter {
  resolve: () => void;
  reject: (error: ProjectorError) => void;
  timer: NodeJS.Timeout;
  /** For `drain(…, { upToNow: true })`: where the log ended when the drain was asked for. */
  mark?: Promise<LogEnd | undefined>;
}

/** Thrown inside the loop to unwind when `stop` interrupts a retry wait. */
class Stopping {}

/** `partition 0 offsets 0-299, partition 3 offsets 10-20`. */
function describeRanges(ranges: readonly BatchRange[]): string {
  return ranges.map((r) => `partition ${r.partition} offsets ${r.firstOffset}-${r.lastOffset}`).join(', ');
}

/** `embedded partition 0 offset 17`, `gatehouse.audit partition 3 offset 1042`. */
function describePosition(position: LogPosition): string {
  return `${position.source} partition ${position.partition} offset ${position.offset}`;
}

/** A dead-letter entry for a record of the log that is not an event. */
function invalidRecordLetter(record: ProjectionBatch['invalid'][number]): DeadLetter {
  return {
    source: record.source,
    partition: record.partition,
    offset: record.offset,
    reason: 'invalid_record',
    error: record.error,
    eventId: null,
    key: record.key,
    value: record.value,
  };
}

function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min || !Number.isInteger(value)) {
    throw new ProjectorError(
      'GH_ERR_PROJECTOR_CONFIG',
      `${name}: expected an integer ≥ ${min}, got ${String(value)}`,
    );
  }
  return value;
}

/** A batch as read, with its insert already encoded when the store can do that ahead. */
interface PreparedBatch {
  read: ProjectionBatch;
  insert?: PreparedInsert;
}

class ProjectorLoop implements Projector {
  readonly #log: EventLog;
  readonly #store: AuditStore;
  readonly #group: string;
  readonly #maxEvents: number;
  readonly #maxWaitMs: number;
  readonly #maxAttempts: number;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #journal: BatchJournal | undefined;
  readonly #deadLetters: DeadLetterFile | undefined;
  readonly #fromBeginning: boolean;
  readonly #logger: Logger;
  readonly #tokenPrefix: string | undefined;
  readonly #onFailure: ((error: ProjectorError) => void) | undefined;
  readonly #hooks: ProjectorTestHooks;

  #state: ProjectorState = 'idle';
  #consumer: LogConsumer | undefined;
  #loop: Promise<void> | undefined;
  #abort = new AbortController();
  #waiters = new Set<DrainWaiter>();
  #failure: ProjectorError | undefined;
  #stats = {
    batches: 0,
    events: 0,
    retries: 0,
    deadLettered: 0,
    lag: undefined as number | undefined,
    lastToken: undefined as string | undefined,
    lastCommitAt: undefined as string | undefined,
  };

  constructor(options: ProjectorOptions, hooks: ProjectorTestHooks) {
    if (options.log === undefined || options.store === undefined) {
      throw new ProjectorError('GH_ERR_PROJECTOR_CONFIG', 'createProjector: log and store are required');
    }
    this.#log = options.log;
    this.#store = options.store;
    this.#group = options.group ?? 'projector';
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(this.#group)) {
      throw new ProjectorError(
        'GH_ERR_PROJECTOR_CONFIG',
        `group: ${JSON.stringify(this.#group)} must be 1-128 of [A-Za-z0-9._-]`,
      );
    }
    this.#maxEvents = positive('maxBatchEvents', options.maxBatchEvents, 20_000);
    this.#maxWaitMs = positive('maxBatchWaitMs', options.maxBatchWaitMs, 200, 0);
    this.#maxAttempts = positive('maxAttempts', options.maxAttempts, 10);
    this.#retryBaseMs = positive('retryBaseDelayMs', options.retryBaseDelayMs, 100, 0);
    this.#retryMaxMs = positive('retryMaxDelayMs', options.retryMaxDelayMs, 5_000, 0);
    this.#journal = options.journalFile === undefined ? undefined : new BatchJournal(options.journalFile);
    const deadLetterFile =
      options.deadLetterFile ??
      (options.journalFile === undefined
        ? undefined
        : path.join(path.dirname(options.journalFile), DEAD_LETTER_FILE_NAME));
    if (deadLetterFile !== undefined && deadLetterFile.length === 0)
      throw new ProjectorError('GH_ERR_PROJECTOR_CONFIG', 'deadLetterFile: expected a file path, got ""');
    this.#deadLetters = deadLetterFile === undefined ? undefined : new DeadLetterFile(deadLetterFile);
    this.#fromBeginning = options.fromBeginning ?? false;
    if (
      options.insertTokenPrefix !== undefined &&
      (options.insertTokenPrefix.length === 0 || options.insertTokenPrefix.length > 64)
    )
      throw new ProjectorError(
        'GH_ERR_PROJECTOR_CONFIG',
        `insertTokenPrefix: expected 1…64 characters, got ${JSON.stringify(options.insertTokenPrefix)}`,
      );
    this.#tokenPrefix = options.insertTokenPrefix;
    this.#logger = options.logger ?? pino({ name: 'projector', level: process.env.LOG_LEVEL ?? 'info' });
    this.#onFailure = options.onFailure;
    this.#hooks = hooks;
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle') {
      throw new ProjectorError(
        'GH_ERR_PROJECTOR_STATE',
        `start: the projector is ${this.#state}; create a new one to start again`,
      );
    }
    this.#state = 'running';
    try {
      const pending = await this.#journal?.read();
      await this.#deadLetters?.load();
      const consumerOptions: ConsumerOptionsWithDeadLetters = {
        fromBeginning: this.#fromBeginning,
        // Only a projector that can set invalid records aside may be handed them (and commit past them).
        deliverInvalidRecords: this.#deadLetters !== undefined,
      };
      this.#consumer = await this.#log.openConsumer(this.#group, consumerOptions);
      this.#logger.info(
        {
          group: this.#group,
          log: this.#log.kind,
          store: this.#store.kind,
          pending: pending?.token,
          deadLetterFile: this.#deadLetters?.file,
        },
        'projector started',
      );
      if (this.#deadLetters === undefined)
        this.#logger.warn(
          { group: this.#group },
          'no deadLetterFile: a record that can never be projected stops this projector',
        );
      this.#loop = this.#run(this.#consumer, pending?.lastOffset);
    } catch (error) {
      this.#state = 'failed';
      throw error;
    }
  }

  async stop(): Promise<void> {
    if (this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    if (this.#state === 'running') this.#state = 'stopping';
    this.#abort.abort();
    await this.#loop;
    await this.#consumer
      ?.close()
      .catch((error: unknown) => this.#logger.warn({ err: error }, 'closing the log consumer failed'));
    this.#consumer = undefined;
    if (this.#state !== 'failed') this.#state = 'stopped';
    this.#settleWaiters(
      new ProjectorError(
        'GH_ERR_PROJECTOR_STATE',
        'drain: the projector was stopped before it reached the end of the log',
      ),
    );
    this.#logger.info(
      {
        group: this.#group,
        batches: this.#stats.batches,
        events: this.#stats.events,
        deadLettered: this.#stats.deadLettered,
      },
      'projector stopped',
    );
  }

  drain(timeoutMs: number, options: { upToNow?: boolean } = {}): Promise<void> {
    if (this.#state === 'failed') {
      return Promise.reject(
        new ProjectorError(
          'GH_ERR_PROJECTOR_FAILED',
          `drain: the projector failed: ${this.#failure?.message}`,
          { cause: this.#failure },
        ),
      );
    }
    if (this.#state !== 'running') {
      return Promise.reject(
        new ProjectorError('GH_ERR_PROJECTOR_STATE', `drain: the projector is ${this.#state}, not running`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: DrainWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(
            new ProjectorError(
              'GH_ERR_PROJECTOR_DRAIN_TIMEOUT',
              `drain: the end of the log was not reached within ${timeoutMs} ms (lag ${String(this.#stats.lag)})`,
              { retryable: true },
            ),
          );
        }, timeoutMs),
      };
      if (options.upToNow === true) {
        waiter.mark = (this.#consumer?.end() ?? Promise.resolve(undefined)).catch((error: unknown) => {
          this.#logger.warn({ err: error }, 'reading where the log ends failed; draining to lag 0');
          return undefined;
        });
      }
      this.#waiters.add(waiter);
    });
  }

  stats(): ProjectorStats {
    return { state: this.#state, ...this.#stats, lastError: this.#failure?.message };
  }

  async #run(consumer: LogConsumer, untilOffset: string | undefined): Promise<void> {
    let until = untilOffset;
    let prefetched: Promise<PreparedBatch> | undefined;
    const store = this.#store;
    // Encode a batch for the store as soon as it is read: for a prefetched batch that happens while
    // ClickHouse is still writing the previous one. A batch the store refuses to encode is inserted
    // the plain way below, which rejects with the same error at its turn.
    const prepare = (read: ProjectionBatch): PreparedBatch => {
      if (read.events.length === 0 || store.prepareInsert === undefined) return { read };
      try {
        // Log batches are decoded with the event schema already (see the EventLog port).
        return { read, insert: store.prepareInsert(read.events, { validated: true }) };
      } catch {
        return { read };
      }
    };
    const reader = new BatchReader(consumer, {
      maxEvents: this.#maxEvents,
      maxWaitMs: this.#maxWaitMs,
      // The journal re-reads one range after a crash: with it, a batch stays within one partition.
      crossPartition: this.#journal === undefined,
      signal: this.#abort.signal,
      source: this.#log.kind,
      attempt: (what, operation) => this.#attempt(what, operation),
    });
    try {
      while (this.#state === 'running') {
        const { read: batch, insert } = await (prefetched ?? reader.next(until).then(prepare));
        prefetched = undefined;
        until = undefined;
        if (batch.ranges.length === 0) {
          if (this.#state === 'running') await this.#checkDrained(consumer, true);
          continue;
        }
        if (this.#journal !== undefined) {
          const journal = this.#journal;
          const [range, ...more] = batch.ranges;
          // The reader keeps a batch within one range when there is a journal (crossPartition off).
          if (range === undefined || more.length > 0)
            throw new ProjectorError(
              'GH_ERR_PROJECTOR_JOURNAL',
              `batch ${batch.token} spans ${batch.ranges.length} ranges; the batch journal records exactly one`,
            );
          await this.#attempt(`journal batch ${batch.token}`, () => journal.record(range));
        }
        // Set aside before the commit below moves past them; a crash in between writes none twice.
        if (batch.invalid.length > 0) await this.#setAside(batch.invalid.map(invalidRecordLetter));
        const inserted = this.#insert(batch, insert);
        // A full batch, or one that ended where another partition's events begin, means more is
        // waiting: read it while ClickHouse works on this one (chDB and the HTTP client both run the
        // insert off the event loop). Not at the tail, where the read would wait maxBatchWaitMs and
        // hold up this batch's commit behind it.
        if (batch.moreWaiting) {
          prefetched = reader.next().then(prepare);
          prefetched.catch(() => undefined);
        }
        const insertedEvents = await inserted;
        await this.#hooks.afterInsert?.(batch);
        // Committed only now: a crash before this line delivers the batch again, and the store drops the repeat.
        for (const last of batch.commitWith)
          await this.#attempt(`commit batch ${batch.token}`, () => consumer.commit(last));
        this.#stats.batches += 1;
        this.#stats.events += insertedEvents;
        this.#stats.lastToken = batch.token;
        this.#stats.lastCommitAt = new Date().toISOString();
        this.#logger.debug({ token: batch.token, events: insertedEvents }, 'batch projected');
        await this.#checkDrained(consumer, false);
      }
    } catch (error) {
      if (error instanceof Stopping) return;
      this.#fail(error);
    }
  }

  /**
   * Inserts the batch's events; resolves with how many were inserted. An event the store refuses
   * for good (`GH_ERR_STORE_INVALID_EVENT`, naming its index) is set aside in the dead-letter file
   * and the rest inserted again (another set of ids: another dedup token, as deterministic); without
   * a dead-letter file the projector fails naming its partition and offset. Retryable errors are
   * retried (ClickHouse down is never a reason to skip anything).
   */
  async #insert(batch: ProjectionBatch, prepared: PreparedInsert | undefined): Promise<number> {
    const store = this.#store;
    let events: readonly GatehouseEvent[] = batch.events;
    /** Index in `batch.events` of each of `events` (after some were set aside). */
    let indices: number[] | undefined;
    let insert = prepared;
    const token = this.#tokenPrefix === undefined ? batch.token : `${this.#tokenPrefix}/${batch.token}`;
    const what = `insert batch ${token} (${describeRanges(batch.ranges)})`;
    for (;;) {
      if (events.length === 0) return 0;
      const current = events;
      try {
        await this.#attempt(what, () =>
          insert !== undefined ? insert(token) : store.insertEvents(current, token, { validated: true }),
        );
        return events.length;
      } catch (error) {
        if (error instanceof Stopping) throw error;
        const refused = this.#refusedIndex(error, current);
        if (refused === undefined) throw error;
        const original = indices === undefined ? refused : indices[refused]!;
        const event = current[refused]!;
        const position = batch.locate(original);
        const reason = error instanceof ProjectorError && error.cause instanceof Error ? error.cause : error;
        const message = reason instanceof Error ? reason.message : String(reason);
        if (this.#deadLetters === undefined) {
          throw new ProjectorError(
            'GH_ERR_PROJECTOR_FAILED',
            `${describePosition(position)} (event ${event.id}) is refused by the store and there is no deadLetterFile to set it aside: ${message}`,
            { cause: error },
          );
        }
        await this.#setAside([
          {
            ...position,
            reason: 'refused_by_store',
            error: message,
            eventId: event.id,
            key: event.session_id,
            value: encodeEvent(event),
          },
        ]);
        indices = (indices ?? current.map((_, i) => i)).filter((_, i) => i !== refused);
        events = current.filter((_, i) => i !== refused);
        insert = undefined;
      }
    }
  }

  /**
   * The index of the event the store refused for good, when `error` is such a refusal
   * (`GH_ERR_STORE_INVALID_EVENT` names "event <i> of <n>"); undefined for anything else.
   */
  #refusedIndex(error: unknown, events: readonly GatehouseEvent[]): number | undefined {
    const cause = error instanceof ProjectorError ? error.cause : error;
    const code = (cause as { code?: unknown } | undefined)?.code;
    if (code !== 'GH_ERR_STORE_INVALID_EVENT' || (cause as { retryable?: unknown }).retryable === true)
      return undefined;
    const named = /\bevent (\d+) of (\d+)\b/.exec(cause instanceof Error ? cause.message : '');
    if (named !== null && Number(named[2]) === events.length && Number(named[1]) < events.length)
      return Number(named[1]);
    // The message does not say which: ask the store about each event alone (no I/O, encoding only).
    const prepare = this.#store.prepareInsert?.bind(this.#store);
    if (prepare === undefined) return undefined;
    for (let i = 0; i < events.length; i++) {
      try {
        prepare([events[i]!], { validated: true });
      } catch {
        return i;
      }
    }
    return undefined;
  }

  /** Writes `letters` to the dead-letter file (retried while the disk refuses), logs and counts each. */
  async #setAside(letters: readonly DeadLetter[]): Promise<void> {
    const file = this.#deadLetters;
    if (file === undefined) {
      const [first] = letters;
      throw new ProjectorError(
        'GH_ERR_PROJECTOR_FAILED',
        `${first === undefined ? 'a record' : describePosition(first)} is not a valid event and there is no deadLetterFile to set it aside: ${first?.error ?? ''}`,
      );
    }
    const fresh = await this.#attempt(
      `write ${letters.length} records to the dead-letter file ${file.file}`,
      () => file.write(letters),
    );
    for (const letter of fresh) {
      this.#stats.deadLettered += 1;
      this.#logger.error(
        {
          source: letter.source,
          partition: letter.partition,
          offset: letter.offset,
          reason: letter.reason,
          eventId: letter.eventId,
          file: file.file,
          error: letter.error,
        },
        `${describePosition(letter)} can never be projected (${letter.reason}): set aside in ${file.file}, projection goes on past it`,
      );
    }
  }

  /** Runs `operation`, retrying retryable errors with exponential backoff; `Stopping` if stopped meanwhile. */
  async #attempt<T>(what: string, operation: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await operation();
      } catch (error) {
        if (this.#state !== 'running') throw new Stopping();
        const retryable = (error as { retryable?: unknown }).retryable === true;
        if (!retryable || attempt >= this.#maxAttempts) {
          throw new ProjectorError(
            'GH_ERR_PROJECTOR_FAILED',
            `${what} failed${retryable ? ` after ${attempt} attempts` : ''}: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
        }
        const delayMs = Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** (attempt - 1));
        this.#stats.retries += 1;
        this.#logger.warn({ err: error, attempt, delayMs }, `${what} failed; retrying`);
        await this.#sleep(delayMs);
        if (this.#state !== 'running') throw new Stopping();
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#abort.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async #checkDrained(consumer: LogConsumer, readFoundNothing: boolean): Promise<void> {
    let lag: number | undefined;
    try {
      lag = await consumer.lag();
    } catch (error) {
      this.#logger.warn({ err: error }, 'reading the consumer lag failed');
      return;
    }
    this.#stats.lag = lag;
    const caughtUp = lag === 0 || (lag === undefined && readFoundNothing);
    for (const waiter of [...this.#waiters]) {
      let done = caughtUp;
      const mark = waiter.mark === undefined ? undefined : await waiter.mark;
      if (!done && mark !== undefined) {
        try {
          done = (await consumer.lag(mark)) === 0;
        } catch (error) {
          this.#logger.warn({ err: error }, 'reading the consumer lag failed');
        }
      }
      if (done && this.#waiters.delete(waiter)) {
        clearTimeout(waiter.timer);
        waiter.resolve();
      }
    }
  }

  #settleWaiters(error?: ProjectorError): void {
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
    this.#waiters.clear();
  }

  #fail(error: unknown): void {
    const failure =
      error instanceof ProjectorError
        ? error
        : new ProjectorError(
            'GH_ERR_PROJECTOR_FAILED',
            `projector failed: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
    this.#failure = failure;
    this.#state = 'failed';
    this.#logger.error(
      { err: failure, cause: failure.cause, group: this.#group },
      'projector failed; uncommitted batches will be delivered again on restart',
    );
    this.#settleWaiters(
      new ProjectorError('GH_ERR_PROJECTOR_FAILED', `drain: the projector failed: ${failure.message}`, {
        cause: failure,
      }),
    );
    try {
      this.#onFailure?.(failure);
    } catch (callbackError) {
      this.#logger.error({ err: callbackError }, 'onFailure threw');
    }
  }
}
