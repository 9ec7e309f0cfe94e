export {
  createProjector,
  projectorGroup,
  type Projector,
  type ProjectorOptions,
  type ProjectorState,
  type ProjectorStats,
} from './projector.js';
export { BatchJournal, type PendingBatch } from './batch-journal.js';
export * from './errors.js';
