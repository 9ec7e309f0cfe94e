import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ChainRegistry } from '@gatehouse/events';
import { openEmbeddedLog, type EmbeddedEventLog } from '@gatehouse/eventlog';
import { openAuditStore, type AuditStore } from '@gatehouse/store';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProjector, type Projector } from '../src/index.js';
import { sampleEvents } from './sample-session.js';

describe('embedded log → projector → chDB', () => {
  let dataDir: string;
  let log: EmbeddedEventLog;
  let store: AuditStore;
  let projector: Projector | undefined;
  const chains = new ChainRegistry();
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-projector-int-'));
    log = await openEmbeddedLog({ dir: path.join(dataDir, 'eventlog') });
    store = await openAuditStore({ dataDir });
  });

  afterAll(async () => {
    await projector?.stop();
    await store.close();
    await log.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('stores exactly the events appended, before and while it runs', async () => {
    const first = sampleEvents(1_200, { sessions: 7, chains });
    await log.append(first);
    projector = createProjector({ log, store, maxBatchEvents: 500, maxBatchWaitMs: 20, logger });
    await projector.start();
    await projector.drain(30_000);
    expect(await store.countEvents()).toBe(first.length);

    const second = sampleEvents(300, { sessions: 7, chains, startMs: Date.UTC(2026, 10, 25) });
    for (let i = 0; i < second.length; i += 50) await log.append(second.slice(i, i + 50));
    await projector.drain(30_000);
    expect(await store.countEvents()).toBe(first.length + second.length);
    expect(await log.committedOffset('projector')).toBe(String(first.length + second.length));
    expect(projector.stats()).toMatchObject({
      state: 'running',
      events: first.length + second.length,
      lag: 0,
    });
    const replayed = await store.sessionEvents('sess-3');
    expect(replayed).toEqual([...first, ...second].filter((e) => e.session_id === 'sess-3'));
  });

  it('rebuilds nothing twice when a second group replays the whole log into the same store', async () => {
    const rebuild = createProjector({
      log,
      store,
      group: 'rebuild',
      maxBatchEvents: 700,
      maxBatchWaitMs: 20,
      logger,
    });
    await rebuild.start();
    await rebuild.drain(30_000);
    await rebuild.stop();
    expect(await store.countEvents()).toBe(1_500);
    const sessions = await store.listSessions({ limit: 100 });
    expect(sessions.items.reduce((n, s) => n + s.events, 0)).toBe(1_500);
  });
});
