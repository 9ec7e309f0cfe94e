import { appendFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ChainRegistry, type GatehouseEvent } from '@gatehouse/events';
import { openEmbeddedLog, openKafkaLog, type KafkaEventLog } from '@gatehouse/eventlog';
import { openAuditStore, type AuditStore } from '@gatehouse/store';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FRAME_HEADER_BYTES, writeFrame } from '../../../packages/eventlog/src/embedded/record-frame.js';
import { kafkaBrokers } from '../../../test/support/kafka-brokers.js';
import { createProjector, ProjectorError, type ProjectorOptions } from '../src/index.js';
import { createProjectorWithHooks } from '../src/projector.js';
import { sampleEvents } from './sample-session.js';

const logger = pino({ level: 'silent' });
const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openStore(dataDir: string): Promise<AuditStore> {
  const store = await openAuditStore({ dataDir });
  cleanup.push(() => store.close());
  return store;
}

/** The dead-letter file's entries. */
async function deadLetters(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Runs a projector over `options` until the end of the log, then stops it; returns its stats. */
async function project(options: ProjectorOptions) {
  const projector = createProjector({ maxBatchEvents: 100, maxBatchWaitMs: 20, logger, ...options });
  await projector.start();
  try {
    await projector.drain(60_000);
  } finally {
    await projector.stop();
  }
  return projector.stats();
}

/**
 * Appends to the embedded log's segment a record written past today's append check (flagged
 * schema-checked, as an older version whose schema did not know the calendar wrote it), with `ts`;
 * the log must be closed. Returns the event written.
 */
async function appendPoisonFrame(logDir: string, ts: string): Promise<GatehouseEvent> {
  const poison = { ...sampleEvents(1, { sessions: 1 })[0]!, ts };
  const payload = Buffer.from(JSON.stringify(poison));
  const frame = Buffer.alloc(FRAME_HEADER_BYTES + payload.length);
  writeFrame(frame, 0, payload, true);
  const [segment] = (await readdir(logDir)).filter((name) => name.endsWith('.seg'));
  await appendFile(path.join(logDir, segment!), frame);
  return poison;
}

describe('a record the projector can never project', () => {
  it('embedded: an event the store refuses is set aside with its offset, the rest of its batch projected, and not set aside again after a restart', async () => {
    const dataDir = await tempDir('gatehouse-dead-letter-embedded-');
    const logDir = path.join(dataDir, 'log');
    const chains = new ChainRegistry();
    const before = sampleEvents(150, { sessions: 5, chains });
    let log = await openEmbeddedLog({ dir: logDir });
    await log.append(before);
    await log.close();

    // A record written past today's append check (flagged schema-checked, as an older version
    // whose schema did not know the calendar wrote it): a ts on a day that does not exist.
    const poison = await appendPoisonFrame(logDir, '2026-02-30T10:00:00.000Z');

    log = await openEmbeddedLog({ dir: logDir });
    cleanup.push(() => log.close());
    const after = sampleEvents(149, { sessions: 5, chains, startMs: Date.UTC(2026, 10, 25) });
    await log.append(after);
    const store = await openStore(dataDir);
    const journalFile = path.join(dataDir, 'projector', 'projector.pending.json');
    const deadLetterFile = path.join(dataDir, 'projector', 'dead-letter.jsonl');

    const first = await project({ log, store, journalFile, maxBatchEvents: 120 });
    expect(first).toMatchObject({ state: 'stopped', events: 299, deadLettered: 1 });
    expect(await store.countEvents()).toBe(299);
    expect(await log.committedOffset('projector')).toBe('300');
    const [letter, ...others] = await deadLetters(deadLetterFile);
    expect(others).toEqual([]);
    expect(letter).toMatchObject({
      source: 'embedded',
      partition: 0,
      offset: '150',
      reason: 'refused_by_store',
      event_id: poison.id,
    });
    expect(letter!.error).toMatch(/ts "2026-02-30T10:00:00.000Z"/);
    expect(typeof letter!.at).toBe('string');
    expect(JSON.parse(Buffer.from(letter!.value_base64 as string, 'base64').toString('utf8'))).toEqual(
      poison,
    );

    const second = await project({ log, store, journalFile });
    expect(second).toMatchObject({ state: 'stopped', deadLettered: 0 });
    expect(await deadLetters(deadLetterFile)).toHaveLength(1);
    expect(await store.countEvents()).toBe(299);
  });

  it('embedded: killed after setting a record aside and before the commit, a restart neither loses nor repeats it', async () => {
    const dataDir = await tempDir('gatehouse-dead-letter-crash-');
    const logDir = path.join(dataDir, 'log');
    let log = await openEmbeddedLog({ dir: logDir });
    await log.append(sampleEvents(40, { sessions: 4 }));
    await log.close();
    await appendPoisonFrame(logDir, '2026-02-30T10:00:00.000Z');
    log = await openEmbeddedLog({ dir: logDir });
    cleanup.push(() => log.close());
    await log.append(sampleEvents(39, { sessions: 3, startMs: Date.UTC(2026, 10, 25) }));
    const store = await openStore(dataDir);
    const journalFile = path.join(dataDir, 'projector', 'projector.pending.json');
    const deadLetterFile = path.join(dataDir, 'projector', 'dead-letter.jsonl');

    // The batch holding the poison is inserted (the poison set aside first), then the process "dies"
    // before its commit: the hook fails the projector right there.
    const crashed = createProjectorWithHooks(
      { log, store, journalFile, maxBatchEvents: 1_000, maxBatchWaitMs: 20, logger },
      {
        afterInsert: () =>
          Promise.reject(new ProjectorError('GH_ERR_PROJECTOR_FAILED', 'killed before the commit')),
      },
    );
    await crashed.start();
    await expect(crashed.drain(30_000)).rejects.toMatchObject({ code: 'GH_ERR_PROJECTOR_FAILED' });
    await crashed.stop();
    expect(await log.committedOffset('projector')).toBeUndefined();
    expect(await deadLetters(deadLetterFile)).toHaveLength(1);

    const restarted = await project({ log, store, journalFile });
    expect(restarted).toMatchObject({ state: 'stopped', events: 79, deadLettered: 0 });
    expect(await deadLetters(deadLetterFile)).toHaveLength(1);
    expect(await store.countEvents()).toBe(79);
    expect(await log.committedOffset('projector')).toBe('80');
  });

  it('embedded, without a dead-letter file: stops naming the partition and offset of the refused event', async () => {
    const dataDir = await tempDir('gatehouse-dead-letter-none-');
    const logDir = path.join(dataDir, 'log');
    let log = await openEmbeddedLog({ dir: logDir });
    await log.append(sampleEvents(20, { sessions: 2 }));
    await log.close();
    await appendPoisonFrame(logDir, '1800-01-01T00:00:00.000Z');
    log = await openEmbeddedLog({ dir: logDir });
    cleanup.push(() => log.close());
    const store = await openStore(dataDir);

    const projector = createProjector({ log, store, logger, maxBatchWaitMs: 20 });
    await projector.start();
    await expect(projector.drain(30_000)).rejects.toThrow(
      /embedded partition 0 offset 20 \(event [0-9a-f-]+\) is refused by the store and there is no deadLetterFile/,
    );
    expect(projector.stats()).toMatchObject({ state: 'failed', deadLettered: 0 });
    await projector.stop();
  });

  it('kafka: a record that is not an event is set aside with its partition and offset, every valid event projected, and not set aside again after a restart', async () => {
    const brokers = kafkaBrokers();
    const dataDir = await tempDir('gatehouse-dead-letter-kafka-');
    const topic = `gatehouse.test.dl.${Math.random().toString(36).slice(2, 10)}`;
    const log: KafkaEventLog = await openKafkaLog({
      brokers,
      topic,
      partitions: 2,
      clientId: 'gatehouse-test',
      sessionTimeoutMs: 10_000,
      fetchMaxWaitMs: 100,
      logger: { warn: () => undefined, error: () => undefined },
    });
    const admin = new Kafka({
      brokers,
      clientId: 'gatehouse-test-admin',
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    cleanup.push(async () => {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    });
    cleanup.push(() => log.close());
    const chains = new ChainRegistry();
    const before = sampleEvents(200, { sessions: 6, chains });
    await log.append(before);

    // Another producer on the topic writes what the adapter's append check would refuse.
    const producer = new Kafka({
      brokers,
      clientId: 'gatehouse-test-raw',
      logLevel: logLevel.NOTHING,
    }).producer();
    await producer.connect();
    const bad: GatehouseEvent = before[0]!;
    const value = Buffer.from(JSON.stringify({ ...bad, scopes: 'mcp' }));
    const [sent] = await producer.send({
      topic,
      acks: -1,
      messages: [{ key: bad.session_id, value, partition: 1 }],
    });
    await producer.disconnect();
    const after = sampleEvents(194, { sessions: 6, chains, startMs: Date.UTC(2026, 10, 25) });
    await log.append(after);

    const store = await openStore(dataDir);
    const deadLetterFile = path.join(dataDir, 'projector', 'dead-letter.jsonl');
    const group = `projector-dl-${topic.slice(-8)}`;
    const first = await project({ log, store, group, deadLetterFile });
    expect(first).toMatchObject({ state: 'stopped', events: 394, deadLettered: 1, lag: 0 });
    expect(await store.countEvents()).toBe(394);
    const [letter, ...others] = await deadLetters(deadLetterFile);
    expect(others).toEqual([]);
    expect(letter).toMatchObject({
      source: topic,
      partition: 1,
      offset: sent!.baseOffset,
      reason: 'invalid_record',
      key: bad.session_id,
      event_id: null,
      value_base64: value.toString('base64'),
    });
    expect(letter!.error).toMatch(/scopes/);

    const second = await project({ log, store, group, deadLetterFile });
    expect(second).toMatchObject({ state: 'stopped', deadLettered: 0, lag: 0 });
    expect(await deadLetters(deadLetterFile)).toHaveLength(1);
    expect(await store.countEvents()).toBe(394);
    // The poison record is in the topic and was committed past: 395 records, 394 of them events.
    const ends = await admin.fetchTopicOffsets(topic);
    expect(ends.reduce((sum, end) => sum + Number(end.high), 0)).toBe(395);
  });
});
