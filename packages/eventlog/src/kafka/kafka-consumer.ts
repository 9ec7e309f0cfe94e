import { decodeEvent, type GatehouseEvent } from '@gatehouse/events';
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { ConsumerOptions, LogBatch, LogConsumer, LogEnd, NextOptions } from '../event-log.js';
import { LogError } from '../errors.js';
import { BatchHandoff, type InvalidRecord, type OffsetEvent } from './batch-handoff.js';
import { errorChain, toLogError } from './kafka-errors.js';
import type { ResolvedKafkaOptions } from './kafka-options.js';

/** How often a waiting `eachBatch` heartbeats (kafkajs sends one only every `heartbeatInterval`). */
const HEARTBEAT_TICK_MS = 1_000;

/**
 * kafkajs errors after which it may not restart a crashed consumer although they may only mean
 * that the cluster is down or still electing: no group coordinator right after a broker restart, a
 * lock held through a rebalance, or a refused connection once kafkajs's own retries ran out (a
 * broker that takes longer to come back than they last; kafkajs then reports the connection error
 * as given up on). The adapter restarts the consumer itself then, a bounded number of times
 * (`MAX_RESTARTS` without rejoining), because the same errors also hide a permanent refusal
 * (kafkajs reports a FindCoordinator refused for lack of DESCRIBE on the group as "coordinator not
 * found"; a wrong broker address refuses connections for good). Anything else (authorization,
 * configuration) stops the consumer.
 */
const OUTAGE_ERRORS = new Set([
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSLockTimeout',
  'KafkaJSConnectionError',
]);

/** Whether a consumer crash (or an error it wraps as its `cause`) may only mean an election. */
export function isOutageCrash(error: unknown): boolean {
  for (const link of errorChain(error)) if (OUTAGE_ERRORS.has(link.name)) return true;
  return false;
}

/** Delays between the adapter's own restarts of a crashed consumer (the last one repeats). */
const RESTART_DELAYS_MS = [500, 1_000, 2_000, 5_000];
/** Restarts without the group being joined again before the consumer stops (about 2 minutes). */
const MAX_RESTARTS = 24;

export type { InvalidRecord } from './batch-handoff.js';

/** Options of `KafkaEventLog.openConsumer`: the port's, and what only the Kafka adapter offers. */
export interface KafkaConsumerOptions extends ConsumerOptions {
  /**
   * Hand out records that are not Gatehouse events (they do not decode, or break the schema: written
   * by another producer, by a version with another schema, or with `validateOnAppend` off) in the
   * batch's `invalid` list, instead of stopping at them. Committing the batch commits past them, so
   * a reader that sets this must keep them somewhere first (the projector's dead-letter file).
   * Default false: `next` throws `GH_ERR_LOG_INVALID_RECORD` naming the partition and offset once
   * the events before such a record were taken, and never gets past it.
   */
  deliverInvalidRecords?: boolean;
}

/** A batch of the Kafka adapter: the port's fields, each event's offset, and the range's invalid records. */
export interface KafkaLogBatch extends LogBatch {
  /** The offset of each of `events`, in the same order (a range's offsets may have gaps). */
  readonly eventOffsets: readonly string[];
  /**
   * Records of `[firstOffset, lastOffset]` that are not events, in offset order (always empty
   * without `deliverInvalidRecords`). A batch may hold only such records (`events` empty); it is
   * committed like any other.
   */
  readonly invalid: readonly InvalidRecord[];
}

interface BatchOrigin {
  /** The partition's assignment epoch when the batch was handed out. */
  epoch: number;
}

export interface KafkaConsumerHost {
  kafka: Kafka;
  admin: Admin;
  options: ResolvedKafkaOptions;
  /** Called once when the consumer closes, so that its group can be opened again. */
  release(group: string): void;
}

