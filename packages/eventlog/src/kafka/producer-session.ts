import type { Kafka, Producer } from 'kafkajs';
import type { LogError } from '../errors.js';
import type { OutgoingRecord } from './append-batcher.js';
import { toLogError } from './kafka-errors.js';
import { KeyCachingPartitioner } from './key-partitioner.js';

export interface ProducerSessionOptions {
  kafka: Kafka;
  topic: string;
  /** Broker-side wait for the in-sync replicas (the produce request's `timeout`), ms. */
  ackTimeoutMs: number;
}

/**
 * One idempotent kafkajs producer at a time (`acks=-1`, `maxInFlightRequests: 1`, Java-compatible
 * murmur2 partitioner on the key, remembered per key: `KeyCachingPartitioner`), connected on first use.
 *
 * After any failed or abandoned request the producer is thrown away and the next request opens a
 * new one (a new producer id). kafkajs rolls its sequence numbers back when a request fails, but
 * the broker may have written that request before the connection broke; reusing the sequence for
 * different records would then make the broker drop them as "duplicates". A fresh producer id
 * cannot collide.
 */
export class ProducerSession {
  readonly #options: ProducerSessionOptions;
  #producer: Promise<Producer> | undefined;
  #abandon: ((error: LogError) => void) | undefined;

  constructor(options: ProducerSessionOptions) {
    this.#options = options;
  }

  /** Sends `records` in one request; resolves once the broker acknowledged all of them. */
  async send(records: OutgoingRecord[]): Promise<void> {
    const what = `append to kafka topic ${this.#options.topic}`;
    const current = this.#current();
    let abandoned: Promise<never> | undefined;
    try {
      const producer = await current;
      abandoned = new Promise<never>((_, reject) => {
        this.#abandon = reject;
      });
      abandoned.catch(() => undefined);
      const send = producer.sendBatch({
        acks: -1,
        timeout: this.#options.ackTimeoutMs,
        topicMessages: [{ topic: this.#options.topic, messages: records }],
      });
      send.catch(() => undefined);
      await Promise.race([send, abandoned]);
    } catch (error) {
      this.#discard(current);
      throw toLogError(error, what);
    } finally {
      this.#abandon = undefined;
    }
  }

  /** Fails the request in flight at once with `reason` and discards its producer. */
  abandonInFlight(reason: LogError): void {
    this.#abandon?.(reason);
  }

  async close(): Promise<void> {
    const current = this.#producer;
    this.#producer = undefined;
    if (current === undefined) return;
    try {
      await (await current).disconnect();
    } catch {
      // Never connected or already gone: nothing to release.
    }
  }

  #current(): Promise<Producer> {
    if (this.#producer === undefined) {
      const producer = this.#options.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: KeyCachingPartitioner,
        // Bounded, so that an abandoned request gives up on its own; the adapter's appendTimeoutMs
        // is what callers see.
        retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2_000 },
      });
      const connected = producer.connect().then(() => producer);
      connected.catch(() => undefined);
      this.#producer = connected;
    }
    return this.#producer;
  }

  #discard(failed: Promise<Producer>): void {
    if (this.#producer === failed) this.#producer = undefined;
    failed.then(
      (producer) => producer.disconnect().catch(() => undefined),
      () => undefined,
    );
  }
}
