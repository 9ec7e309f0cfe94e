import type { GatehouseEvent } from '@gatehouse/events';
import { Kafka, logLevel, type Consumer, type ConsumerConfig } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { openKafkaLog, LogError, type KafkaEventLog, type LogConsumer } from '../src/index.js';
import { KafkaConsumer } from '../src/kafka/kafka-consumer.js';
import { resolveKafkaOptions } from '../src/kafka/kafka-options.js';
import { kafkaBrokers } from '../../../test/support/kafka-brokers.js';
import { kafkaTestOptions } from './kafka-test-options.js';
import { sessionCalls } from './support/sample-events.js';

type CrashHandler = (event: { payload: { error: Error; groupId: string; restart: boolean } }) => void;

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

/**
 * A consumer of a fresh two-partition topic whose kafkajs clients are real, with one thing
 * observed: the CRASH handlers the adapter registers, so that a test can report a crash kafkajs
 * makes only in an outage (no group coordinator right after a broker restart) on cue.
 */
async function consumerWithCrashHook(prepare?: (log: KafkaEventLog) => Promise<void>) {
  const options = kafkaTestOptions(kafkaBrokers(), { partitions: 2 });
  const log = await openKafkaLog(options);
  cleanup.push(() => log.close());
  await prepare?.(log);
  const kafka = new Kafka({
    brokers: kafkaBrokers(),
    clientId: 'gatehouse-test',
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  cleanup.push(() => admin.disconnect());
  const crashHandlers: CrashHandler[] = [];
  const observed = new Proxy(kafka, {
    get(target, property, receiver) {
      if (property !== 'consumer') return Reflect.get(target, property, receiver) as unknown;
      return (config: ConsumerConfig): Consumer => {
        const consumer = target.consumer(config);
        const on = consumer.on.bind(consumer) as (name: string, handler: CrashHandler) => () => void;
        (consumer as { on: unknown }).on = (name: string, handler: CrashHandler) => {
          if (name === consumer.events.CRASH) crashHandlers.push(handler);
          return on(name, handler);
        };
        return consumer;
      };
    },
  });
  const consumer = await KafkaConsumer.open(
    {
      kafka: observed,
      admin,
      options: { ...resolveKafkaOptions(options), partitions: 2 },
      release: () => undefined,
    },
    'restart-test',
    { fromBeginning: true },
  );
  cleanup.push(() => consumer.close());
  const crash = (error: Error) =>
    crashHandlers.at(-1)!({ payload: { error, groupId: 'restart-test', restart: false } });
  return { log, consumer, crash, admin };
}

/** Reads and commits until `count` events arrived (or 60 empty polls in a row). */
async function read(consumer: LogConsumer, count: number): Promise<GatehouseEvent[]> {
  const events: GatehouseEvent[] = [];
  for (let idle = 0; events.length < count && idle < 60;) {
    const batch = await consumer.next({ maxEvents: 100, maxWaitMs: 250 });
    if (batch.events.length === 0) {
      idle++;
      continue;
    }
    idle = 0;
    events.push(...batch.events);
    await consumer.commit(batch);
  }
  return events;
}

describe('Kafka consumer after a crash kafkajs does not restart', () => {
  it('restarts itself after an outage crash (no group coordinator) and reads on from the committed position', async () => {
    const { log, consumer, crash } = await consumerWithCrashHook();
    const before = sessionCalls('restart-before', 2);
    await log.append(before);
    expect((await read(consumer, 2)).map((e) => e.id).sort()).toEqual(before.map((e) => e.id).sort());

    crash(
      Object.assign(new Error('Failed to find group coordinator'), {
        name: 'KafkaJSGroupCoordinatorNotFound',
        retriable: false,
      }),
    );
    const after = sessionCalls('restart-after', 2);
    await log.append(after);
    const read2 = await read(consumer, 2);
    expect(read2.map((e) => e.id).sort()).toEqual(after.map((e) => e.id).sort());
    expect(consumer.restarts).toBe(1);
  }, 60_000);

  it('stops for good after a crash that is not an outage, naming it', async () => {
    const { consumer, crash } = await consumerWithCrashHook();
    crash(
      Object.assign(new Error('Not authorized to access group'), {
        name: 'KafkaJSProtocolError',
        type: 'GROUP_AUTHORIZATION_FAILED',
        retriable: false,
      }),
    );
    const failure: unknown = await consumer
      .next({ maxEvents: 10, maxWaitMs: 100 })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(LogError);
    expect((failure as LogError).message).toMatch(
      /stopped \(Not authorized to access group\); close this consumer/,
    );
    expect(consumer.restarts).toBe(0);
  }, 60_000);

  it('leaves no member of the group behind when closed while it restarts', async () => {
    const { log, consumer, crash, admin } = await consumerWithCrashHook();
    await log.append(sessionCalls('restart-close', 2));
    await read(consumer, 2);
    crash(
      Object.assign(new Error('Failed to find group coordinator'), {
        name: 'KafkaJSGroupCoordinatorNotFound',
        retriable: false,
      }),
    );
    await consumer.close();
    // Wait out the first restart delay: a restart that ignored the close would have rejoined by then.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const { groups } = await admin.describeGroups(['restart-test']);
    expect(groups[0]?.members).toEqual([]);
    expect(consumer.restarts).toBe(0);
  }, 60_000);

  it('reads from the start after a restart before its first commit, whatever the group committed before', async () => {
    const early = sessionCalls('restart-rebuild', 4);
    const { consumer, crash } = await consumerWithCrashHook(async (log) => {
      await log.append(early);
      // An earlier reader of the group read and committed everything (as a finished rebuild has).
      const earlier = await log.openConsumer('restart-test');
      await read(earlier, 4);
      await earlier.close();
    });
    crash(
      Object.assign(new Error('Failed to find group coordinator'), {
        name: 'KafkaJSGroupCoordinatorNotFound',
        retriable: false,
      }),
    );
    const reread = await read(consumer, 4);
    expect(reread.map((e) => e.id).sort()).toEqual(early.map((e) => e.id).sort());
    expect(consumer.restarts).toBe(1);
  }, 60_000);
});