/**
 * A consumer of one group over the topic, pull-style over kafkajs `eachBatch`.
 *
 * - `autoCommit` is off: a position moves only through `commit(batch)` (offset `last + 1` of that
 *   batch's partition). A batch of a partition this consumer no longer owns (revoked by a
 *   rebalance, or lost when the member was dropped from the group) is not committed and `commit`
 *   resolves: its new owner reads it again (at-least-once), and an old commit can never move a
 *   position backwards. Committing an older batch after a newer one of the same partition is a no-op.
 * - Each fetched run of a partition waits (heartbeating) until `next` took all of it, so at most one
 *   run per partition is buffered. On a rebalance buffered runs are dropped; runs of partitions that
 *   stay assigned continue after the last offset `next` returned, not from the committed one.
 * - A new group (no committed position) starts at the earliest retained offset, like the other
 *   adapters; `fromBeginning` ignores committed positions for the partitions this consumer gets
 *   first assigned.
 * - kafkajs restarts a consumer itself after most failures, but not after some that only mean the
 *   cluster is unreachable or still electing (no group coordinator right after a broker restart):
 *   the adapter then replaces it with a new member of the group (`restarts` counts them), and a
 *   projector reading through an outage goes on instead of stopping. A crash that is not an outage
 *   (authorization, configuration) stops the consumer: `next` throws, naming it.
 * - A record that is not a Gatehouse event stops its partition: `next` throws
 *   `GH_ERR_LOG_INVALID_RECORD` (naming partition and offset) once the events before it were taken.
 *   With `deliverInvalidRecords` it is handed out in the batch's `invalid` list instead and the
 *   partition goes on (`KafkaLogBatch`); each event's offset is in `eventOffsets`.
 * - `token` is `<topic>/<partition>/<first>-<last>`. An empty batch has partition -1 and is never
 *   committed. `untilOffset` caps the next batch whatever its partition (a smaller batch is always
 *   correct); with several partitions it re-creates a recorded batch only if that partition comes
 *   first, so exact-batch replay is for single-partition topics.
 */
export class KafkaConsumer implements LogConsumer {
  readonly #host: KafkaConsumerHost;
  readonly #group: string;
  readonly #topic: string;
  readonly #fromBeginning: boolean;
  readonly #deliverInvalid: boolean;
  #consumer: Consumer;
  /** Restarts after outage crashes that kafkajs would not restart itself, counted when rejoined. */
  #restarts = 0;
  /** The restart loop while one runs (at most one). */
  #restarting: Promise<void> | undefined;
  /** Restarts since the group was last joined. */
  #restartAttempts = 0;
  /** A crash of the consumer the restart loop just started (kafkajs reports a failed join so). */
  #crashDuringRestart: Error | undefined;
  /** Ends the restart loop's wait early (close). */
  #wakeRestart: (() => void) | undefined;
  readonly #handoff = new BatchHandoff();
  readonly #assigned = new Set<number>();
  readonly #epochs = new Map<number, number>();
  /** Next offset `next` will hand out, per partition it owns. */
  readonly #delivered = new Map<number, bigint>();
  /** Highest position this consumer committed, per partition. */
  readonly #committed = new Map<number, bigint>();
  readonly #origins = new WeakMap<LogBatch, BatchOrigin>();
  /** Partitions this consumer has committed at least once (never forgotten, unlike `#committed`). */
  readonly #committedOnce = new Set<number>();
  #memberId: string | undefined;
  #closed = false;
  #failure: LogError | undefined;
  #joined: { resolve: () => void; reject: (error: LogError) => void } | undefined;

  private constructor(host: KafkaConsumerHost, group: string, options: KafkaConsumerOptions) {
    this.#host = host;
    this.#group = group;
    this.#topic = host.options.topic;
    this.#fromBeginning = options.fromBeginning === true;
    this.#deliverInvalid = options.deliverInvalidRecords === true;
    this.#consumer = this.#createConsumer();
  }

