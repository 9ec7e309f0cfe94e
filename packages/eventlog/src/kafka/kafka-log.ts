import { encodeEvent, parseEvent, type GatehouseEvent } from '@gatehouse/events';
import { Kafka, type Admin } from 'kafkajs';
import type { EventLog } from '../event-log.js';
import { LogError } from '../errors.js';
import { AppendBatcher, type OutgoingRecord } from './append-batcher.js';
import { KafkaConsumer, type KafkaConsumerOptions } from './kafka-consumer.js';
import { toLogError } from './kafka-errors.js';
import { resolveKafkaOptions, type KafkaLogOptions, type ResolvedKafkaOptions } from './kafka-options.js';
import { kafkajsLogCreator } from './kafkajs-logging.js';
import { ProducerSession } from './producer-session.js';
import { ensureTopic, fitTopicLimits } from './topic-setup.js';

/** The Kafka adapter of `EventLog`, with what only it can tell. */
export interface KafkaEventLog extends EventLog {
  readonly kind: 'kafka';
  /** The topic this log appends to and reads from. */
  readonly topic: string;
  /** The topic's partition count (as found or created on open). */
  readonly partitions: number;
  /** Opens a consumer; see `KafkaConsumerOptions` for what only this adapter offers. */
  openConsumer(group: string, options?: KafkaConsumerOptions): Promise<KafkaConsumer>;
}

/**
 * Opens the Kafka event log: connects an admin client, creates the topic when it is missing
 * (`partitions`, `replicationFactor`, `min.insync.replicas` 2 when replicated) and returns the
 * adapter. Rejects with a retryable `GH_ERR_LOG_UNAVAILABLE` when no broker answers.
 *
 * Append: every event is checked against the event schema first (`validateOnAppend`, default on);
 * one that fails rejects the whole append with `GH_ERR_LOG_INVALID_RECORD` (`nothingWritten`),
 * naming its index, id and the field at fault, before anything is sent. Each event is one record,
 * key = `session_id` (policy, catalog and perimeter events carry their stream name there), value =
 * `encodeEvent(event)` (canonical JSON). One idempotent producer
 * (`acks=-1`, one request in flight) sends coalesced batches in `append` order; `append` resolves
 * only when the broker acknowledged every record of it (all in-sync replicas), and rejects with a
 * retryable `GH_ERR_LOG_UNAVAILABLE` after `appendTimeoutMs` at the latest. A rejected append may
 * still have been written (the acknowledgement was lost): readers must deduplicate by event id.
 *
 * Consume: see `KafkaConsumer` (a consumer group per `openConsumer`, commits only on request).
 */
