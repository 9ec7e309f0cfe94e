import { GatehouseError } from '@gatehouse/events';

/** Error codes of the event log adapters. */
export const LOG_ERROR_CODES = [
  'GH_ERR_LOG_UNAVAILABLE',
  'GH_ERR_LOG_CLOSED',
  'GH_ERR_LOG_CORRUPT_SEGMENT',
  'GH_ERR_LOG_CHECKPOINT',
  'GH_ERR_LOG_RECORD_TOO_LARGE',
  'GH_ERR_LOG_CONFIG',
  /** Another live process holds the embedded log's lock file. */
  'GH_ERR_LOG_LOCKED',
  /** A record's bytes are intact but it is not a valid event (append: cannot encode; read: schema failure). */
  'GH_ERR_LOG_INVALID_RECORD',
  /** `openConsumer` for a group that already has an open consumer in this process. */
  'GH_ERR_LOG_GROUP_BUSY',
  /** The outcome spool holds `maxSpoolBytes` already: nothing more is written to it until it drains. */
  'GH_ERR_LOG_SPOOL_FULL',
] as const;
export type LogErrorCode = (typeof LOG_ERROR_CODES)[number];

/**
 * An event-log failure. `retryable` is true for outages (the same append may succeed later).
 * `nothingWritten` is true only where an append was refused before anything was sent or written
 * (a closed log, an event that cannot be encoded, a record over `maxRecordBytes`); any other
 * failure of an append, retryable or not, may have left some of its records in the log.
 */
export class LogError extends GatehouseError {
  declare readonly code: LogErrorCode;
  readonly nothingWritten: boolean;
  constructor(
    code: LogErrorCode,
    message: string,
    options: { retryable?: boolean; cause?: unknown; nothingWritten?: boolean } = {},
  ) {
    const { nothingWritten, ...rest } = options;
    super(code, message, { status: 503, ...rest });
    this.name = 'LogError';
    this.nothingWritten = nothingWritten ?? false;
  }
}
