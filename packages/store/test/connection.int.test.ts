import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openClickHouseClient } from '../src/connection.js';

/** Files of the chdb package this process has loaded. */
function chdbModulesLoaded(): string[] {
  return Object.keys(createRequire(import.meta.url).cache).filter((file) =>
    file.includes(`${path.sep}node_modules${path.sep}chdb${path.sep}`),
  );
}

describe('openClickHouseClient', () => {
  it('loads chDB only for a store in a data dir, not for one over HTTP (CLICKHOUSE_URL)', async () => {
    const http = openClickHouseClient({ url: 'http://127.0.0.1:1', maxThreads: 1, requestTimeoutMs: 1_000 });
    expect(http.kind).toBe('http');
    await http.client.close();
    expect(chdbModulesLoaded()).toEqual([]);

    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-connection-'));
    try {
      const embedded = openClickHouseClient({ dataDir, maxThreads: 1, requestTimeoutMs: 1_000 });
      expect(embedded.kind).toBe('chdb');
      await embedded.client.close();
      expect(chdbModulesLoaded()).not.toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
