export * from './audit-store.js';
export * from './errors.js';
export { openAuditStore, ClickHouseAuditStore, type AuditStoreOptions } from './clickhouse-store.js';
export { eventToRow, rowToEvent, type EventRow } from './event-row.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export type { MigrationReport } from './migrate.js';
