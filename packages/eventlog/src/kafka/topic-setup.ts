import type { Admin } from 'kafkajs';
import { toLogError } from './kafka-errors.js';
import { KAFKA_TOPIC_MAX_MESSAGE_BYTES, type ResolvedKafkaOptions } from './kafka-options.js';

/**
 * Creates the topic when it does not exist (and waits for its partition leaders); leaves an
 * existing topic as it is. Returns the topic's partition count.
 */
export async function ensureTopic(admin: Admin, options: ResolvedKafkaOptions): Promise<number> {
  const { topic } = options;
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      const configEntries = [{ name: 'max.message.bytes', value: String(KAFKA_TOPIC_MAX_MESSAGE_BYTES) }];
      if (options.minInsyncReplicas !== undefined)
        configEntries.push({ name: 'min.insync.replicas', value: String(options.minInsyncReplicas) });
      // false when another process created it meanwhile: fine either way.
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: options.partitions,
            replicationFactor: options.replicationFactor,
            configEntries,
          },
        ],
      });
    }
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    return metadata.topics[0]?.partitions.length ?? options.partitions;
  } catch (error) {
    throw toLogError(error, `create kafka topic ${topic}`);
  }
}
