import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedLog, readEmbeddedLog } from '@gatehouse/eventlog';
import { projectorGroup } from '@gatehouse/projector';
import { Kafka, logLevel } from 'kafkajs';
import { REBUILD_GROUP } from '../packages/cli/src/commands/rebuild.js';
import { playDemo } from '../packages/cli/src/commands/demo.js';
import { startBroker, type StartedBroker } from './support/kafka.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

const run = promisify(execFile);
const GATEHOUSE = path.resolve(import.meta.dirname, '../packages/cli/bin/gatehouse.js');
const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

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
  const rebuildEnv = () => ({
    ...process.env,
    GATEHOUSE_DATA_DIR: t.dataDir,
    GATEHOUSE_CONFIG: t.settings.configPath,
    LOG_LEVEL: 'warn',
  });
  const eventsInLog = async () => {
    let count = 0;
    for await (const batch of readEmbeddedLog({ dir: path.join(t.dataDir, 'log') }))
      count += batch.events.length;
    return count;
  };

  it('re-projects every event of the log into an empty ClickHouse, and a second run adds nothing', async () => {
    const inLog = await eventsInLog();
    expect(inLog).toBeGreaterThan(10);
    await rm(path.join(t.dataDir, 'clickhouse'), { recursive: true, force: true });

    const env = rebuildEnv();
    const first = JSON.parse(
      (await run(process.execPath, [GATEHOUSE, 'rebuild', '--json'], { env })).stdout,
    ) as { events: number; rows: number };
    expect(first).toMatchObject({ events: inLog, rows: inLog });

    const again = JSON.parse(
      (await run(process.execPath, [GATEHOUSE, 'rebuild', '--fresh', '--json'], { env })).stdout,
    ) as { events: number; rows: number };
    expect(again).toMatchObject({ events: inLog, rows: inLog });
  });

  it('after a finished rebuild, a plain rebuild into a lost ClickHouse brings every event back', async () => {
    const inLog = await eventsInLog();
    const env = rebuildEnv();
    const rebuildJson = async () =>
      JSON.parse((await run(process.execPath, [GATEHOUSE, 'rebuild', '--json'], { env })).stdout) as {
        events: number;
        rows: number;
      };
    expect(await rebuildJson()).toMatchObject({ events: inLog, rows: inLog });
    // A finished rebuild leaves no position behind for the next one to resume from.
    expect(await exists(path.join(t.dataDir, 'log', 'checkpoints', 'rebuild.json'))).toBe(false);

    await rm(path.join(t.dataDir, 'clickhouse'), { recursive: true, force: true });
    expect(await rebuildJson()).toMatchObject({ events: inLog, rows: inLog });
  });

  it('puts back rows lost from a ClickHouse that was not wiped (a fresh run is not dropped as a repeat)', async () => {
    const inLog = await eventsInLog();
    const env = rebuildEnv();
    const rebuildJson = async (...flags: string[]) =>
      JSON.parse(
        (await run(process.execPath, [GATEHOUSE, 'rebuild', ...flags, '--json'], { env })).stdout,
      ) as { events: number; rows: number };
    expect(await rebuildJson('--fresh')).toMatchObject({ events: inLog, rows: inLog });
    // Rows lost from the live tables (a lost part, an ALTER DELETE), the tables themselves intact.
    await run(process.execPath, [
      '--import',
      'tsx',
      path.resolve(import.meta.dirname, 'support/clickhouse-sql.ts'),
      t.dataDir,
      "ALTER TABLE gatehouse.events DELETE WHERE type LIKE 'call.%'",
      "ALTER TABLE gatehouse.events_by_session DELETE WHERE type LIKE 'call.%'",
    ]);
    expect(await rebuildJson('--fresh')).toMatchObject({ events: inLog, rows: inLog });
  });

  it('resumes an interrupted rebuild where it stopped', async () => {
    const inLog = await eventsInLog();
    // An interrupted rebuild: the group committed its first 5 events, then the process died.
    const log = await openEmbeddedLog({ dir: path.join(t.dataDir, 'log') });
    try {
      const consumer = await log.openConsumer('rebuild');
      await consumer.commit(await consumer.next({ maxEvents: 5, maxWaitMs: 0 }));
      await consumer.close();
    } finally {
      await log.close();
    }
    const resumed = JSON.parse(
      (await run(process.execPath, [GATEHOUSE, 'rebuild', '--json'], { env: rebuildEnv() })).stdout,
    ) as { events: number; rows: number };
    expect(resumed).toMatchObject({ events: inLog - 5, rows: inLog });
    expect(await exists(path.join(t.dataDir, 'log', 'checkpoints', 'rebuild.json'))).toBe(false);
  });

  it.each([
    ['does not exist', async (dir: string) => dir, /the directory does not exist/],
    [
      'holds no log segments',
      async (dir: string) => {
        await mkdir(path.join(dir, 'log'), { recursive: true });
        return dir;
      },
      /it holds no log segments/,
    ],
  ])(
    'refuses a data dir whose log %s, naming GATEHOUSE_DATA_DIR and the path, and creates nothing',
    async (_what, prepare, problem) => {
      const parent = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-typo-'));
      try {
        const dataDir = await prepare(path.join(parent, 'typo'));
        const before = await readdir(parent, { recursive: true });
        const failure = await run(process.execPath, [GATEHOUSE, 'rebuild'], {
          env: { ...process.env, GATEHOUSE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
        }).then(
          () => undefined,
          (error: { code: number; stderr: string }) => error,
        );
        expect(failure?.code).toBe(2);
        expect(failure?.stderr).toContain(`GATEHOUSE_DATA_DIR: no event log at ${path.join(dataDir, 'log')}`);
        expect(failure?.stderr).toMatch(problem);
        expect(await readdir(parent, { recursive: true })).toEqual(before);
      } finally {
        await rm(parent, { recursive: true, force: true });
      }
    },
  );

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

/** The same in Kafka mode: the rebuild group is deleted once a rebuild finished. */
describe('gatehouse rebuild from Kafka', () => {
  let broker: StartedBroker | undefined;
  let t: TestStack | undefined;
  beforeAll(async () => {
    broker = await startBroker();
    t = await startTestStack({ env: { KAFKA_BROKERS: broker.brokers } });
    await playDemo(t.config, {
      mcpUrl: t.stack.urls.mcp,
      queryUrl: t.stack.urls.query,
      say: () => undefined,
      settle: () => t!.stack.projector.drain(30_000),
    });
    await t.stack.close();
  }, 240_000);
  afterAll(async () => {
    await t?.stop();
    await broker?.destroy();
  });

  it('after a finished rebuild, a plain rebuild into a lost ClickHouse brings every event back', async () => {
    const env = {
      ...process.env,
      GATEHOUSE_DATA_DIR: t!.dataDir,
      GATEHOUSE_CONFIG: t!.settings.configPath,
      KAFKA_BROKERS: broker!.brokers,
      LOG_LEVEL: 'warn',
    };
    const rebuildIntoEmptyClickHouse = async () => {
      await rm(path.join(t!.dataDir, 'clickhouse'), { recursive: true, force: true });
      return JSON.parse((await run(process.execPath, [GATEHOUSE, 'rebuild', '--json'], { env })).stdout) as {
        events: number;
        rows: number;
      };
    };
    const first = await rebuildIntoEmptyClickHouse();
    expect(first.events).toBeGreaterThan(10);
    expect(first.rows).toBe(first.events);
    expect(await rebuildIntoEmptyClickHouse()).toEqual({ ...first, ms: expect.any(Number) });

    // A rebuild interrupted right at the end of the topic left its group's offsets there: a
    // --fresh run starts without them, instead of reading "no lag" before it re-read anything.
    const admin = new Kafka({ brokers: broker!.brokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const topic = t!.settings.kafkaTopic;
      const ends = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({
        groupId: projectorGroup(topic, REBUILD_GROUP),
        topic,
        partitions: ends.map((end) => ({ partition: end.partition, offset: end.high })),
      });
    } finally {
      await admin.disconnect();
    }
    await rm(path.join(t!.dataDir, 'clickhouse'), { recursive: true, force: true });
    const fresh = JSON.parse(
      (await run(process.execPath, [GATEHOUSE, 'rebuild', '--fresh', '--json'], { env })).stdout,
    ) as { events: number; rows: number };
    expect(fresh).toMatchObject({ events: first.events, rows: first.rows });
  }, 120_000);
});
