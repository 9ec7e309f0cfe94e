import { randomUUID } from 'node:crypto';
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
