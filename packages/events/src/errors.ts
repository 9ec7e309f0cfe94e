/**
 * The error base every Gatehouse package shares. Codes are stable strings (`GH_ERR_<AREA>_<WHAT>`);
 * `status` is the HTTP status an endpoint should answer with, when one applies; `retryable` tells
 * the caller whether the same operation may succeed later (a broker outage) or never (bad input).
 */
export class GatehouseError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  readonly retryable: boolean;

  constructor(
    code: string,
    message: string,
    options: { status?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatehouseError';
    this.code = code;
    this.status = options.status;
    this.retryable = options.retryable ?? false;
  }
}

/** Error codes of the event model. */
export const EVENT_ERROR_CODES = [
  'GH_ERR_EVENT_INVALID',
  'GH_ERR_EVENT_CHAIN',
  'GH_ERR_EVENT_REDACTION_PATTERN',
] as const;
export type EventErrorCode = (typeof EVENT_ERROR_CODES)[number];

/** Raised when a value does not match the event schema; the message names the failing fields. */
export class EventSchemaError extends GatehouseError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[], cause?: unknown) {
    super('GH_ERR_EVENT_INVALID', `invalid event: ${issues.join('; ')}`, { status: 400, cause });
    this.name = 'EventSchemaError';
    this.issues = issues;
  }
}

/**
 * Raised by `createRedactor` when a configured key glob or secret pattern cannot be compiled. The
 * message names the option, the index and the pattern at fault (config is not secret).
 */
export class RedactionPatternError extends GatehouseError {
  readonly pattern: string;
  constructor(option: string, index: number, pattern: unknown, reason: string, cause?: unknown) {
    const shown = typeof pattern === 'string' ? JSON.stringify(pattern) : `(${typeof pattern})`;
    super('GH_ERR_EVENT_REDACTION_PATTERN', `${option}[${index}] ${shown}: ${reason}`, {
      status: 400,
      cause,
    });
    this.name = 'RedactionPatternError';
    this.pattern = typeof pattern === 'string' ? pattern : String(pattern);
  }
}
