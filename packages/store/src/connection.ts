import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { StoreError } from './errors.js';

type ChdbConnectionModule = typeof import('chdb/connection');

export interface ConnectionOptions {
  /** ClickHouse HTTP URL (`CLICKHOUSE_URL`); when set, chDB is not used. */
  url?: string;
  /** Data dir for chDB; the engine's files live in `<dataDir>/clickhouse`. */
  dataDir?: string;
  /** `max_threads` for every statement. */
  maxThreads: number;
  /** Per-request timeout for the HTTP client (ms). */
  requestTimeoutMs: number;
}

/** What `RawInsert` takes: an INSERT of `values`, already in `format`, with per-insert settings. */
export interface RawInsertParams {
  /** `db.table`. */
  table: string;
  columns: readonly string[];
  /** The rows, encoded in `format`. Not modified until the promise settles. */
  values: Buffer;
  format: 'TabSeparated';
  /** Per-insert settings, e.g. `insert_deduplication_token`. */
  settings: Record<string, string>;
}

/**
 * chDB's raw insert (`ChdbConnection.chdb.rawInsert`): `INSERT INTO t (…) SETTINGS … FORMAT f` with
 * the payload handed to the engine's input-format parser as bytes. `@clickhouse/client` over chDB
 * instead splices the payload into the SQL text (`SET …; INSERT … FORMAT f\n<rows>`), which costs
 * chDB several times more per row.
 */
export type RawInsert = (params: RawInsertParams) => Promise<unknown>;

/**
 * Opens `@clickhouse/client` over chDB (in-process, default) or HTTP. The same SQL runs on both.
 * Over chDB it also returns `rawInsert`, the fast insert path (same semantics as `client.insert`).
 * chDB binds ONE data directory per process: a second store in the same process must use the same
 * `dataDir`, and no other process may open it at the same time.
 */
export function openClickHouseClient(options: ConnectionOptions): {
  client: ClickHouseClient;
  kind: 'chdb' | 'http';
  rawInsert?: RawInsert;
} {
  const clickhouse_settings: ClickHouseSettings = {
    max_threads: options.maxThreads,
    // UInt64 columns (seq, result_bytes, counts) come back as strings: JSON numbers would lose precision.
    output_format_json_quote_64bit_integers: 1,
  };
  if (options.url !== undefined && options.url !== '') {
    return {
      kind: 'http',
      client: createClient({
        url: options.url,
        clickhouse_settings,
        request_timeout: options.requestTimeoutMs,
      }),
    };
  }
  if (options.dataDir === undefined || options.dataDir === '') {
    throw new StoreError(
      'GH_ERR_STORE_CONFIG',
      'openAuditStore: give dataDir (chDB under <dataDir>/clickhouse) or url (CLICKHOUSE_URL)',
    );
  }
  const enginePath = path.resolve(options.dataDir, 'clickhouse');
  mkdirSync(enginePath, { recursive: true });
  // Loaded here, not at import: a store over HTTP (`CLICKHOUSE_URL`) needs no native chDB.
  const { createChdbConnection } = createRequire(import.meta.url)('chdb/connection') as ChdbConnectionModule;
  let connection: ReturnType<ChdbConnectionModule['createChdbConnection']>;
  try {
    connection = createChdbConnection({ path: enginePath });
  } catch (cause) {
    throw new StoreError(
      'GH_ERR_STORE_UNAVAILABLE',
      `openAuditStore: chDB could not open ${enginePath} (only one data dir per process, and no other process may hold it): ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, operation: `open ${enginePath}` },
    );
  }
  // chdb types its connection against @clickhouse/client-common, which @clickhouse/client 1.23
  // bundles its own copy of: the shapes are the same, the declarations are not.
  const clientConnection = connection as unknown as NonNullable<
    Parameters<typeof createClient>[0]
  >['connection'];
  const chdb = connection.chdb;
  return {
    kind: 'chdb',
    client: createClient({ connection: clientConnection, clickhouse_settings }),
    rawInsert: (params) =>
      chdb.rawInsert({
        table: params.table,
        columns: params.columns,
        values: params.values,
        format: params.format,
        settings: params.settings,
      }),
  };
}
