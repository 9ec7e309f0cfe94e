import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEmbeddedLog } from '@gatehouse/eventlog';
import { playDemo } from '../packages/cli/src/commands/demo.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

const run = promisify(execFile);
const GATEHOUSE = path.resolve(import.meta.dirname, '../packages/cli/bin/gatehouse.js');

/** The projection is disposable: delete ClickHouse's data and `gatehouse rebuild` brings it back from the log. */
describe('gatehouse rebuild', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
    await playDemo(t.config, {
      mcpUrl: t.stack.urls.mcp,
      queryUrl: t.stack.urls.query,
      say: () => undefined,
      settle: () => t.stack.projector.drain(30_000),
    });
    await t.stack.close();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('re-projects every event of the log into an empty ClickHouse, and a second run adds nothing', async () => {
    let inLog = 0;
    for await (const batch of readEmbeddedLog({ dir: path.join(t.dataDir, 'log') }))
      inLog += batch.events.length;
    expect(inLog).toBeGreaterThan(10);
    await rm(path.join(t.dataDir, 'clickhouse'), { recursive: true, force: true });

    const env = {
      ...process.env,
      GATEHOUSE_DATA_DIR: t.dataDir,
      GATEHOUSE_CONFIG: t.settings.configPath,
      LOG_LEVEL: 'warn',
    };
    const first = JSON.parse(
      (await run(process.execPath, [GATEHOUSE, 'rebuild', '--json'], { env })).stdout,
    ) as { events: number; rows: number };
    expect(first).toMatchObject({ events: inLog, rows: inLog });

    const again = JSON.parse(
      (await run(process.execPath, [GATEHOUSE, 'rebuild', '--fresh', '--json'], { env })).stdout,
    ) as { events: number; rows: number };
    expect(again).toMatchObject({ events: inLog, rows: inLog });
  });

  it('refuses while the stack owns the log, naming the lock', async () => {
    const running = await startTestStack();
    try {
      const env = { ...process.env, GATEHOUSE_DATA_DIR: running.dataDir, LOG_LEVEL: 'warn' };
      const failure = await run(process.execPath, [GATEHOUSE, 'rebuild'], { env }).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failure?.code).toBe(2);
      expect(failure?.stderr).toMatch(/lock/i);
    } finally {
      await running.stop();
    }
  });
});
