import type { GatehouseEvent } from '@gatehouse/events';
import type { CommitCounts, ConsumerOptions, EventLog, LogConsumer } from '../event-log.js';
import { numberFromEnv } from '../env-number.js';
import { LogError } from '../errors.js';
import { SpoolFile, type SpooledRecord } from './spool-file.js';

/** How hard `appendOutcome` tries the log before spooling, and how often the spool is republished. */
export interface SpoolRetryOptions {
  /** Appends tried before spooling (the first included). Default 3. */
  attempts?: number;
  /** Wait before the second attempt, doubled for each next one, ms. Default 100. */
  baseDelayMs?: number;
  /** Upper bound on one wait between attempts, ms. Default 2,000. */
  maxDelayMs?: number;
  /** How often the background loop tries to republish a non-empty spool, ms. Default 1,000. */
  republishIntervalMs?: number;
  /** Upper bound on the events of one republishing append. Default 500. */
  republishBatchEvents?: number;
}

/** Where the spool reports what it did. pino loggers fit this shape. */
export interface SpoolLogger {
  warn(details: Record<string, unknown>, message: string): void;
  info?(details: Record<string, unknown>, message: string): void;
}

export interface SpoolingLogOptions {
  /** The log to publish to. */
  log: EventLog;
  /** Directory of the spool (created if missing), e.g. `$GATEHOUSE_DATA_DIR/spool`. One process per directory. */
  dir: string;
  retry?: SpoolRetryOptions;
  /**
   * Event types `appendOutcome` accepts. Default `call.completed`, `call.failed`, `call.denied`,
   * `session.ended`: records of what already happened. Never `call.attempted`: a call whose attempt
   * is not durable in the log must not be forwarded (fail closed), so it cannot be spooled.
   */
  spoolableTypes?: readonly string[];
  /**
   * Largest the spool file may grow, in bytes (it is emptied once everything in it is republished).
   * Past it `appendOutcome` rejects with `GH_ERR_LOG_SPOOL_FULL` rather than fill the disk during a
   * long outage; the ingress then keeps the events in its bounded in-memory backlog. Default 1 GiB.
   */
  maxSpoolBytes?: number;
  logger?: SpoolLogger;
}

/** Where `appendOutcome` put the events. */
export type OutcomeDisposition = 'logged' | 'spooled';

/**
 * An `EventLog` wrapper that never loses an outcome:
 *
 * - `appendOutcome(events)` appends to the log, retrying retryable failures (`retry.attempts`,
 *   exponential backoff). If the log stays down, the events are written to a local, fdatasync'd
 *   spool file and the call resolves with `'spooled'`. Non-retryable failures (a record too large,
 *   an invalid event) reject: spooling would not make them publishable.
 * - A background loop republishes the spool in order every `retry.republishIntervalMs` and drops
 *   events from it only after the log acknowledged them (at-least-once: a crash in between
 *   publishes them again; readers deduplicate by event id).
 * - Per-session order is kept: while a session has spooled events, later events of that session
 *   are spooled behind them (`appendOutcome`), and `append` of such a session first tries to
 *   republish the spool and rejects (retryable `GH_ERR_LOG_UNAVAILABLE`) if it cannot, so that
 *   nothing overtakes a spooled event in the log. Calls for one session are serialized.
 * - The spool survives a restart: `createSpoolingLog` reads what was not yet republished and the
 *   loop publishes it.
 * - The spool is bounded (`maxSpoolBytes`): an outcome that would pass the bound is refused with
 *   `GH_ERR_LOG_SPOOL_FULL` (nothing written), and the spool takes events again once it drained.
 */
export interface SpoolingLog extends EventLog {
  appendOutcome(events: readonly GatehouseEvent[]): Promise<OutcomeDisposition>;
  /** Spooled events not yet acknowledged by the log. */
  pending(): number;
  /** True while `sessionId` has spooled events not yet acknowledged by the log. */
  hasSpooled(sessionId: string): boolean;
  /** Tries to republish the whole spool now; resolves with the events still spooled afterwards. */
  flush(): Promise<number>;
  /** The spool directory. */
  readonly dir: string;
  /** The inner log's commit counts, if it keeps them (the embedded log). */
  commitCounts(): CommitCounts | undefined;
}

export const DEFAULT_SPOOLABLE_TYPES = [
  'call.completed',
  'call.failed',
  'call.denied',
  'session.ended',
] as const;