export async function openKafkaLog(options: KafkaLogOptions): Promise<KafkaEventLog> {
  const resolved = resolveKafkaOptions(options);
  const kafka = new Kafka({
    clientId: resolved.clientId,
    brokers: resolved.brokers,
    connectionTimeout: resolved.connectionTimeoutMs,
    requestTimeout: resolved.requestTimeoutMs,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
    logCreator: kafkajsLogCreator(resolved.logger),
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    await admin.disconnect().catch(() => undefined);
    throw toLogError(error, `connect to kafka brokers ${resolved.brokers.join(',')}`);
  }
  try {
    const partitions = await ensureTopic(admin, resolved);
    const fitted = await fitTopicLimits(admin, resolved);
    return new KafkaLog(kafka, admin, fitted, partitions);
  } catch (error) {
    await admin.disconnect().catch(() => undefined);
    throw error;
  }
}

class KafkaLog implements KafkaEventLog {
  readonly kind = 'kafka' as const;
  readonly topic: string;
  readonly partitions: number;
  readonly #kafka: Kafka;
  readonly #admin: Admin;
  readonly #options: ResolvedKafkaOptions;
  readonly #producer: ProducerSession;
  readonly #batcher: AppendBatcher;
  readonly #consumers = new Map<string, KafkaConsumer>();
  /** Groups whose consumer is joining, so that a second open of the same group fails at once. */
  readonly #opening = new Set<string>();
  #closed = false;

  constructor(kafka: Kafka, admin: Admin, options: ResolvedKafkaOptions, partitions: number) {
    this.#kafka = kafka;
    this.#admin = admin;
    this.#options = options;
    this.topic = options.topic;
    this.partitions = partitions;
    this.#producer = new ProducerSession({
      kafka,
      topic: options.topic,
      ackTimeoutMs: options.appendTimeoutMs,
    });
    this.#batcher = new AppendBatcher({
      send: (records) => this.#producer.send(records),
      abandonInFlight: (reason) => this.#producer.abandonInFlight(reason),
      appendTimeoutMs: options.appendTimeoutMs,
      lingerMs: options.lingerMs,
      maxBatchBytes: options.maxBatchBytes,
      what: `kafka topic ${options.topic}`,
    });
  }

  async append(events: readonly GatehouseEvent[]): Promise<void> {
    if (this.#closed)
      throw new LogError('GH_ERR_LOG_CLOSED', `the kafka event log (topic ${this.topic}) is closed`, {
        nothingWritten: true,
      });
    const records: OutgoingRecord[] = [];
    for (let index = 0; index < events.length; index++) {
      const event = events[index]!;
      let value: Buffer;
      try {
        // The broker takes any bytes: without this check an event that breaks the schema is
        // acknowledged here and then refused by every reader of its partition. Validate, then
        // encode the caller's object (not zod's copy), as the embedded log does.
        if (this.#options.validateOnAppend) parseEvent(event);
        value = encodeEvent(event);
      } catch (cause) {
        const id = (event as { id?: unknown } | null)?.id;
        throw new LogError(
          'GH_ERR_LOG_INVALID_RECORD',
          `append: event ${index} of ${events.length} (${JSON.stringify(id)}) cannot be written, nothing of this append was sent: ${cause instanceof Error ? cause.message : String(cause)}`,
          { cause, nothingWritten: true },
        );
      }
      if (value.length > this.#options.maxRecordBytes) {
        throw new LogError(
          'GH_ERR_LOG_RECORD_TOO_LARGE',
          `append: event ${event.id} encodes to ${value.length} bytes, over maxRecordBytes (${this.#options.maxRecordBytes}); nothing of this append was written`,
          { nothingWritten: true },
        );
      }
      if (typeof event.session_id !== 'string' || event.session_id.length === 0) {
        throw new LogError(
          'GH_ERR_LOG_INVALID_RECORD',
          `append: event ${event.id} has no session_id to key its record with`,
          { nothingWritten: true },
        );
      }
      records.push({ key: event.session_id, value });
    }
    await this.#batcher.append(records);
  }

  async openConsumer(group: string, options: KafkaConsumerOptions = {}): Promise<KafkaConsumer> {
    if (this.#closed)
      throw new LogError('GH_ERR_LOG_CLOSED', `the kafka event log (topic ${this.topic}) is closed`);
    if (group.length === 0)
      throw new LogError('GH_ERR_LOG_CONFIG', 'openConsumer: group must be a non-empty string');
    if (this.#consumers.has(group) || this.#opening.has(group)) {
      throw new LogError(
        'GH_ERR_LOG_GROUP_BUSY',
        `consumer group ${group} already has an open consumer on this log; close it first`,
      );
    }
    const host = {
      kafka: this.#kafka,
      admin: this.#admin,
      options: { ...this.#options, partitions: this.partitions },
      release: (name: string) => {
        this.#consumers.delete(name);
      },
    };
    this.#opening.add(group);
    try {
      const consumer = await KafkaConsumer.open(host, group, options);
      this.#consumers.set(group, consumer);
      return consumer;
    } finally {
      this.#opening.delete(group);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#consumers.values()].map((consumer) => consumer.close()));
    await this.#batcher.whenIdle();
    await this.#producer.close();
    await this.#admin.disconnect().catch(() => undefined);
  }
}
