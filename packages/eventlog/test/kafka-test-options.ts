import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { kafkaBrokers } from '../../../test/support/kafka-brokers.js';
import type { KafkaLogOptions } from '../src/index.js';

/** Kafka logs for tests: a fresh topic per call, quiet client, short timeouts. */
export function kafkaTestOptions(
  brokers: string[],
  overrides: Partial<KafkaLogOptions> = {},
): KafkaLogOptions {
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

/** A connected kafkajs admin client on the test broker (quiet); the caller disconnects it. */
export async function connectTestAdmin(): Promise<Admin> {
  const admin = new Kafka({
    brokers: kafkaBrokers(),
    clientId: 'gatehouse-test-admin',
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  return admin;
}
