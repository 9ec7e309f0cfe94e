import { numberFromEnv } from '../env-number.js';
import { LogError } from '../errors.js';

/** Where the Kafka adapter reports client warnings and errors. pino loggers fit this shape. */
export interface KafkaLogLogger {
  warn(details: Record<string, unknown>, message: string): void;
  error(details: Record<string, unknown>, message: string): void;
  debug?(details: Record<string, unknown>, message: string): void;
}

/** Options of `openKafkaLog`. Every duration is in milliseconds, every size in bytes. */
export interface KafkaLogOptions {
  /** Bootstrap brokers, `host:port` each (`KAFKA_BROKERS` split on commas). Required, at least one. */
  brokers: readonly string[];
  /** Topic of the audit log. Default `gatehouse.audit`. */
  topic?: string;
  /** Partitions when the topic is created (an existing topic is left as it is). Default 6. */
  partitions?: number;
  /** Replication factor when the topic is created. Default 1 (a development broker); production 3. */
  replicationFactor?: number;
  /**
   * `min.insync.replicas` when the topic is created. Default: unset (the broker's default) when
   * `replicationFactor` is 1, else 2. With `acks=-1` an append is acknowledged only once this many
   * replicas have it.
   */
  minInsyncReplicas?: number;
  /** Client id in broker logs and quotas. Default `gatehouse`. */
  clientId?: string;
  /**
   * Upper bound on the time from `append` to its acknowledgement; past it the append rejects with
   * a retryable `GH_ERR_LOG_UNAVAILABLE`. Default 10,000.
   */
  appendTimeoutMs?: number;
  /**
   * How long concurrent appends may wait to be coalesced into one produce request. Default 0: an
   * append goes out at once unless a request is already in flight, in which case everything that
   * arrives meanwhile goes out together in the next one.
   */
  lingerMs?: number;
  /** Upper bound on the encoded events of one produce request. Default 1 MiB. */
  maxBatchBytes?: number;
  /**
   * Largest encoded event an append accepts. Default 1 MiB, as the other adapters (the topic is
   * created with `max.message.bytes` = 2 MiB so such an event fits in a record batch).
   */
  maxRecordBytes?: number;
  /**
   * Check every appended event against the event schema (`parseEvent`) before anything is sent, as
   * the embedded log does: the broker accepts any bytes, and an event that breaks the schema would
   * otherwise be acknowledged and then refused by every reader of its partition. A failing event
   * rejects the whole append with `GH_ERR_LOG_INVALID_RECORD` (`nothingWritten`). Default true
   * (under a microsecond per event for plain data, about 5 µs otherwise).
   */
  validateOnAppend?: boolean;
  /** TCP connect timeout towards a broker. Default 3,000. */
  connectionTimeoutMs?: number;
  /** Per-request timeout. Default 10,000. */
  requestTimeoutMs?: number;
  /**
   * Consumer group session timeout (a member silent this long is removed). A projector restarted
   * after a crash joins under a new member id and waits this long for the dead one to be dropped.
   * Default 10,000 (the broker's minimum is 6,000).
   */
  sessionTimeoutMs?: number;
  /** How long the broker holds a fetch when no data is there. Default 500. */
  fetchMaxWaitMs?: number;
  /**
   * Most bytes one fetch returns per partition: the upper bound of a consumer batch when the
   * projector works through a backlog (about 5,000 events of 800 bytes at the default 4 MiB; at
   * most one fetched run per partition is buffered). Default 4 MiB.
   */
  fetchMaxBytesPerPartition?: number;
  /**
   * How long `openConsumer` waits for the group to assign partitions; must exceed
   * `sessionTimeoutMs` (a rejoin after a crash waits that long). Default 3 × `sessionTimeoutMs`.
   */
  joinTimeoutMs?: number;
  /** Receives client warnings and errors. Default: one line on stderr for errors only. */
  logger?: KafkaLogLogger;
}

export const DEFAULT_KAFKA_TOPIC = 'gatehouse.audit';
export const DEFAULT_KAFKA_PARTITIONS = 6;
export const DEFAULT_KAFKA_MAX_RECORD_BYTES = 1024 * 1024;
/** `max.message.bytes` of a topic the adapter creates: room for one 1 MiB event plus batch overhead. */
export const KAFKA_TOPIC_MAX_MESSAGE_BYTES = 2 * 1024 * 1024;

/** Room a record batch needs besides its record values (batch and record headers, keys). */
export const KAFKA_BATCH_HEADROOM_BYTES = 64 * 1024;

/** `KafkaLogOptions` with every default applied and every value checked. */
export interface ResolvedKafkaOptions {
  brokers: string[];
  topic: string;
  partitions: number;
  replicationFactor: number;
  minInsyncReplicas: number | undefined;
  clientId: string;
  appendTimeoutMs: number;
  lingerMs: number;
  maxBatchBytes: number;
  maxRecordBytes: number;
  validateOnAppend: boolean;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  sessionTimeoutMs: number;
  fetchMaxWaitMs: number;
  fetchMaxBytesPerPartition: number;
  joinTimeoutMs: number;
  logger: KafkaLogLogger;
}

const stderrLogger: KafkaLogLogger = {
  warn: () => undefined,
  error: (details, message) =>
    process.stderr.write(`gatehouse eventlog (kafka): ${message} ${JSON.stringify(details)}\n`),
};

