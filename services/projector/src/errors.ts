import { GatehouseError } from '@gatehouse/events';

/** Error codes of the projector. */
export const PROJECTOR_ERROR_CODES = [
  /** An option of `createProjector` is invalid; the message names it. */
  'GH_ERR_PROJECTOR_CONFIG',
  /** `start` / `drain` called in a state that does not allow it (not started, already started, stopped). */
  'GH_ERR_PROJECTOR_STATE',
  /** `drain` did not reach the end of the log within its timeout. */
  'GH_ERR_PROJECTOR_DRAIN_TIMEOUT',
  /** The projector stopped on an error it could not retry past; `cause` holds it. */
  'GH_ERR_PROJECTOR_FAILED',
  /** The pending-batch journal could not be read or written. */
  'GH_ERR_PROJECTOR_JOURNAL',
  /** The dead-letter file could not be read or written. */
  'GH_ERR_PROJECTOR_DEAD_LETTER',
] as const;
export type ProjectorErrorCode = (typeof PROJECTOR_ERROR_CODES)[number];

export class ProjectorError extends GatehouseError {
  declare readonly code: ProjectorErrorCode;
  constructor(
    code: ProjectorErrorCode,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, { status: 503, ...options });
    this.name = 'ProjectorError';
  }
}
