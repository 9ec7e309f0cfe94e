export * from './event-log.js';
export * from './errors.js';
export { LOG_LEVELS, logLevelFromEnv, type LogLevel } from './log-level.js';
export {
  inlineCommitWhenQuietMsFromEnv,
  openEmbeddedLog,
  type EmbeddedEventLog,
  type EmbeddedLogOptions,
  type EmbeddedLogLogger,
} from './embedded/embedded-log.js';
export { readEmbeddedLog, type ReadEmbeddedLogOptions } from './embedded/read-embedded-log.js';
/** fsyncs a directory, so that a file created or renamed in it survives a crash. */
export { syncDir } from './embedded/checkpoint-store.js';
export type { EmbeddedConsumer } from './embedded/embedded-consumer.js';
export type { TailRecovery } from './embedded/tail-recovery.js';
export { createMemoryLog, type MemoryEventLog, type MemoryLogOptions } from './memory/memory-log.js';
export { openKafkaLog, type KafkaEventLog } from './kafka/kafka-log.js';
export type { KafkaConsumer } from './kafka/kafka-consumer.js';
export {
  kafkaTopicLayoutFromEnv,
  parseKafkaBrokers,
  DEFAULT_KAFKA_TOPIC,
  DEFAULT_KAFKA_PARTITIONS,
  type KafkaLogOptions,
  type KafkaLogLogger,
} from './kafka/kafka-options.js';
export {
  createSpoolingLog,
  DEFAULT_SPOOLABLE_TYPES,
  spoolMaxBytesFromEnv,
  type SpoolingLog,
  type SpoolingLogOptions,
  type SpoolRetryOptions,
  type SpoolLogger,
  type OutcomeDisposition,
} from './spool/spooling-log.js';