  /** A kafkajs consumer of this group with this adapter's settings and event handlers. */
  #createConsumer(): Consumer {
    const host = this.#host;
    const consumer = host.kafka.consumer({
      groupId: this.#group,
      sessionTimeout: host.options.sessionTimeoutMs,
      heartbeatInterval: Math.max(1_000, Math.floor(host.options.sessionTimeoutMs / 10)),
      maxWaitTimeInMs: host.options.fetchMaxWaitMs,
      maxBytesPerPartition: host.options.fetchMaxBytesPerPartition,
      // kafkajs's default total (10 MiB) would cap a fetch of several partitions below that.
      maxBytes: Math.max(10 * 2 ** 20, 4 * host.options.fetchMaxBytesPerPartition),
      allowAutoTopicCreation: false,
      retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
    const { GROUP_JOIN, CRASH } = consumer.events;
    consumer.on(GROUP_JOIN, (event) => {
      if (consumer === this.#consumer)
        this.#onJoin(event.payload.memberId, event.payload.memberAssignment[this.#topic] ?? []);
    });
    consumer.on(CRASH, (event) => {
      if (consumer === this.#consumer) this.#onCrash(event.payload.error, event.payload.restart);
    });
    return consumer;
  }

  /** Connects, subscribes and starts the fetch loop of the current kafkajs consumer. */
  async #runConsumer(): Promise<void> {
    const consumer = this.#consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [this.#topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: Math.max(1, this.#host.options.partitions),
      eachBatch: (payload) => this.#eachBatch(payload),
    });
  }

  /** Times the adapter restarted the consumer after an outage crash kafkajs would not restart. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Connects, joins the group and waits for the first assignment (bounded by `joinTimeoutMs`). */
  static async open(
    host: KafkaConsumerHost,
    group: string,
    options: KafkaConsumerOptions,
  ): Promise<KafkaConsumer> {
    const consumer = new KafkaConsumer(host, group, options);
    try {
      await consumer.#start();
    } catch (error) {
      await consumer.close().catch(() => undefined);
      throw error;
    }
    return consumer;
  }

