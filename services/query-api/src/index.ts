export * from './errors.js';
export {
  createQueryApi,
  DEFAULT_QUERY_PORT,
  type QueryApi,
  type QueryApiOptions,
} from './create-query-api.js';
export type { Caller, QueryAuthOptions } from './bearer-auth.js';
export type { PolicyCompiler } from './query-context.js';
export {
  evaluateCapabilities,
  namespacedToolName,
  whatIf,
  WhatIfTally,
  type DecidingPolicy,
  type DecisionChange,
  type ToolCapability,
  type WhatIfResult,
} from './evaluate.js';
export {
  resolveWindow,
  resolveInstant,
  isTimeZone,
  wallClockToUtc,
  zoneOffsetMinutes,
  type ResolvedWindow,
  type TimeWindow,
} from './time-window.js';
export { CSV_COLUMNS, EXPORT_FORMATS, type ExportFormat } from './export-format.js';
export {
  SESSION_PAGE_ROWS,
  storedSessionPages,
  type NextPage,
  type SessionPagesOptions,
} from './session-pages.js';
export {
  verifySessionEvents,
  verifyStoredSession,
  type CheckpointCheck,
  type SessionVerification,
} from './session-verification.js';
export type { ActivityAnswer } from './routes/activity-route.js';
export type { CapabilitiesAnswer } from './routes/capabilities-route.js';
export type { SessionsAnswer, SessionEventsAnswer, WhatIfAnswer } from './routes/session-routes.js';
export {
  loadCheckpointKey,
  checkpointKeyPath,
  CHECKPOINT_ALGORITHMS,
  type CheckpointAlgorithm,
  type CheckpointKey,
} from './checkpoint-key.js';
export {
  signCheckpoint,
  verifyCheckpoint,
  CHECKPOINT_TYP,
  type CheckpointPayload,
} from './checkpoint-jws.js';
export {
  startCheckpointer,
  storeHeadsSince,
  MAX_HEADS_PER_CHECKPOINT,
  STORE_HEADS_LOOKBACK_MS,
  type Checkpointer,
  type CheckpointerOptions,
  type HeadSource,
} from './checkpointer.js';
export { QueryRecorder, type ExecutedQuery } from './query-recorder.js';
export { runQueryApi, type RunQueryApiOptions, type RunningQueryApi } from './main.js';
export { PublishedHistory, type PublishedHistoryOptions } from './published-history.js';
