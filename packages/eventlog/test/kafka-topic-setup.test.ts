import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { resolveKafkaOptions } from '../src/kafka/kafka-options.js';
import { ensureTopic } from '../src/kafka/topic-setup.js';

const protocolError = (type: string) =>
  Object.assign(new Error(`kafkajs says ${type}`), { name: 'KafkaJSProtocolError', type });

type Metadata = Awaited<ReturnType<Admin['fetchTopicMetadata']>>;
const partitions = (...leaders: number[]): Metadata => ({
  topics: [
    {
      name: 't',
      partitions: leaders.map((leader, partitionId) => ({
        partitionId,
        leader,
        partitionErrorCode: 0,
        replicas: [1],
        isr: [1],
      })),
    },
  ],
});

/**
 * Stands in for the kafkajs admin only where a real broker cannot be made to misbehave on cue:
 * the moment after creation when a KRaft broker does not know the topic yet.
 */
function scriptedAdmin(answers: Array<Metadata | Error>, existing: string[] = []) {
  const created: string[] = [];
  const asked = { metadata: 0 };
  const admin = {
    listTopics: async () => existing,
    createTopics: async ({ topics }: { topics: Array<{ topic: string }> }) => {
      created.push(...topics.map((t) => t.topic));
      return true;
    },
    fetchTopicMetadata: async () => {
      asked.metadata++;
      const answer = answers.shift() ?? protocolError('UNKNOWN_TOPIC_OR_PARTITION');
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return { admin: admin as unknown as Admin, created, answers, asked };
}

const options = (requestTimeoutMs = 2_000) =>
  resolveKafkaOptions({ brokers: ['b:9092'], topic: 't', partitions: 3, requestTimeoutMs });

describe('ensureTopic', () => {
  it('waits while a just-created topic is unknown or leaderless, then returns its partition count', async () => {
    const { admin, created, answers } = scriptedAdmin([
      protocolError('UNKNOWN_TOPIC_OR_PARTITION'),
      protocolError('LEADER_NOT_AVAILABLE'),
      partitions(1, -1, 1),
      partitions(1, 1, 1),
    ]);
    await expect(ensureTopic(admin, options())).resolves.toBe(3);
    expect(created).toEqual(['t']);
    expect(answers).toHaveLength(0);
  });

  it('leaves an existing topic as it is', async () => {
    const { admin, created } = scriptedAdmin([partitions(1, 1)], ['t']);
    await expect(ensureTopic(admin, options())).resolves.toBe(2);
    expect(created).toEqual([]);
  });

  it('gives up after requestTimeoutMs with a retryable error naming the topic', async () => {
    const { admin } = scriptedAdmin([]);
    await expect(ensureTopic(admin, options(300))).rejects.toMatchObject({
      code: 'GH_ERR_LOG_UNAVAILABLE',
      retryable: true,
      message: expect.stringMatching(/create kafka topic t failed: .*UNKNOWN_TOPIC_OR_PARTITION/),
    });
  });

  it('does not wait out an error that is not about propagation', async () => {
    const { admin, asked } = scriptedAdmin([protocolError('TOPIC_AUTHORIZATION_FAILED')]);
    await expect(ensureTopic(admin, options(10_000))).rejects.toMatchObject({
      message: expect.stringMatching(/TOPIC_AUTHORIZATION_FAILED/),
    });
    expect(asked.metadata).toBe(1);
  });
});
