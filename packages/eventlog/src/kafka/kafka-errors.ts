import { LogError } from '../errors.js';

/** Kafka protocol error types that mean "this record can never be written", not an outage. */
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
const INVALID = new Set(['INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TOPIC_EXCEPTION']);

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const type = (cause as { type?: unknown }).type;
    return `${cause.name}${typeof type === 'string' ? ` ${type}` : ''}: ${cause.message}`;
  }
  return String(cause);
}

/**
 * Translates a kafkajs failure into a `LogError`, keeping it as `cause`. Outages (connection
 * refused, timeouts, leader changes, retries exhausted) become a retryable
 * `GH_ERR_LOG_UNAVAILABLE`; a record the broker will never accept becomes
 * `GH_ERR_LOG_RECORD_TOO_LARGE` / `GH_ERR_LOG_INVALID_RECORD` (not retryable). `what` names the
 * operation and the topic (`append to gatehouse.audit`).
 */
export function toLogError(cause: unknown, what: string): LogError {
  if (cause instanceof LogError) return cause;
  const type = kafkaErrorType(cause);
  if (type !== undefined && TOO_LARGE.has(type)) {
    return new LogError(
      'GH_ERR_LOG_RECORD_TOO_LARGE',
      `${what}: the broker refused the record as too large (${describe(cause)})`,
      { cause },
    );
  }
  if (type !== undefined && INVALID.has(type)) {
    return new LogError(
      'GH_ERR_LOG_INVALID_RECORD',
      `${what}: the broker refused the record (${describe(cause)})`,
      { cause },
    );
  }
  return new LogError('GH_ERR_LOG_UNAVAILABLE', `${what} failed: Kafka unavailable (${describe(cause)})`, {
    retryable: true,
    cause,
  });
}

/** The protocol error type of a kafkajs error or of the error it wraps (retries-exceeded wraps the last one). */
export function kafkaErrorType(cause: unknown): string | undefined {
  for (const error of errorChain(cause)) {
    const type = (error as { type?: unknown }).type;
    if (typeof type === 'string') return type;
  }
  return undefined;
}

/**
 * A kafkajs error and the errors it wraps, outermost first (at most 5): retries-exceeded keeps the
 * last failure as `originalError`, kafkajs 2's other wrappers keep theirs as `cause`.
 */
export function* errorChain(error: unknown): Generator<Error> {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    yield current;
    current =
      (current as { originalError?: unknown }).originalError ?? (current as { cause?: unknown }).cause;
  }
}
