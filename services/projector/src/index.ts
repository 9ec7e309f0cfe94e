export {
  DEAD_LETTER_FILE_NAME,
  createProjector,
  projectorGroup,
  type Projector,
  type ProjectorOptions,
  type ProjectorState,
  type ProjectorStats,
} from './projector.js';
export { BatchJournal, type PendingBatch } from './batch-journal.js';
export { DeadLetterFile, type DeadLetter, type DeadLetterReason } from './dead-letter-file.js';
export * from './errors.js';
