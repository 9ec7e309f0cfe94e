import kafkajs, { type Admin } from 'kafkajs';
import { LogError } from '../errors.js';
import { kafkaErrorType, toLogError } from './kafka-errors.js';
import {
  KAFKA_BATCH_HEADROOM_BYTES,
  KAFKA_TOPIC_MAX_MESSAGE_BYTES,
  type ResolvedKafkaOptions,
} from './kafka-options.js';

/** Metadata errors a topic shows while its creation propagates to the broker we ask. */
const PROPAGATING = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/**
 * Creates the topic when it does not exist (events kept forever: `retention.ms` and
 * `retention.bytes` -1) and waits until every partition has a leader; leaves an existing topic as
 * it is. Returns the topic's partition count.
 *
 * kafkajs's own `waitForLeaders` retries only LEADER_NOT_AVAILABLE, but a KRaft broker may answer
 * UNKNOWN_TOPIC_OR_PARTITION for a moment after the controller created the topic, so this waits
 * itself, for at most `requestTimeoutMs`.
 */
export async function ensureTopic(admin: Admin, options: ResolvedKafkaOptions): Promise<number> {
  const { topic } = options;
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      const configEntries = [
        { name: 'max.message.bytes', value: String(KAFKA_TOPIC_MAX_MESSAGE_BYTES) },
        // The topic is the record; ClickHouse is a projection of it (`gatehouse rebuild` reads it
        // from the earliest offset). A broker's default retention (7 days) would delete events
        // that a projector behind by more, or a rebuild, then silently never sees.
        { name: 'retention.ms', value: '-1' },
        { name: 'retention.bytes', value: '-1' },
      ];
      if (options.minInsyncReplicas !== undefined)
        configEntries.push({ name: 'min.insync.replicas', value: String(options.minInsyncReplicas) });
      // false when another process created it meanwhile: fine either way.
      await admin.createTopics({
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
    return await waitForLeaders(admin, topic, options.requestTimeoutMs);
  } catch (error) {
    throw toLogError(error, `create kafka topic ${topic}`);
  }
}

async function waitForLeaders(admin: Admin, topic: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let delayMs = 50; ; delayMs = Math.min(delayMs * 2, 500)) {
    let leaderless: number | undefined;
    try {
      const { partitions } = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0] ?? {
        partitions: [],
      };
      leaderless = partitions.filter((p) => p.leader < 0).length;
      if (partitions.length > 0 && leaderless === 0) return partitions.length;
    } catch (error) {
      const type = kafkaErrorType(error);
      if (type === undefined || !PROPAGATING.has(type) || Date.now() >= deadline) throw error;
    }
    if (Date.now() >= deadline)
      throw new LogError(
        'GH_ERR_LOG_UNAVAILABLE',
        `kafka topic ${topic}: ${leaderless ?? 'its'} partition(s) still without a leader after ${timeoutMs} ms`,
        { retryable: true },
      );
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

// kafkajs is CommonJS: Node's ESM loader does not see `ConfigResourceTypes` as a named export.
const { ConfigResourceTypes } = kafkajs;

/**
 * Fits `maxRecordBytes` and `maxBatchBytes` under the topic's own `max.message.bytes` (the
 * largest record batch the broker accepts; a topic this adapter did not create may have a smaller
 * one than it sets): a record over it would be refused by the broker on every retry, whereas a
 * record over `maxRecordBytes` is refused before sending, with nothing written. Warns when it
 * lowers a configured value; refuses a topic whose limit leaves no room for an event.
 */
export async function fitTopicLimits(
  admin: Admin,
  options: ResolvedKafkaOptions,
): Promise<ResolvedKafkaOptions> {
  const { topic } = options;
  let limit: number;
  try {
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topic,
          configNames: ['max.message.bytes', 'retention.ms', 'retention.bytes'],
        },
      ],
    });
    const entries = described.resources[0]?.configEntries ?? [];
    const value = (name: string) => Number(entries.find((e) => e.configName === name)?.configValue);
    limit = value('max.message.bytes');
    warnOnRetention(options, value('retention.ms'), value('retention.bytes'));
  } catch (error) {
    throw toLogError(error, `read the configuration of kafka topic ${topic}`);
  }
  if (!Number.isSafeInteger(limit) || limit <= 0) return options; // not reported: keep ours
  const room = limit - KAFKA_BATCH_HEADROOM_BYTES;
  if (room < 16 * 1024)
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `kafka topic ${topic} has max.message.bytes ${limit}, which leaves no room for an audit event; raise it to at least ${KAFKA_TOPIC_MAX_MESSAGE_BYTES}`,
    );
  if (room >= options.maxRecordBytes && room >= options.maxBatchBytes) return options;
  const fitted = {
    ...options,
    maxRecordBytes: Math.min(options.maxRecordBytes, room),
    maxBatchBytes: Math.min(options.maxBatchBytes, room),
  };
  options.logger.warn(
    {
      topic,
      max_message_bytes: limit,
      max_record_bytes: fitted.maxRecordBytes,
      max_batch_bytes: fitted.maxBatchBytes,
    },
    `kafka topic ${topic} accepts record batches of at most ${limit} bytes: events over ${fitted.maxRecordBytes} bytes are refused before sending (raise the topic's max.message.bytes to ${KAFKA_TOPIC_MAX_MESSAGE_BYTES} to accept 1 MiB events)`,
  );
  return fitted;
}

/**
 * Warns when the topic deletes events (a finite `retention.ms` or `retention.bytes`, e.g. a topic
 * created by hand under the broker's 7-day default): events older than that are gone from the
 * record, so a projector behind by more, or `gatehouse rebuild`, cannot see them.
 */
function warnOnRetention(options: ResolvedKafkaOptions, retentionMs: number, retentionBytes: number): void {
  const finiteMs = Number.isSafeInteger(retentionMs) && retentionMs >= 0;
  const finiteBytes = Number.isSafeInteger(retentionBytes) && retentionBytes >= 0;
  if (!finiteMs && !finiteBytes) return;
  const limits = [
    ...(finiteMs ? [`retention.ms ${retentionMs} (${(retentionMs / 86_400_000).toFixed(1)} days)`] : []),
    ...(finiteBytes ? [`retention.bytes ${retentionBytes}`] : []),
  ];
  options.logger.warn(
    { topic: options.topic, retention_ms: retentionMs, retention_bytes: retentionBytes },
    `kafka topic ${options.topic} deletes events (${limits.join(', ')}): a projector behind by more, or gatehouse rebuild, will not see them; set retention.ms=-1 and retention.bytes=-1 on the topic (or archive it) to keep the whole record`,
  );
}