function positive(value: number | undefined, fallback: number, name: string, min = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `createSpoolingLog: retry.${name} must be a number ≥ ${min}, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Reads a spool bound from the environment variable `name` (`GATEHOUSE_SPOOL_MAX_BYTES`): a whole
 * number of bytes, at least 1,024; undefined when unset (the spool's default, 1 GiB). A bad value is
 * a `GH_ERR_LOG_CONFIG` naming the variable.
 */
export function spoolMaxBytesFromEnv(
  env: NodeJS.ProcessEnv,
  name = 'GATEHOUSE_SPOOL_MAX_BYTES',
): number | undefined {
  return numberFromEnv(
    env,
    name,
    (raw) => {
      const value = Number(raw);
      return /^\d+$/.test(raw) && Number.isSafeInteger(value) && value >= 1_024 ? value : undefined;
    },
    'a whole number of bytes ≥ 1024',
  );
}

/** Opens the spool in `options.dir` (replaying what it holds) and starts the republishing loop. */
export async function createSpoolingLog(options: SpoolingLogOptions): Promise<SpoolingLog> {
  const retry = options.retry ?? {};
  const settings = {
    attempts: Math.floor(positive(retry.attempts, 3, 'attempts', 1)),
    baseDelayMs: positive(retry.baseDelayMs, 100, 'baseDelayMs'),
    maxDelayMs: positive(retry.maxDelayMs, 2_000, 'maxDelayMs'),
    republishIntervalMs: positive(retry.republishIntervalMs, 1_000, 'republishIntervalMs', 1),
    republishBatchEvents: Math.floor(positive(retry.republishBatchEvents, 500, 'republishBatchEvents', 1)),
  };
  const maxSpoolBytes = options.maxSpoolBytes ?? 2 ** 30;
  if (!Number.isSafeInteger(maxSpoolBytes) || maxSpoolBytes < 1_024) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `createSpoolingLog: maxSpoolBytes must be an integer ≥ 1024, got ${String(options.maxSpoolBytes)}`,
    );
  }
  const { spool, pending } = await SpoolFile.open(options.dir, maxSpoolBytes);
  const log = new SpoolingEventLog(options, settings, spool, pending);
  if (pending.length > 0) {
    options.logger?.warn(
      { dir: spool.dir, events: pending.length },
      'outcome spool holds events from before the restart; republishing',
    );
  }
  log.start();
  return log;
}

type Settings = Required<SpoolRetryOptions>;

class SpoolingEventLog implements SpoolingLog {
  readonly kind: string;
  readonly dir: string;
  readonly #log: EventLog;
  readonly #settings: Settings;
  readonly #spool: SpoolFile;
  readonly #spoolable: ReadonlySet<string>;
  readonly #logger: SpoolLogger | undefined;
  /** Where the spooled events not yet republished are in the spool file, in order. */
  readonly #pending: SpooledRecord[];
  /** Spooled-and-unacknowledged events per session. */
  readonly #spooledSessions = new Map<string, number>();
  /** Tail of the per-session call chains (serialization). */
  readonly #sessionTails = new Map<string, Promise<unknown>>();
  /** Serializes spool file writes and republishing. */
  #spoolChain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: SpoolingLogOptions, settings: Settings, spool: SpoolFile, pending: SpooledRecord[]) {
    this.#log = options.log;
    this.kind = `${options.log.kind}+spool`;
    this.dir = spool.dir;
    this.#settings = settings;
    this.#spool = spool;
    this.#spoolable = new Set(options.spoolableTypes ?? DEFAULT_SPOOLABLE_TYPES);
    this.#logger = options.logger;
    this.#pending = pending;
    for (const record of pending) this.#countSpooled(record.sessionId, 1);
  }

  start(): void {
    const tick = () => {
      this.#timer = undefined;
      if (this.#closed) return;
      const run = this.#pending.length > 0 ? this.flush() : Promise.resolve(0);
      void run
        .catch(() => undefined)
        .finally(() => {
          if (!this.#closed) this.#timer = setTimeout(tick, this.#settings.republishIntervalMs);
        });
    };
    this.#timer = setTimeout(tick, this.#pending.length > 0 ? 0 : this.#settings.republishIntervalMs);
  }

  pending(): number {
    return this.#pending.length;
  }

  commitCounts(): CommitCounts | undefined {
    return this.#log.commitCounts?.();
  }

  hasSpooled(sessionId: string): boolean {
    return (this.#spooledSessions.get(sessionId) ?? 0) > 0;
  }

  appendOutcome(events: readonly GatehouseEvent[]): Promise<OutcomeDisposition> {
    if (this.#closed)
      return Promise.reject(new LogError('GH_ERR_LOG_CLOSED', `the spooling log (${this.dir}) is closed`));
    for (const event of events) {
      if (!this.#spoolable.has(event.type)) {
        return Promise.reject(
          new LogError(
            'GH_ERR_LOG_CONFIG',
            `appendOutcome: event ${event.id} is a ${event.type}, which may not be spooled (spoolable: ${[...this.#spoolable].join(', ')}); append it with append()`,
          ),
        );
      }
    }
    if (events.length === 0) return Promise.resolve('logged');
    return this.#perSession(events, () => this.#appendOutcome(events));
  }

  async #appendOutcome(events: readonly GatehouseEvent[]): Promise<OutcomeDisposition> {
    if (!events.some((event) => this.hasSpooled(event.session_id))) {
      let lastError: unknown;
      for (let attempt = 1; attempt <= this.#settings.attempts; attempt++) {
        try {
          await this.#log.append(events);
          return 'logged';
        } catch (error) {
          if (!(error instanceof LogError) || !error.retryable) throw error;
          lastError = error;
          if (attempt < this.#settings.attempts)
            await delay(Math.min(this.#settings.maxDelayMs, this.#settings.baseDelayMs * 2 ** (attempt - 1)));
        }
      }
      this.#logger?.warn(
        {
          events: events.length,
          sessions: [...new Set(events.map((event) => event.session_id))],
          err: String(lastError),
        },
        'event log unavailable; spooling outcome events to local disk',
      );
    }
    await this.#serializeSpool(async () => {
      const spooled = await this.#spool.append(events);
      this.#pending.push(...spooled);
      for (const event of events) this.#countSpooled(event.session_id, 1);
    });
    return 'spooled';
  }

  async append(events: readonly GatehouseEvent[]): Promise<void> {
    if (this.#closed) throw new LogError('GH_ERR_LOG_CLOSED', `the spooling log (${this.dir}) is closed`);
    if (events.length === 0) return;
    await this.#perSession(events, async () => {
      if (events.some((event) => this.hasSpooled(event.session_id))) {
        await this.flush();
        const blocked = events.find((event) => this.hasSpooled(event.session_id));
        if (blocked !== undefined) {
          throw new LogError(
            'GH_ERR_LOG_UNAVAILABLE',
            `append: session ${blocked.session_id} has spooled events the log has not taken back yet; appending now would put this event before them`,
            { retryable: true },
          );
        }
      }
      await this.#log.append(events);
    });
  }

  flush(): Promise<number> {
    return this.#serializeSpool(async () => {
      while (this.#pending.length > 0 && !this.#closed) {
        const chunk = this.#pending.slice(0, this.#settings.republishBatchEvents);
        const events = await this.#spool.read(chunk);
        try {
          await this.#log.append(events);
        } catch (error) {
          if (error instanceof LogError && !error.retryable) {
            this.#logger?.warn(
              { err: String(error), event: chunk[0]?.id },
              'the event log refuses a spooled event; it stays in the spool',
            );
          }
          break;
        }
        // The log holds the chunk now: its sessions are free to append whether or not the spool
        // manages to record that (if it does not, a restart republishes the chunk: repeats, which
        // readers deduplicate by event id, never a gap).
        this.#pending.splice(0, chunk.length);
        for (const record of chunk) this.#countSpooled(record.sessionId, -1);
        if (this.#pending.length === 0) await this.#spool.reset();
        else await this.#spool.advance(chunk[chunk.length - 1]!.end);
        this.#logger?.info?.(
          { events: chunk.length, left: this.#pending.length },
          'republished spooled outcome events',
        );
      }
      return this.#pending.length;
    });
  }

  openConsumer(group: string, options?: ConsumerOptions): Promise<LogConsumer> {
    return this.#log.openConsumer(group, options);
  }

  /** Stops the republishing loop and closes the spool; does NOT close the wrapped log. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#spoolChain.catch(() => undefined);
    await Promise.all([...this.#sessionTails.values()].map((tail) => tail.catch(() => undefined)));
    await this.#spool.close();
  }

  #countSpooled(sessionId: string, delta: number): void {
    const count = (this.#spooledSessions.get(sessionId) ?? 0) + delta;
    if (count > 0) this.#spooledSessions.set(sessionId, count);
    else this.#spooledSessions.delete(sessionId);
  }

  #serializeSpool<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#spoolChain.then(operation, operation);
    this.#spoolChain = result.catch(() => undefined);
    return result;
  }

  /** Runs `operation` after every earlier call that involved any of the same sessions. */
  #perSession<T>(events: readonly GatehouseEvent[], operation: () => Promise<T>): Promise<T> {
    const sessions = [...new Set(events.map((event) => event.session_id))];
    const before = Promise.all(
      sessions.map((session) => this.#sessionTails.get(session)?.catch(() => undefined)),
    );
    const result = before.then(operation);
    const tail = result.catch(() => undefined);
    for (const session of sessions) this.#sessionTails.set(session, tail);
    void tail.then(() => {
      for (const session of sessions)
        if (this.#sessionTails.get(session) === tail) this.#sessionTails.delete(session);
    });
    return result;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
