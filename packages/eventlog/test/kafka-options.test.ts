import { describe, expect, it } from 'vitest';
import { kafkaTopicLayoutFromEnv, resolveKafkaOptions } from '../src/kafka/kafka-options.js';

describe('Kafka log options', () => {
  it('defaults to a 10 s group session and a join timeout three times as long', () => {
    const options = resolveKafkaOptions({ brokers: ['127.0.0.1:9092'] });
    expect(options.sessionTimeoutMs).toBe(10_000);
    expect(options.joinTimeoutMs).toBe(30_000);
    expect(resolveKafkaOptions({ brokers: ['b:9092'], sessionTimeoutMs: 20_000 }).joinTimeoutMs).toBe(60_000);
  });

  it('refuses a join timeout a rejoin after a crash could not meet, naming both options', () => {
    expect(() =>
      resolveKafkaOptions({ brokers: ['b:9092'], sessionTimeoutMs: 10_000, joinTimeoutMs: 8_000 }),
    ).toThrow(/joinTimeoutMs \(8000\) must exceed sessionTimeoutMs \(10000\)/);
  });

  it('names a bad topic and a session timeout below the broker minimum', () => {
    expect(() => resolveKafkaOptions({ brokers: ['b:9092'], topic: 'bad topic' })).toThrow(
      /topic "bad topic"/,
    );
    expect(() => resolveKafkaOptions({ brokers: ['b:9092'], sessionTimeoutMs: 1_000 })).toThrow(
      /sessionTimeoutMs/,
    );
  });

  it('fetches up to 4 MiB per partition by default, and names a bad fetch size', () => {
    expect(resolveKafkaOptions({ brokers: ['b:9092'] }).fetchMaxBytesPerPartition).toBe(4 * 2 ** 20);
    expect(() => resolveKafkaOptions({ brokers: ['b:9092'], fetchMaxBytesPerPartition: 100 })).toThrow(
      /fetchMaxBytesPerPartition must be an integer between 1024 and 268435456, got 100/,
    );
  });

  it('reads how to create the topic from GATEHOUSE_KAFKA_PARTITIONS and _REPLICATION_FACTOR, naming a bad one', () => {
    expect(kafkaTopicLayoutFromEnv({})).toEqual({});
    expect(
      kafkaTopicLayoutFromEnv({ GATEHOUSE_KAFKA_PARTITIONS: '12', GATEHOUSE_KAFKA_REPLICATION_FACTOR: '3' }),
    ).toEqual({ partitions: 12, replicationFactor: 3 });
    expect(
      resolveKafkaOptions({
        brokers: ['b:9092'],
        ...kafkaTopicLayoutFromEnv({ GATEHOUSE_KAFKA_REPLICATION_FACTOR: '3' }),
      }),
    ).toMatchObject({
      partitions: 6,
      replicationFactor: 3,
      minInsyncReplicas: 2,
    });
    for (const bad of ['0', '1.5', 'twelve', '10001'])
      expect(() => kafkaTopicLayoutFromEnv({ GATEHOUSE_KAFKA_PARTITIONS: bad })).toThrow(
        `GATEHOUSE_KAFKA_PARTITIONS: "${bad}" is not a whole number 1-10000`,
      );
    expect(() => kafkaTopicLayoutFromEnv({ GATEHOUSE_KAFKA_REPLICATION_FACTOR: '33' })).toThrow(
      'GATEHOUSE_KAFKA_REPLICATION_FACTOR: "33" is not a whole number 1-32',
    );
  });
});
