import { GatehouseError } from '@gatehouse/events';

/** Error codes of the ClickHouse audit store. */
export const STORE_ERROR_CODES = [
  /** ClickHouse could not be reached or refused for a transient reason (retry later). */
  'GH_ERR_STORE_UNAVAILABLE',
  /** ClickHouse rejected a statement (unknown table, syntax, type mismatch): retrying will not help. */
  'GH_ERR_STORE_QUERY',
  /** An event of an insert batch failed validation; nothing of the batch was written. */
  'GH_ERR_STORE_INVALID_EVENT',
  /** A schema migration failed; the message names the migration. */
  'GH_ERR_STORE_MIGRATION',
  /** A pagination cursor was malformed or came from another query. */
  'GH_ERR_STORE_CURSOR',
  /** An option of `openAuditStore` or a query argument was invalid; the message names it. */
  'GH_ERR_STORE_CONFIG',
  /** The store was closed. */
  'GH_ERR_STORE_CLOSED',
] as const;
export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];

/** HTTP status an endpoint answers with for each code (bad input 400, outage 503, our fault 500). */
const STATUS_BY_CODE: Record<StoreErrorCode, number> = {
  GH_ERR_STORE_UNAVAILABLE: 503,
  GH_ERR_STORE_QUERY: 500,
  GH_ERR_STORE_INVALID_EVENT: 400,
  GH_ERR_STORE_MIGRATION: 500,
  GH_ERR_STORE_CURSOR: 400,
  GH_ERR_STORE_CONFIG: 400,
  GH_ERR_STORE_CLOSED: 503,
};

/**
 * A store failure. `retryable` is true when the same operation may succeed later (network errors,
 * timeouts, memory or part-count pressure); `operation` names what failed ("insert into
 * gatehouse.events"); `clickhouseCode` carries ClickHouse's numeric code when it gave one.
 */
export class StoreError extends GatehouseError {
  declare readonly code: StoreErrorCode;
  readonly operation: string | undefined;
  readonly clickhouseCode: number | undefined;

  constructor(
    code: StoreErrorCode,
    message: string,
    options: {
      retryable?: boolean;
      cause?: unknown;
      status?: number;
      operation?: string;
      clickhouseCode?: number;
    } = {},
  ) {
    super(code, message, {
      status: options.status ?? STATUS_BY_CODE[code],
      retryable: options.retryable ?? false,
      cause: options.cause,
    });
    this.name = 'StoreError';
    this.operation = options.operation;
    this.clickhouseCode = options.clickhouseCode;
  }
}

/**
 * ClickHouse error codes after which the same statement may succeed: timeouts, network, memory and
 * part-count pressure, read-only replicas, Keeper hiccups.
 */
const RETRYABLE_CLICKHOUSE_CODES = new Set([
  159, // TIMEOUT_EXCEEDED
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  319, // UNKNOWN_STATUS_OF_INSERT
  425, // SYSTEM_ERROR
  999, // KEEPER_EXCEPTION
]);

/** Node / HTTP error codes of a connection that failed in transit. */
const RETRYABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

/**
 * Translates whatever `@clickhouse/client` (HTTP or chDB) threw into a `StoreError` naming the
 * operation. Already-translated errors pass through unchanged.
 */
export function translateClickHouseError(operation: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  const chCode = readClickHouseCode(error);
  const nodeCode =
    typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined;
  const timedOut = /timeout/i.test(detail);
  if (chCode !== undefined) {
    const type = (error as { type?: unknown }).type;
    const retryable = RETRYABLE_CLICKHOUSE_CODES.has(chCode);
    return new StoreError(
      retryable ? 'GH_ERR_STORE_UNAVAILABLE' : 'GH_ERR_STORE_QUERY',
      `${operation} failed: ClickHouse error ${chCode}${typeof type === 'string' ? ` ${type}` : ''}: ${detail.trim()}`,
      { retryable, cause: error, operation, clickhouseCode: chCode },
    );
  }
  const retryable = (nodeCode !== undefined && RETRYABLE_NODE_CODES.has(nodeCode)) || timedOut;
  if (/closed/i.test(detail) && !retryable) {
    return new StoreError(
      'GH_ERR_STORE_CLOSED',
      `${operation} failed: the ClickHouse connection is closed (${detail.trim()})`,
      {
        cause: error,
        operation,
      },
    );
  }
  return new StoreError(
    retryable ? 'GH_ERR_STORE_UNAVAILABLE' : 'GH_ERR_STORE_QUERY',
    `${operation} failed: ${detail.trim()}${nodeCode !== undefined ? ` (${nodeCode})` : ''}`,
    { retryable, cause: error, operation },
  );
}

function readClickHouseCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const raw = (error as { code?: unknown }).code;
  if (typeof raw === 'number' && Number.isInteger(raw)) return raw;
  if (typeof raw === 'string' && /^\d+$/.test(raw)) return Number(raw);
  // chDB's own errors (raw insert) carry a string `code` (CHDB_…) and the engine's in `clickhouseCode`.
  const chdb = (error as { clickhouseCode?: unknown }).clickhouseCode;
  if (typeof chdb === 'number' && Number.isInteger(chdb)) return chdb;
  return undefined;
}
