import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKafkaLog, LogError, type KafkaEventLog, type LogBatch } from '../src/index.js';
import { startBroker, type StartedBroker } from '../../../test/support/kafka.js';
import { kafkaTestOptions } from './kafka-test-options.js';
import { sessionCalls } from './support/sample-events.js';

// A broker of its own: this file stops and restarts it.
/** Stopping and starting a JVM broker can take tens of seconds on a busy 2-core machine. */
const BROKER_RESTART_TEST_TIMEOUT_MS = 180_000;
let broker: StartedBroker;
let log: KafkaEventLog | undefined;

beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await log?.close().catch(() => undefined);
  await broker?.destroy();
});

describe('Kafka event log when the broker goes down', () => {
  it(
    'rejects an append with a retryable GH_ERR_LOG_UNAVAILABLE within appendTimeoutMs, and appends again once the broker is back',
    async () => {
      log = await openKafkaLog(
        kafkaTestOptions([broker.brokers], {
          appendTimeoutMs: 3_000,
          connectionTimeoutMs: 1_000,
          requestTimeoutMs: 2_000,
        }),
      );
      const before = sessionCalls('s-outage-before', 2);
      await log.append(before);

      await broker.stop();
      const failure: unknown = await log.append(sessionCalls('s-outage-down', 1)).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(LogError);
      expect(failure).toMatchObject({ code: 'GH_ERR_LOG_UNAVAILABLE', retryable: true });
      expect((failure as LogError).cause).toBeDefined();

      await broker.start();
      const after = sessionCalls('s-outage-after', 2);
      // The producer reconnects on the next append; the broker may need a moment to take leadership.
      let appended = false;
      for (let attempt = 0; attempt < 20 && !appended; attempt++) {
        appended = await log.append(after).then(
          () => true,
          (error: unknown) => {
            if (!(error instanceof LogError) || !error.retryable) throw error;
            return false;
          },
        );
      }
      expect(appended).toBe(true);

      const consumer = await log.openConsumer('outage', { fromBeginning: true });
      const received: LogBatch[] = [];
      for (let idle = 0; idle < 40 && received.flatMap((b) => b.events).length < 4;) {
        const batch = await consumer.next({ maxEvents: 100, maxWaitMs: 250 });
        if (batch.events.length === 0) idle++;
        else received.push(batch);
      }
      const ids = new Set(received.flatMap((batch) => batch.events.map((event) => event.id)));
      for (const event of [...before, ...after]) expect(ids.has(event.id)).toBe(true);
      await consumer.close();
    },
    BROKER_RESTART_TEST_TIMEOUT_MS,
  );

  it(
    'rejects openKafkaLog with a retryable GH_ERR_LOG_UNAVAILABLE when no broker answers',
    async () => {
      await broker.stop();
      try {
        await expect(
          openKafkaLog(
            kafkaTestOptions([broker.brokers], { connectionTimeoutMs: 500, requestTimeoutMs: 1_000 }),
          ),
        ).rejects.toMatchObject({
          code: 'GH_ERR_LOG_UNAVAILABLE',
          retryable: true,
        });
      } finally {
        await broker.start();
      }
    },
    BROKER_RESTART_TEST_TIMEOUT_MS,
  );
});
