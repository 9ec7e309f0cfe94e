import { GatehouseError } from '@gatehouse/events';

/**
 * Error codes of the query API and the checkpointer. Each maps to one HTTP status; the wire body is
 * `{ error, message }` where `error` is the short OAuth-style name (`bad_request`, `invalid_token`…).
 */
export const QUERY_ERROR_CODES = [
  'GH_ERR_QUERY_BAD_REQUEST',
  'GH_ERR_QUERY_UNAUTHENTICATED',
  'GH_ERR_QUERY_INSUFFICIENT_SCOPE',
  'GH_ERR_QUERY_NOT_FOUND',
  'GH_ERR_QUERY_STORE_UNAVAILABLE',
  'GH_ERR_QUERY_AUDIT_UNAVAILABLE',
  'GH_ERR_QUERY_CONFIG',
  'GH_ERR_CHECKPOINT_KEY',
  'GH_ERR_CHECKPOINT_INVALID',
] as const;
export type QueryErrorCode = (typeof QUERY_ERROR_CODES)[number];

const WIRE: Record<QueryErrorCode, { status: number; error: string; retryable: boolean }> = {
  GH_ERR_QUERY_BAD_REQUEST: { status: 400, error: 'bad_request', retryable: false },
  GH_ERR_QUERY_UNAUTHENTICATED: { status: 401, error: 'invalid_token', retryable: false },
  GH_ERR_QUERY_INSUFFICIENT_SCOPE: { status: 403, error: 'insufficient_scope', retryable: false },
  GH_ERR_QUERY_NOT_FOUND: { status: 404, error: 'not_found', retryable: false },
  GH_ERR_QUERY_STORE_UNAVAILABLE: { status: 503, error: 'store_unavailable', retryable: true },
  GH_ERR_QUERY_AUDIT_UNAVAILABLE: { status: 503, error: 'audit_unavailable', retryable: true },
  GH_ERR_QUERY_CONFIG: { status: 500, error: 'server_error', retryable: false },
  GH_ERR_CHECKPOINT_KEY: { status: 500, error: 'server_error', retryable: false },
  GH_ERR_CHECKPOINT_INVALID: { status: 422, error: 'invalid_checkpoint', retryable: false },
};

/** An error of the query API or the checkpointer; `wireError` is the `error` member of the HTTP body. */
export class QueryApiError extends GatehouseError {
  declare readonly code: QueryErrorCode;
  readonly wireError: string;
  constructor(code: QueryErrorCode, message: string, cause?: unknown) {
    const wire = WIRE[code];
    super(code, message, { status: wire.status, retryable: wire.retryable, cause });
    this.name = 'QueryApiError';
    this.wireError = wire.error;
  }
}

/** `400 bad_request` naming the parameter at fault, e.g. `badRequest('querystring/when', 'is not …')`. */
export function badRequest(field: string, problem: string): QueryApiError {
  return new QueryApiError('GH_ERR_QUERY_BAD_REQUEST', `${field} ${problem}`);
}
