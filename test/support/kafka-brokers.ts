import { inject } from 'vitest';

/**
 * The Kafka brokers of this test run (`KAFKA_BROKERS`, or the broker `test/support/kafka.ts`
 * started). Throws with instructions when there is none, so a Kafka test never passes vacuously.
 */
export function kafkaBrokers(): string[] {
  const value =
    process.env.KAFKA_BROKERS || inject('kafkaBrokers') || process.env.GATEHOUSE_TEST_KAFKA_BROKERS;
  if (!value) {
    throw new TypeError(
      'no Kafka broker for this test: set KAFKA_BROKERS, or let test/support/kafka.ts start one (infra/kafka/fetch.sh must have run; GATEHOUSE_TEST_KAFKA=0 disables it)',
    );
  }
  return value
    .split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);
}
