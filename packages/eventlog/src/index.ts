export * from './event-log.js';
export * from './errors.js';
export {
  openEmbeddedLog,
  type EmbeddedEventLog,
  type EmbeddedLogOptions,
  type EmbeddedLogLogger,
} from './embedded/embedded-log.js';
export { readEmbeddedLog, type ReadEmbeddedLogOptions } from './embedded/read-embedded-log.js';
export type { EmbeddedConsumer } from './embedded/embedded-consumer.js';
export type { TailRecovery } from './embedded/tail-recovery.js';
export { createMemoryLog, type MemoryEventLog, type MemoryLogOptions } from './memory/memory-log.js';
