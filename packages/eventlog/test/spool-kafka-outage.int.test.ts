import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { GatehouseEvent } from '@gatehouse/events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSpoolingLog, openKafkaLog, type KafkaEventLog, type SpoolingLog } from '../src/index.js';
import { startBroker, type StartedBroker } from '../../../test/support/kafka.js';
import { kafkaTestOptions } from './kafka-test-options.js';
import { sessionWithOutcomes } from './spool-sample-events.js';

// A broker of its own: this file stops and restarts it.
/** Stopping and starting a JVM broker can take tens of seconds on a busy 2-core machine. */
const BROKER_RESTART_TEST_TIMEOUT_MS = 180_000;
let broker: StartedBroker;
let dir: string;
let log: KafkaEventLog | undefined;
let spool: SpoolingLog | undefined;

beforeAll(async () => {
  broker = await startBroker();
  dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-spool-kafka-'));
});
afterAll(async () => {
  await spool?.close().catch(() => undefined);
  await log?.close().catch(() => undefined);
  await broker?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('outcome spool over Kafka', () => {
  it(
    'spools outcomes while the broker is down and publishes them, in session order, after it restarts',
    async () => {
      log = await openKafkaLog(
        kafkaTestOptions([broker.brokers], {
          appendTimeoutMs: 1_500,
          connectionTimeoutMs: 500,
          requestTimeoutMs: 1_000,
        }),
      );
      spool = await createSpoolingLog({
        log,
        dir,
        retry: { attempts: 2, baseDelayMs: 50, republishIntervalMs: 200 },
      });
      const chain = sessionWithOutcomes('s-kafka-spool', 3);
      await log.append([chain[0]!]);
      await expect(spool.appendOutcome([chain[1]!])).resolves.toBe('logged');

      await broker.stop();
      await expect(spool.appendOutcome([chain[3]!])).resolves.toBe('spooled');
      await expect(spool.appendOutcome([chain[5]!])).resolves.toBe('spooled');
      expect(spool.pending()).toBe(2);

      await broker.start();
      while (spool.pending() > 0) await new Promise((resolve) => setTimeout(resolve, 100));

      const consumer = await log.openConsumer('spool-check', { fromBeginning: true });
      const received: GatehouseEvent[] = [];
      for (let idle = 0; idle < 40 && received.length < 4;) {
        const batch = await consumer.next({ maxEvents: 100, maxWaitMs: 250 });
        if (batch.events.length === 0) idle++;
        received.push(...batch.events);
      }
      await consumer.close();
      const seqs = received.filter((event) => event.session_id === 's-kafka-spool').map((event) => event.seq);
      expect(seqs).toEqual([0, 1, 3, 5]);
    },
    BROKER_RESTART_TEST_TIMEOUT_MS,
  );
});
