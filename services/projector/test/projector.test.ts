import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createMemoryLog } from '@gatehouse/eventlog';
import { StoreError, type AuditStore } from '@gatehouse/store';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createProjector, ProjectorError, projectorGroup, type Projector } from '../src/index.js';
import { createProjectorWithHooks } from '../src/projector.js';
import { RecordingStore } from './recording-store.js';
import { sampleEvents } from './sample-session.js';

const logger = pino({ level: 'silent' });
const running: Projector[] = [];
const tempDirs: string[] = [];

function track(projector: Projector): Projector {
  running.push(projector);
  return projector;
}

afterEach(async () => {
  for (const projector of running.splice(0)) await projector.stop();
  for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('projector over the in-memory log', () => {
  it('inserts every appended event once, in log order, in batches of at most maxBatchEvents', async () => {
    const log = createMemoryLog();
    const events = sampleEvents(250);
    await log.append(events);
    const store = new RecordingStore();
    const projector = track(
      createProjector({ log, store: store.asStore(), maxBatchEvents: 100, maxBatchWaitMs: 20, logger }),
    );
    await projector.start();
    await projector.drain(10_000);
    expect(store.rows.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(store.inserts.map((i) => i.token)).toEqual([
      'memory/0/0-99',
      'memory/0/100-199',
      'memory/0/200-249',
    ]);
    expect(projector.stats()).toMatchObject({
      state: 'running',
      batches: 3,
      events: 250,
      lag: 0,
      lastToken: 'memory/0/200-249',
    });
  });

  it('keeps projecting events appended while it runs', async () => {
    const log = createMemoryLog();
    const store = new RecordingStore();
    const projector = track(createProjector({ log, store: store.asStore(), maxBatchWaitMs: 20, logger }));
    await projector.start();
    const events = sampleEvents(30);
    for (let i = 0; i < 30; i += 10) await log.append(events.slice(i, i + 10));
    await projector.drain(10_000);
    expect(store.rows.map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it('drains up to where the log ended when asked, however fast events keep coming', async () => {
    const log = createMemoryLog();
    const before = sampleEvents(50);
    await log.append(before);
    const store = new RecordingStore();
    // Every batch is followed by a new event before its commit: the lag never reaches 0.
    let feeding = true;
    const projector = track(
      createProjectorWithHooks(
        { log, store: store.asStore(), maxBatchEvents: 10, maxBatchWaitMs: 5, logger },
        {
          afterInsert: async () => {
            if (feeding) await log.append(sampleEvents(1));
          },
        },
      ),
    );
    await projector.start();
    await expect(projector.drain(1_000)).rejects.toMatchObject({ code: 'GH_ERR_PROJECTOR_DRAIN_TIMEOUT' });
    const inLogWhenAsked = log.events().map((e) => e.id);
    await projector.drain(10_000, { upToNow: true });
    feeding = false;
    const ids = new Set(store.rows.map((e) => e.id));
    expect(inLogWhenAsked.length).toBeGreaterThan(before.length);
    expect(inLogWhenAsked.filter((id) => !ids.has(id))).toEqual([]);
  });

  it('resumes from the committed position after a restart, inserting nothing twice', async () => {
    const log = createMemoryLog();
    const events = sampleEvents(40);
    await log.append(events.slice(0, 25));
    const store = new RecordingStore();
    const first = createProjector({ log, store: store.asStore(), maxBatchWaitMs: 20, logger });
    await first.start();
    await first.drain(10_000);
    await first.stop();
    await log.append(events.slice(25));
    const second = track(
      createProjector({ log: log.reopen(), store: store.asStore(), maxBatchWaitMs: 20, logger }),
    );
    await second.start();
    await second.drain(10_000);
    expect(store.inserts.flatMap((i) => i.ids)).toEqual(events.map((e) => e.id));
  });

  it('retries a retryable store error with backoff and then commits', async () => {
    const log = createMemoryLog();
    await log.append(sampleEvents(10));
    const store = new RecordingStore();
    store.failNext(3, true);
    const projector = track(
      createProjector({ log, store: store.asStore(), maxBatchWaitMs: 20, retryBaseDelayMs: 1, logger }),
    );
    await projector.start();
    await projector.drain(10_000);
    expect(store.rows).toHaveLength(10);
    expect(projector.stats()).toMatchObject({ state: 'running', retries: 3, batches: 1 });
  });

  it('fails on a non-retryable store error without committing: the batch is delivered again on restart', async () => {
    const log = createMemoryLog();
    await log.append(sampleEvents(10));
    const store = new RecordingStore();
    store.failNext(1, false);
    const failures: ProjectorError[] = [];
    const projector = track(
      createProjector({
        log,
        store: store.asStore(),
        maxBatchWaitMs: 20,
        logger,
        onFailure: (e) => failures.push(e),
      }),
    );
    await projector.start();
    const drained = await projector.drain(10_000).catch((e: unknown) => e);
    expect(drained).toMatchObject({ code: 'GH_ERR_PROJECTOR_FAILED' });
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).toContain('insert batch memory/0/0-9 (partition 0 offsets 0-9)');
    expect(projector.stats()).toMatchObject({ state: 'failed', batches: 0 });
    await projector.stop();
    const again = track(
      createProjector({ log: log.reopen(), store: store.asStore(), maxBatchWaitMs: 20, logger }),
    );
    await again.start();
    await again.drain(10_000);
    expect(store.inserts.map((i) => i.token)).toEqual(['memory/0/0-9']);
  });

  it('puts insertTokenPrefix before every dedup token (a rebuild run of its own), and refuses an empty one', async () => {
    const log = createMemoryLog();
    await log.append(sampleEvents(150));
    const recording = new RecordingStore();
    const projector = track(
      createProjector({
        log,
        store: recording.asStore(),
        maxBatchEvents: 100,
        maxBatchWaitMs: 20,
        insertTokenPrefix: 'rebuild-x1',
        logger,
      }),
    );
    await projector.start();
    await projector.drain(10_000);
    expect(recording.inserts.map((i) => i.token)).toEqual([
      'rebuild-x1/memory/0/0-99',
      'rebuild-x1/memory/0/100-149',
    ]);
    expect(() => createProjector({ log, store: recording.asStore(), insertTokenPrefix: '', logger })).toThrow(
      /insertTokenPrefix: expected 1…64 characters/,
    );
  });

  it('encodes each batch ahead with prepareInsert when the store offers it, inserting the same batches in order', async () => {
    const log = createMemoryLog();
    const events = sampleEvents(250);
    await log.append(events);
    const recording = new RecordingStore();
    const base = recording.asStore();
    let prepared = 0;
    const store: AuditStore = {
      ...base,
      prepareInsert: (batch, options) => {
        prepared += 1;
        expect(options).toEqual({ validated: true });
        return (token) => base.insertEvents(batch, token);
      },
    };
    const projector = track(createProjector({ log, store, maxBatchEvents: 100, maxBatchWaitMs: 20, logger }));
    await projector.start();
    await projector.drain(10_000);
    expect(prepared).toBe(3);
    expect(recording.rows.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(recording.inserts.map((i) => i.token)).toEqual([
      'memory/0/0-99',
      'memory/0/100-199',
      'memory/0/200-249',
    ]);
  });

  it('fails on a batch the store cannot encode ahead just as insertEvents reports it, committing nothing', async () => {
    const log = createMemoryLog();
    await log.append(sampleEvents(10));
    const recording = new RecordingStore();
    recording.failNext(1, false);
    const store: AuditStore = {
      ...recording.asStore(),
      prepareInsert: () => {
        throw new StoreError('GH_ERR_STORE_INVALID_EVENT', 'invalid');
      },
    };
    const failures: ProjectorError[] = [];
    const projector = track(
      createProjector({ log, store, maxBatchWaitMs: 20, logger, onFailure: (e) => failures.push(e) }),
    );
    await projector.start();
    await expect(projector.drain(10_000)).rejects.toMatchObject({ code: 'GH_ERR_PROJECTOR_FAILED' });
    expect(failures[0]!.message).toContain('insert batch memory/0/0-9');
    expect(projector.stats()).toMatchObject({ state: 'failed', batches: 0 });
  });

  it('sets aside the one event the store refuses as invalid (named by index), inserts the rest and commits past it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-projector-'));
    tempDirs.push(dir);
    const deadLetterFile = path.join(dir, 'dead', 'dead-letter.jsonl');
    const log = createMemoryLog();
    const events = sampleEvents(10);
    await log.append(events);
    const recording = new RecordingStore();
    const base = recording.asStore();
    const refused = events[3]!.id;
    const store: AuditStore = {
      ...base,
      insertEvents: async (batch, token) => {
        const index = batch.findIndex((event) => event.id === refused);
        if (index >= 0)
          throw new StoreError(
            'GH_ERR_STORE_INVALID_EVENT',
            `insert into recording.events refused: event ${index} of ${batch.length} (${refused}) is invalid, nothing was written: ts out of range`,
          );
        return base.insertEvents(batch, token);
      },
    };
    const projector = track(createProjector({ log, store, deadLetterFile, maxBatchWaitMs: 20, logger }));
    await projector.start();
    await projector.drain(10_000);
    expect(recording.rows.map((e) => e.id)).toEqual(events.filter((e) => e.id !== refused).map((e) => e.id));
    expect(projector.stats()).toMatchObject({ events: 9, deadLettered: 1, lag: 0 });
    const lines = (await readFile(deadLetterFile, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      source: 'memory',
      partition: 0,
      offset: '3',
      reason: 'refused_by_store',
      event_id: refused,
    });
  });

  it('never sets aside anything on a retryable store error: it retries, then fails', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-projector-'));
    tempDirs.push(dir);
    const deadLetterFile = path.join(dir, 'dead-letter.jsonl');
    const log = createMemoryLog();
    await log.append(sampleEvents(4));
    const store = new RecordingStore();
    store.failNext(100, true);
    const projector = track(
      createProjector({
        log,
        store: store.asStore(),
        deadLetterFile,
        maxBatchWaitMs: 20,
        retryBaseDelayMs: 1,
        maxAttempts: 3,
        logger,
      }),
    );
    await projector.start();
    await expect(projector.drain(10_000)).rejects.toMatchObject({ code: 'GH_ERR_PROJECTOR_FAILED' });
    expect(projector.stats()).toMatchObject({ deadLettered: 0, retries: 2 });
    await expect(readFile(deadLetterFile)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('gives up on a retryable error after maxAttempts', async () => {
    const log = createMemoryLog();
    await log.append(sampleEvents(4));
    const store = new RecordingStore();
    store.failNext(100, true);
    const projector = track(
      createProjector({
        log,
        store: store.asStore(),
        maxBatchWaitMs: 20,
        retryBaseDelayMs: 1,
        maxAttempts: 4,
        logger,
      }),
    );
    await projector.start();
    await expect(projector.drain(10_000)).rejects.toMatchObject({
      code: 'GH_ERR_PROJECTOR_FAILED',
      message: expect.stringContaining('after 4 attempts'),
    });
    expect(projector.stats().retries).toBe(3);
  });

  it('with a journal, re-reads a batch cut short by a crash with the same boundaries and token', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-projector-'));
    tempDirs.push(dir);
    const journalFile = path.join(dir, 'pending.json');
    const log = createMemoryLog();
    const events = sampleEvents(30);
    await log.append(events.slice(0, 10));
    const store = new RecordingStore();
    const crashing = createProjectorWithHooks(
      { log, store: store.asStore(), maxBatchWaitMs: 20, journalFile, logger },
      {
        afterInsert: async () => {
          throw new Error('simulated crash between insert and commit');
        },
      },
    );
    await crashing.start();
    await expect(crashing.drain(10_000)).rejects.toMatchObject({ code: 'GH_ERR_PROJECTOR_FAILED' });
    await crashing.stop();
    await log.append(events.slice(10));
    const restarted = track(
      createProjector({ log: log.reopen(), store: store.asStore(), maxBatchWaitMs: 20, journalFile, logger }),
    );
    await restarted.start();
    await restarted.drain(10_000);
    expect(store.inserts.map((i) => i.token)).toEqual(['memory/0/0-9', 'memory/0/0-9', 'memory/0/10-29']);
    expect(store.rows.map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it('assembles events appended one by one into one insert of up to maxBatchEvents', async () => {
    const log = createMemoryLog();
    const store = new RecordingStore();
    const projector = track(
      createProjector({ log, store: store.asStore(), maxBatchEvents: 5, maxBatchWaitMs: 30_000, logger }),
    );
    await projector.start();
    const events = sampleEvents(10);
    for (const event of events) await log.append([event]);
    await projector.drain(10_000);
    expect(store.inserts.map((i) => i.token)).toEqual(['memory/0/0-4', 'memory/0/5-9']);
    expect(store.rows.map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it('re-reads an assembled batch after a crash with the same token, however the log splits it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-projector-'));
    tempDirs.push(dir);
    const journalFile = path.join(dir, 'pending.json');
    const log = createMemoryLog();
    const store = new RecordingStore();
    const crashing = createProjectorWithHooks(
      { log, store: store.asStore(), maxBatchEvents: 4, maxBatchWaitMs: 30_000, journalFile, logger },
      {
        afterInsert: async () => {
          throw new Error('simulated crash between insert and commit');
        },
      },
    );
    await crashing.start();
    const events = sampleEvents(12);
    for (const event of events.slice(0, 4)) await log.append([event]);
    await expect(crashing.drain(10_000)).rejects.toMatchObject({ code: 'GH_ERR_PROJECTOR_FAILED' });
    await crashing.stop();
    await log.append(events.slice(4));
    const restarted = track(
      createProjector({
        log: log.reopen(),
        store: store.asStore(),
        maxBatchEvents: 4,
        maxBatchWaitMs: 20,
        journalFile,
        logger,
      }),
    );
    await restarted.start();
    await restarted.drain(10_000);
    expect(store.inserts.map((i) => i.token)).toEqual([
      'memory/0/0-3',
      'memory/0/0-3',
      'memory/0/4-7',
      'memory/0/8-11',
    ]);
  });

  it('refuses bad options naming them, and drain before start', async () => {
    const log = createMemoryLog();
    const store = new RecordingStore().asStore();
    expect(() => createProjector({ log, store, maxBatchEvents: 0, logger })).toThrow(/maxBatchEvents/);
    expect(() => createProjector({ log, store, group: 'a b', logger })).toThrow(/group/);
    await expect(createProjector({ log, store, logger }).drain(10)).rejects.toMatchObject({
      code: 'GH_ERR_PROJECTOR_STATE',
    });
  });
});

describe('projectorGroup', () => {
  it('keeps `projector` for the default topic and names the topic otherwise (a group per topic)', () => {
    expect(projectorGroup(undefined)).toBe('projector');
    expect(projectorGroup('gatehouse.audit')).toBe('projector');
    expect(projectorGroup('gatehouse.staging')).toBe('projector.gatehouse.staging');
    expect(projectorGroup('gatehouse.staging', 'rebuild')).toBe('rebuild.gatehouse.staging');
    const long = projectorGroup(`t.${'x'.repeat(240)}`);
    expect(long).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
    expect(long).not.toBe(projectorGroup(`t.${'x'.repeat(239)}`));
  });
});
