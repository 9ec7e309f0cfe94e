/**
 * Runs SQL statements against a data dir's chDB in a process of its own, then exits: chDB keeps its
 * directory locked for as long as the process that opened it lives, so a test that tampers with
 * ClickHouse before a CLI command opens the same directory does it here.
 *
 * Usage: `node --import tsx test/support/clickhouse-sql.ts <data dir> <statement>…`
 */
import { rawClickHouse } from './test-stack.js';

const [dataDir, ...statements] = process.argv.slice(2);
if (dataDir === undefined || statements.length === 0) {
  process.stderr.write('usage: clickhouse-sql.ts <data dir> <statement>…\n');
  process.exit(2);
}
const client = rawClickHouse(dataDir);
for (const query of statements) await client.command({ query, clickhouse_settings: { mutations_sync: '1' } });
await client.close();
process.exit(0);
