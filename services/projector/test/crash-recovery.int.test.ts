import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { computeEventHash } from '@gatehouse/events';
import { openEmbeddedLog } from '@gatehouse/eventlog';
import { openAuditStore, type AuditStore } from '@gatehouse/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnFixture, type Child } from './child-process.js';
import { sampleEvents } from './sample-session.js';

describe('projector crash between a store insert and its checkpoint commit (SIGKILL)', () => {
  let dataDir: string;
  let store: AuditStore | undefined;
  let raw: ClickHouseClient | undefined;
  const children: Child[] = [];
  const events = sampleEvents(600, { sessions: 12 });
  const before = events.slice(0, 450);
  const after = events.slice(450);

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-crash-'));
    const log = await openEmbeddedLog({ dir: path.join(dataDir, 'eventlog') });
    await log.append(before);
    await log.close();
  });

  afterAll(async () => {
    for (const child of children)
      if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
    await store?.close();
    await raw?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('loses nothing and stores nothing twice after the projector is killed and restarted', async () => {
    // 1. The projector inserts batch 3 (offsets 200-299) into ClickHouse and is killed before committing it.
    const crashing = spawnFixture('projector-child.ts', {
      DATA_DIR: dataDir,
      MODE: 'pause',
      PAUSE_AT_BATCH: '3',
      MAX_BATCH: '100',
    });
    children.push(crashing);
    expect(await crashing.line('inserted ')).toBe('inserted embedded/0/200-299');
    crashing.process.kill('SIGKILL');
    expect(await crashing.exited).toBe('SIGKILL');

    // 2. Its checkpoint still says 200; more events arrive while it is down.
    const log = await openEmbeddedLog({ dir: path.join(dataDir, 'eventlog') });
    expect(await log.committedOffset('projector')).toBe('200');
    await log.append(after);
    await log.close();

    // 3. A new projector process resumes and drains the log. Its batches may be larger now (250), yet
    //    the journal makes it re-read exactly 200-299 first, so ClickHouse drops that repeat by token.
    const restarted = spawnFixture('projector-child.ts', {
      DATA_DIR: dataDir,
      MODE: 'drain',
      MAX_BATCH: '250',
    });
    children.push(restarted);
    const drained = await restarted.line('drained ');
    expect(await restarted.exited).toBe(0);
    const stats = JSON.parse(drained.slice('drained '.length)) as { events: number; lastToken: string };
    expect(stats.events).toBe(events.length - 200); // redelivered 200-299 once, then the rest
    const reopened = await openEmbeddedLog({ dir: path.join(dataDir, 'eventlog') });
    expect(await reopened.committedOffset('projector')).toBe(String(events.length));
    await reopened.close();

    // 4. ClickHouse holds each appended event exactly once, physically and to every query.
    store = await openAuditStore({ dataDir });
    raw = createClient({
      connection: createChdbConnection({ path: path.join(dataDir, 'clickhouse') }) as unknown as NonNullable<
        Parameters<typeof createClient>[0]
      >['connection'],
    });
    const [counts] = await (
      await raw.query({
        query: 'SELECT count() AS rows, uniqExact(id) AS ids FROM gatehouse.events',
        format: 'JSONEachRow',
      })
    ).json<{ rows: string; ids: string }>();
    expect(Number(counts!.rows)).toBe(events.length);
    expect(Number(counts!.ids)).toBe(events.length);
    const [bySession] = await (
      await raw.query({
        query: 'SELECT count() AS rows FROM gatehouse.events_by_session',
        format: 'JSONEachRow',
      })
    ).json<{ rows: string }>();
    expect(Number(bySession!.rows)).toBe(events.length);
    expect(await store.countEvents()).toBe(events.length);

    for (let s = 0; s < 12; s++) {
      const expected = events.filter((e) => e.session_id === `sess-${s}`);
      const replayed = await store.sessionEvents(`sess-${s}`);
      expect(replayed).toEqual(expected);
      for (const event of replayed) expect(computeEventHash(event)).toBe(event.hash);
    }
    const sessions = await store.listSessions({ limit: 100 });
    expect(sessions.items).toHaveLength(12);
    expect(sessions.items.reduce((n, s) => n + s.events, 0)).toBe(events.length);
    const from = new Date(Date.parse(events[0]!.ts));
    const to = new Date(Date.parse(events.at(-1)!.ts) + 1);
    for (const agent of ['agent-0', 'agent-1', 'agent-2']) {
      const activity = await store.activity({ agent, from, to, limit: 10_000 });
      expect(activity.items.map((e) => e.id)).toEqual(
        events.filter((e) => e.agent === agent).map((e) => e.id),
      );
      const attempted = activity.tools.reduce((n, t) => n + t.attempted, 0);
      expect(attempted).toBe(events.filter((e) => e.agent === agent && e.type === 'call.attempted').length);
    }
    const heads = await store.latestHeads();
    expect(heads).toHaveLength(12);
  });
});
