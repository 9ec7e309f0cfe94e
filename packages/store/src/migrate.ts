import type { ClickHouseClient } from '@clickhouse/client';
import { StoreError, translateClickHouseError } from './errors.js';
import { EVENT_TABLES, MIGRATIONS, type Migration } from './migrations.js';

/** What `migrate` did, for start-up logs. */
export interface MigrationReport {
  /** Versions applied by this call, in order. */
  applied: number[];
  /** The schema version after the call. */
  version: number;
}

/**
 * Brings `db` up to the latest schema: creates the database and `schema_migrations`, applies each
 * missing migration in version order and records it. Safe to run again and again (and after a crash
 * between a statement and its record: every statement is `IF NOT EXISTS`). Then sets the event
 * tables' TTL to `ttlDays` (or removes it when undefined).
 */
export async function migrate(
  client: ClickHouseClient,
  db: string,
  options: { ttlDays?: number; migrations?: readonly Migration[] } = {},
): Promise<MigrationReport> {
  const migrations = [...(options.migrations ?? MIGRATIONS)].sort((a, b) => a.version - b.version);
  await step(`create database ${db}`, () => client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` }));
  await step(`create table ${db}.schema_migrations`, () =>
    client.command({
      query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
ENGINE = ReplacingMergeTree ORDER BY version`,
    }),
  );
  const done = await step(`read ${db}.schema_migrations`, async () => {
    const rows = await (
      await client.query({
        query: `SELECT version FROM ${db}.schema_migrations FINAL`,
        format: 'JSONEachRow',
      })
    ).json<{ version: number }>();
    return new Set(rows.map((row) => Number(row.version)));
  });
  const applied: number[] = [];
  for (const migration of migrations) {
    if (done.has(migration.version)) continue;
    const label = `migration ${String(migration.version).padStart(4, '0')}-${migration.name}`;
    try {
      if (
        migration.onlyForMergeTree === undefined ||
        (await isMergeTree(client, db, migration.onlyForMergeTree))
      )
        await client.command({ query: migration.sql.replaceAll('{db}', db) });
      await client.insert({
        table: `${db}.schema_migrations`,
        values: [{ version: migration.version, name: migration.name }],
        format: 'JSONEachRow',
        clickhouse_settings: { insert_deduplication_token: `migration-${migration.version}` },
      });
    } catch (cause) {
      const translated = translateClickHouseError(label, cause);
      throw new StoreError('GH_ERR_STORE_MIGRATION', `database ${db}: ${translated.message}`, {
        cause,
        retryable: translated.retryable,
        operation: label,
      });
    }
    applied.push(migration.version);
  }
  await applyTtl(client, db, options.ttlDays);
  return { applied, version: migrations.at(-1)?.version ?? 0 };
}

/** True when `db.table` exists and its engine is of the MergeTree family (Replicated included). */
async function isMergeTree(client: ClickHouseClient, db: string, table: string): Promise<boolean> {
  const rows = await (
    await client.query({
      query: 'SELECT engine FROM system.tables WHERE database = {db:String} AND name = {table:String}',
      query_params: { db, table },
      format: 'JSONEachRow',
    })
  ).json<{ engine: string }>();
  return rows[0]?.engine.endsWith('MergeTree') ?? false;
}

/** Sets (or removes) the TTL of the event tables so that it matches the configuration. */
async function applyTtl(client: ClickHouseClient, db: string, ttlDays: number | undefined): Promise<void> {
  for (const table of EVENT_TABLES) {
    const rows = await step(`read TTL of ${db}.${table}`, async () =>
      (
        await client.query({
          query:
            'SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {table:String}',
          query_params: { db, table },
          format: 'JSONEachRow',
        })
      ).json<{ engine_full: string }>(),
    );
    const engine = rows[0]?.engine_full ?? '';
    const current = /\bTTL toDateTime\(ts\) \+ toIntervalDay\((\d+)\)/.exec(engine)?.[1];
    const hasTtl = /\bTTL\b/.test(engine);
    if (ttlDays === undefined) {
      if (hasTtl)
        await step(`remove TTL of ${db}.${table}`, () =>
          client.command({ query: `ALTER TABLE ${db}.${table} REMOVE TTL` }),
        );
    } else if (current === undefined || Number(current) !== ttlDays) {
      await step(`set TTL of ${db}.${table} to ${ttlDays} days`, () =>
        client.command({
          query: `ALTER TABLE ${db}.${table} MODIFY TTL toDateTime(ts) + INTERVAL ${ttlDays} DAY`,
        }),
      );
    }
  }
}

async function step<T>(label: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (cause) {
    const translated = translateClickHouseError(label, cause);
    throw new StoreError('GH_ERR_STORE_MIGRATION', translated.message, {
      cause,
      retryable: translated.retryable,
      operation: label,
    });
  }
}
