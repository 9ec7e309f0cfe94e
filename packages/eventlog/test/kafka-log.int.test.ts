import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll } from 'vitest';
import { openKafkaLog, type EventLog, type KafkaLogOptions } from '../src/index.js';
import { kafkaBrokers } from '../../../test/support/kafka-brokers.js';
import { describeEventLogContract } from './event-log-contract.js';

/** Kafka logs for tests: a fresh topic per call, quiet client, short timeouts. */
export function kafkaTestOptions(brokers: string[], overrides: Partial<KafkaLogOptions> = {}): KafkaLogOptions {
  return {
    brokers,
    topic: `gatehouse.test.${randomUUID().slice(0, 8)}`,
    partitions: 6,
    clientId: 'gatehouse-test',
    appendTimeoutMs: 5_000,
    sessionTimeoutMs: 10_000,
    fetchMaxWaitMs: 200,
    logger: { warn: () => undefined, error: () => undefined },
    ...overrides,
  };
}

let admin: ReturnType<Kafka['admin']>;
let brokers: string[];

beforeAll(async () => {
  brokers = kafkaBrokers();
  admin = new Kafka({ brokers, clientId: 'gatehouse-test-admin', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
});
afterAll(async () => {
  await admin?.disconnect();
});

describeEventLogContract('kafka', async () => {
  const options = kafkaTestOptions(brokers);
  const handles: EventLog[] = [];
  const open = async () => {
    const log = await openKafkaLog(options);
    handles.push(log);
    return log;
  };
  const log = await open();
  return {
    log,
    reopen: open,
    cleanup: async () => {
      await Promise.all(handles.map((handle) => handle.close()));
      await admin.deleteTopics({ topics: [options.topic!] }).catch(() => undefined);
    },
  };
});