  async #start(): Promise<void> {
    const what = `open consumer group ${this.#group} on kafka topic ${this.#topic}`;
    const { joinTimeoutMs } = this.#host.options;
    const joined = new Promise<void>((resolve, reject) => {
      this.#joined = { resolve, reject };
    });
    joined.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new LogError(
              'GH_ERR_LOG_UNAVAILABLE',
              `${what}: no partition assignment within joinTimeoutMs (${joinTimeoutMs} ms)`,
              { retryable: true },
            ),
          ),
        joinTimeoutMs,
      );
    });
    // Observed by the race below; this keeps a rejection before the race from going unhandled.
    timeout.catch(() => undefined);
    try {
      await this.#runConsumer();
      await Promise.race([joined, timeout]);
    } catch (error) {
      throw toLogError(error, what);
    } finally {
      clearTimeout(timer);
      this.#joined = undefined;
    }
  }

  /** The partitions this consumer owns right now (after the latest rebalance), ascending. */
  assignedPartitions(): number[] {
    return [...this.#assigned].sort((a, b) => a - b);
  }

  async next(options: NextOptions): Promise<KafkaLogBatch> {
    this.#assertUsable();
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
    let until: bigint | undefined;
    if (options.untilOffset !== undefined) {
      if (!/^\d+$/.test(options.untilOffset)) {
        throw new LogError(
          'GH_ERR_LOG_CONFIG',
          `next: untilOffset must be a non-negative decimal offset, got ${JSON.stringify(options.untilOffset)}`,
        );
      }
      until = BigInt(options.untilOffset);
    }
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      const taken = this.#handoff.take(maxEvents, until);
      if (taken !== undefined) return this.#batch(taken.partition, taken.records);
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted || this.#closed) return emptyBatch();
      await this.#handoff.waitForOffer(left, signal);
      if (this.#closed) return emptyBatch();
      if (this.#failure !== undefined) throw this.#failure;
    }
  }

  async commit(batch: LogBatch): Promise<void> {
    this.#assertUsable();
    // A batch of invalid records only (deliverInvalidRecords) is committed too: its reader kept them.
    if (batch.partition < 0 || (batch.events.length === 0 && !holdsInvalidRecords(batch))) return;
    const partition = batch.partition;
    if (!/^\d+$/.test(batch.lastOffset)) {
      throw new LogError(
        'GH_ERR_LOG_CHECKPOINT',
        `commit: batch.lastOffset ${JSON.stringify(batch.lastOffset)} is not an offset`,
      );
    }
    // A batch object this consumer handed out carries its assignment epoch; a copy is judged by
    // the current assignment only.
    const epoch = this.#origins.get(batch)?.epoch ?? this.#epochs.get(partition) ?? 0;
    if (!this.#assigned.has(partition) || (this.#epochs.get(partition) ?? 0) !== epoch) return;
    const position = BigInt(batch.lastOffset) + 1n;
    if (position <= (this.#committed.get(partition) ?? -1n)) return;
    try {
      await this.#consumer.commitOffsets([{ topic: this.#topic, partition, offset: position.toString() }]);
    } catch (error) {
      throw toLogError(error, `commit ${batch.token} for group ${this.#group}`);
    }
    this.#committed.set(partition, position);
    this.#committedOnce.add(partition);
  }

  async lag(upTo?: LogEnd): Promise<number | undefined> {
    this.#assertUsable();
    try {
      const [ends, committed] = await Promise.all([
        this.#host.admin.fetchTopicOffsets(this.#topic),
        this.#host.admin.fetchOffsets({ groupId: this.#group, topics: [this.#topic] }),
      ]);
      const positions = new Map(
        (committed[0]?.partitions ?? []).map((entry) => [entry.partition, BigInt(entry.offset)]),
      );
      let lag = 0n;
      for (const end of ends) {
        const low = BigInt(end.low);
        // A partition the mark does not know was added since: none of its events count.
        const high = upTo === undefined ? BigInt(end.high) : BigInt(upTo.get(end.partition) ?? end.low);
        const position = positions.get(end.partition) ?? -1n;
        const from = position < low ? low : position;
        if (high > from) lag += high - from;
      }
      return Number(lag);
    } catch (error) {
      throw toLogError(error, `lag of group ${this.#group} on kafka topic ${this.#topic}`);
    }
  }

  async end(): Promise<LogEnd> {
    this.#assertUsable();
    try {
      const ends = await this.#host.admin.fetchTopicOffsets(this.#topic);
      return new Map(ends.map((end) => [end.partition, end.high]));
    } catch (error) {
      throw toLogError(error, `end offsets of kafka topic ${this.#topic}`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Buffered runs end without error, so that the fetch loop stops and kafkajs can leave the group.
    this.#handoff.abortAll(undefined);
    this.#handoff.wakeAll();
    this.#wakeRestart?.();
    // A restart in progress disconnects its consumer when it sees the close (at most 5 s waited
    // here: a connect attempt into an unreachable cluster may take longer).
    if (this.#restarting !== undefined)
      await Promise.race([this.#restarting, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    try {
      await this.#consumer.disconnect();
    } catch {
      // The group forgets a member that stops heartbeating; nothing else to release.
    } finally {
      this.#host.release(this.#group);
    }
  }

  /**
   * Closes the consumer (it leaves the group), then deletes the group with its committed positions:
   * the group's next consumer starts at the earliest retained offsets, as a new group does. For a
   * reader whose run is complete (a finished rebuild), so that only an interrupted run leaves a
   * position to resume from. A group that is already gone is fine; a group that another member
   * still holds is refused by the broker (`NON_EMPTY_GROUP`) and keeps its positions.
   */
  async closeAndForget(): Promise<void> {
    await this.close();
    try {
      await this.#host.admin.deleteGroups([this.#group]);
    } catch (error) {
      const refusal = deleteGroupsRefusal(error);
      if (refusal === 'GROUP_ID_NOT_FOUND') return;
      if (refusal !== undefined) {
        throw new LogError(
          'GH_ERR_LOG_CHECKPOINT',
          `delete consumer group ${this.#group}: the broker refused (${refusal}); its committed positions are kept`,
          { cause: error },
        );
      }
      throw toLogError(error, `delete consumer group ${this.#group}`);
    }
  }

  #assertUsable(): void {
    if (this.#closed)
      throw new LogError('GH_ERR_LOG_CLOSED', `the consumer of group ${this.#group} is closed`);
    if (this.#failure !== undefined) throw this.#failure;
  }

  #batch(partition: number, records: OffsetEvent[]): KafkaLogBatch {
    const first = records[0]!.offset.toString();
    const last = records[records.length - 1]!.offset.toString();
    this.#delivered.set(partition, records[records.length - 1]!.offset + 1n);
    const events: GatehouseEvent[] = [];
    const eventOffsets: string[] = [];
    const invalid: InvalidRecord[] = [];
    for (const record of records) {
      if (record.invalid !== undefined) {
        invalid.push(record.invalid);
      } else {
        events.push(record.event);
        eventOffsets.push(record.offset.toString());
      }
    }
    const batch: KafkaLogBatch = {
      partition,
      firstOffset: first,
      lastOffset: last,
      events,
      token: `${this.#topic}/${partition}/${first}-${last}`,
      eventOffsets,
      invalid,
    };
    this.#origins.set(batch, { epoch: this.#epochs.get(partition) ?? 0 });
    return batch;
  }

  async #eachBatch({ batch, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const partition = batch.partition;
    if (this.#closed || !this.#assigned.has(partition)) return;
    const from = this.#delivered.get(partition) ?? -1n;
    const records: OffsetEvent[] = [];
    let poison: LogError | undefined;
    for (const message of batch.messages) {
      const offset = BigInt(message.offset);
      if (offset < from) continue;
      try {
        if (message.value === null) throw new TypeError('the record has no value');
        records.push({ offset, event: decodeEvent(message.value) });
      } catch (cause) {
        const error = cause instanceof Error ? cause.message : String(cause);
        if (this.#deliverInvalid) {
          records.push({
            offset,
            invalid: {
              partition,
              offset: offset.toString(),
              key: message.key === null ? null : message.key.toString('utf8'),
              value: message.value,
              error,
            },
          });
          continue;
        }
        poison = new LogError(
          'GH_ERR_LOG_INVALID_RECORD',
          `kafka topic ${this.#topic} partition ${partition} offset ${offset} is not a Gatehouse event: ${error}`,
          { cause },
        );
        break;
      }
    }
    if (records.length === 0 && poison === undefined) return;
    const offer = this.#handoff.offer(partition, records, poison);
    while (!offer.finished) {
      let tick: NodeJS.Timeout | undefined;
      await Promise.race([
        offer.done,
        new Promise<void>((resolve) => (tick = setTimeout(resolve, HEARTBEAT_TICK_MS))),
      ]);
      clearTimeout(tick);
      if (offer.finished) break;
      if (this.#closed || !isRunning() || isStale()) {
        this.#handoff.withdraw(offer);
        return;
      }
      try {
        await heartbeat();
      } catch (error) {
        // A rebalance (or a lost coordinator): every buffered run is dropped and kafkajs rejoins.
        this.#handoff.abortAll(error);
        throw error;
      }
    }
    if (offer.abortedWith !== undefined) throw offer.abortedWith;
  }

  #onJoin(memberId: string, partitions: readonly number[]): void {
    const now = new Set(partitions);
    const revoked = new Set<number>();
    const memberChanged = this.#memberId !== undefined && this.#memberId !== memberId;
    for (const partition of this.#assigned) if (memberChanged || !now.has(partition)) revoked.add(partition);
    this.#memberId = memberId;
    for (const partition of revoked) this.#revoke(partition);
    this.#handoff.withdrawPartitions(revoked);
    const kept = new Set(this.#assigned);
    if (this.#restartAttempts > 0) this.#restarts += 1;
    this.#restartAttempts = 0;
    for (const partition of now) {
      this.#assigned.add(partition);
      // Until it committed a partition, a fromBeginning consumer reads it from the start when it
      // gets it, also after a restart or a rebalance gave it back (the group's old position may be
      // the end of the log).
      if (this.#fromBeginning && !kept.has(partition) && !this.#committedOnce.has(partition)) {
        // Offset 0, or the earliest retained one: kafkajs resets an out-of-range position to the
        // earliest because the subscription is `fromBeginning`.
        this.#consumer.seek({ topic: this.#topic, partition, offset: '0' });
      }
    }
    this.#joined?.resolve();
  }

  #revoke(partition: number): void {
    this.#assigned.delete(partition);
    this.#delivered.delete(partition);
    this.#committed.delete(partition);
    this.#epochs.set(partition, (this.#epochs.get(partition) ?? 0) + 1);
  }

  #onCrash(error: Error, restart: boolean): void {
    // Whatever this member owned may have moved to another member before it rejoins.
    for (const partition of [...this.#assigned]) this.#revoke(partition);
    this.#handoff.abortAll(error);
    if (this.#closed || restart) return;
    if (this.#restarting !== undefined) {
      // The consumer the restart loop just started crashed (a failed join): the loop goes on.
      this.#crashDuringRestart = error;
      return;
    }
    if (this.#joined === undefined && isOutageCrash(error)) {
      this.#restarting = this.#restartLoop(error).finally(() => {
        this.#restarting = undefined;
      });
      return;
    }
    this.#fail(error);
  }

  #fail(error: Error, detail = ''): void {
    this.#failure = new LogError(
      'GH_ERR_LOG_UNAVAILABLE',
      `consumer group ${this.#group} on kafka topic ${this.#topic} stopped (${error.message})${detail}; close this consumer and open a new one`,
      { cause: error },
    );
    this.#joined?.reject(this.#failure);
    this.#handoff.wakeAll();
  }

  /**
   * Replaces a consumer that kafkajs stopped after an outage crash with a new member of the same
   * group, with backoff, until it runs, this consumer is closed, a failure is not an outage, or
   * `MAX_RESTARTS` restarts passed without the group being joined (then the consumer stops, naming
   * the error). Until it has rejoined, `next` finds nothing (empty batches) and commits of earlier
   * batches are skipped, as after any rebalance.
   */
  async #restartLoop(cause: Error): Promise<void> {
    try {
      while (!this.#closed) {
        if (this.#restartAttempts >= MAX_RESTARTS) {
          this.#fail(cause, ` after ${MAX_RESTARTS} restarts without rejoining the group`);
          return;
        }
        const delay = RESTART_DELAYS_MS[Math.min(this.#restartAttempts, RESTART_DELAYS_MS.length - 1)]!;
        this.#restartAttempts += 1;
        await this.#consumer.disconnect().catch(() => undefined);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.#wakeRestart = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wakeRestart = undefined;
        if (this.#closed) return;
        this.#host.options.logger.warn(
          { group: this.#group, topic: this.#topic, attempt: this.#restartAttempts, err: cause.message },
          `kafka consumer group ${this.#group} stopped (${cause.message}); restarting it`,
        );
        this.#crashDuringRestart = undefined;
        this.#consumer = this.#createConsumer();
        // run() rejects, or kafkajs reports a failed join as a crash before run() resolves.
        const failure = await this.#runConsumer().then(
          () => this.#crashDuringRestart as Error | undefined,
          (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
        );
        if (failure === undefined) return; // running: the join counts the restart
        cause = failure;
        if (!isOutageCrash(cause)) {
          this.#fail(cause);
          return;
        }
      }
    } finally {
      // Closed or failed meanwhile: leave no member of the group behind.
      if (this.#closed || this.#failure !== undefined)
        await this.#consumer.disconnect().catch(() => undefined);
    }
  }
}

/** The protocol error type of a group that `deleteGroups` refused (kafkajs lists them in `groups`). */
function deleteGroupsRefusal(error: unknown): string | undefined {
  for (const link of errorChain(error)) {
    const groups = (link as { groups?: unknown }).groups;
    if (!Array.isArray(groups)) continue;
    for (const group of groups as Array<{ error?: { type?: unknown } }>) {
      const type = group.error?.type;
      if (typeof type === 'string') return type;
    }
  }
  return undefined;
}

function emptyBatch(): KafkaLogBatch {
  return {
    partition: -1,
    firstOffset: '-1',
    lastOffset: '-1',
    events: [],
    token: '',
    eventOffsets: [],
    invalid: [],
  };
}

/** Whether `batch` (a `KafkaLogBatch`, or a copy of one) carries invalid records. */
function holdsInvalidRecords(batch: LogBatch): boolean {
  const invalid = (batch as Partial<KafkaLogBatch>).invalid;
  return Array.isArray(invalid) && invalid.length > 0;
}