function integer(
  value: number | undefined,
  fallback: number,
  name: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `openKafkaLog: ${name} must be an integer between ${min} and ${max}, got ${String(value)}`,
    );
  }
  return value;
}

/** Kafka topic names: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/** Validates `options` and fills in the defaults. Throws `GH_ERR_LOG_CONFIG` naming the bad option. */
export function resolveKafkaOptions(options: KafkaLogOptions): ResolvedKafkaOptions {
  const brokers = [...(options.brokers ?? [])]
    .map((broker) => broker.trim())
    .filter((broker) => broker.length > 0);
  if (brokers.length === 0) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      'openKafkaLog: brokers must name at least one host:port (KAFKA_BROKERS)',
    );
  }
  for (const broker of brokers) {
    if (!/^[^\s:]+:\d{1,5}$/.test(broker) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(broker)) {
      throw new LogError(
        'GH_ERR_LOG_CONFIG',
        `openKafkaLog: brokers: ${JSON.stringify(broker)} is not host:port (KAFKA_BROKERS)`,
      );
    }
  }
  const topic = options.topic ?? DEFAULT_KAFKA_TOPIC;
  if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..') {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `openKafkaLog: topic ${JSON.stringify(topic)} is not a valid Kafka topic name ([a-zA-Z0-9._-], 1-249 characters)`,
    );
  }
  const replicationFactor = integer(options.replicationFactor, 1, 'replicationFactor', 1, 32);
  const minInsyncReplicas =
    options.minInsyncReplicas === undefined
      ? replicationFactor > 1
        ? 2
        : undefined
      : integer(options.minInsyncReplicas, 1, 'minInsyncReplicas', 1, replicationFactor);
  const sessionTimeoutMs = integer(options.sessionTimeoutMs, 10_000, 'sessionTimeoutMs', 6_000);
  const joinTimeoutMs = integer(options.joinTimeoutMs, 3 * sessionTimeoutMs, 'joinTimeoutMs', 1);
  if (joinTimeoutMs <= sessionTimeoutMs) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `openKafkaLog: joinTimeoutMs (${joinTimeoutMs}) must exceed sessionTimeoutMs (${sessionTimeoutMs}): a member rejoining after a crash waits out the session timeout`,
    );
  }
  return {
    brokers,
    topic,
    partitions: integer(options.partitions, DEFAULT_KAFKA_PARTITIONS, 'partitions', 1, 10_000),
    replicationFactor,
    minInsyncReplicas,
    clientId: options.clientId ?? 'gatehouse',
    appendTimeoutMs: integer(options.appendTimeoutMs, 10_000, 'appendTimeoutMs', 1),
    lingerMs: integer(options.lingerMs, 0, 'lingerMs', 0, 60_000),
    maxBatchBytes: integer(options.maxBatchBytes, 1024 * 1024, 'maxBatchBytes', 1024, 64 * 1024 * 1024),
    maxRecordBytes: integer(
      options.maxRecordBytes,
      DEFAULT_KAFKA_MAX_RECORD_BYTES,
      'maxRecordBytes',
      1,
      KAFKA_TOPIC_MAX_MESSAGE_BYTES - KAFKA_BATCH_HEADROOM_BYTES,
    ),
    validateOnAppend: options.validateOnAppend ?? true,
    connectionTimeoutMs: integer(options.connectionTimeoutMs, 3_000, 'connectionTimeoutMs', 1),
    requestTimeoutMs: integer(options.requestTimeoutMs, 10_000, 'requestTimeoutMs', 1),
    sessionTimeoutMs,
    fetchMaxWaitMs: integer(options.fetchMaxWaitMs, 500, 'fetchMaxWaitMs', 0, 60_000),
    fetchMaxBytesPerPartition: integer(
      options.fetchMaxBytesPerPartition,
      4 * 2 ** 20,
      'fetchMaxBytesPerPartition',
      1_024,
      256 * 2 ** 20,
    ),
    joinTimeoutMs,
    logger: options.logger ?? stderrLogger,
  };
}

/** Splits a `KAFKA_BROKERS` value (`host:port,host:port`) into the `brokers` option. */
export function parseKafkaBrokers(value: string): string[] {
  return value
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker.length > 0);
}

/**
 * `GATEHOUSE_KAFKA_PARTITIONS` and `GATEHOUSE_KAFKA_REPLICATION_FACTOR`: how a service creates the
 * audit topic when it is the first to open it (an existing topic is left as it is). Unset: 6 and 1.
 */
export function kafkaTopicLayoutFromEnv(
  env: NodeJS.ProcessEnv,
): Pick<KafkaLogOptions, 'partitions' | 'replicationFactor'> {
  const whole = (max: number) => (raw: string) => {
    const value = Number(raw);
    return /^\d+$/.test(raw) && value >= 1 && value <= max ? value : undefined;
  };
  const partitions = numberFromEnv(
    env,
    'GATEHOUSE_KAFKA_PARTITIONS',
    whole(10_000),
    'a whole number 1-10000',
  );
  const replicationFactor = numberFromEnv(
    env,
    'GATEHOUSE_KAFKA_REPLICATION_FACTOR',
    whole(32),
    'a whole number 1-32',
  );
  return {
    ...(partitions === undefined ? {} : { partitions }),
    ...(replicationFactor === undefined ? {} : { replicationFactor }),
  };
}
