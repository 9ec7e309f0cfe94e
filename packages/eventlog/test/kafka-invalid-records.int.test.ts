import type { GatehouseEvent } from '@gatehouse/events';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { openKafkaLog, type KafkaConsumer, type KafkaEventLog } from '../src/index.js';
import { kafkaBrokers } from '../../../test/support/kafka-brokers.js';
import { kafkaTestOptions } from './kafka-test-options.js';
import { sessionCalls } from './support/sample-events.js';

type KafkaLogBatch = Awaited<ReturnType<KafkaConsumer['next']>>;
const opened: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const handle of opened.splice(0).reverse()) await handle.close().catch(() => undefined);
});

/** A one-partition topic holding event 0, a record that is not an event (offset 1), events 1 and 2. */
async function topicWithPoison(): Promise<{ log: KafkaEventLog; events: GatehouseEvent[]; poison: Buffer }> {
  const log = await openKafkaLog(kafkaTestOptions(kafkaBrokers(), { partitions: 1 }));
  opened.push(log);
  const events = sessionCalls('s-poison', 3);
  await log.append([events[0]!]);
  const producer = new Kafka({
    brokers: kafkaBrokers(),
    clientId: 'gatehouse-test-raw',
    logLevel: logLevel.NOTHING,
  }).producer();
  await producer.connect();
  const poison = Buffer.from(JSON.stringify({ ...events[0]!, scopes: 'mcp' }));
  await producer.send({ topic: log.topic, acks: -1, messages: [{ key: 's-poison', value: poison }] });
  await producer.disconnect();
  await log.append(events.slice(1));
  return { log, events, poison };
}

/** Reads until `records` records (events + invalid) arrived, committing each batch. */
async function readAll(consumer: KafkaConsumer, records: number): Promise<KafkaLogBatch[]> {
  const batches: KafkaLogBatch[] = [];
  for (let seen = 0, idle = 0; seen < records && idle < 60;) {
    const batch = await consumer.next({ maxEvents: 10, maxWaitMs: 250 });
    if (batch.events.length + batch.invalid.length === 0) {
      idle++;
      continue;
    }
    batches.push(batch);
    seen += batch.events.length + batch.invalid.length;
    await consumer.commit(batch);
  }
  return batches;
}

describe('kafka consumer: a record that is not an event', () => {
  it('stops its partition by default, naming the partition and offset', async () => {
    const { log, events } = await topicWithPoison();
    const consumer = await log.openConsumer('strict');
    const first = await consumer.next({ maxEvents: 10, maxWaitMs: 5_000 });
    expect(first.events).toEqual([events[0]]);
    await expect(consumer.next({ maxEvents: 10, maxWaitMs: 1_000 })).rejects.toThrow(
      /partition 0 offset 1 is not a Gatehouse event: .*scopes/,
    );
  });

  it('with deliverInvalidRecords: hands it out in the batch with its bytes, and commits past it', async () => {
    const { log, events, poison } = await topicWithPoison();
    const consumer = await log.openConsumer('lenient', { deliverInvalidRecords: true });
    const batches = await readAll(consumer, 4);
    expect(batches.flatMap((batch) => batch.events)).toEqual(events);
    expect(batches.flatMap((batch) => batch.eventOffsets)).toEqual(['0', '2', '3']);
    const invalid = batches.flatMap((batch) => batch.invalid);
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatchObject({ partition: 0, offset: '1', key: 's-poison' });
    expect(invalid[0]!.value).toEqual(poison);
    expect(invalid[0]!.error).toMatch(/scopes/);
    expect(await consumer.lag()).toBe(0);
  });
});
