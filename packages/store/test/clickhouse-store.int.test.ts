import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import {
  ChainRegistry,
  computeEventHash,
  createEvent,
  sha256Hex,
  type GatehouseEvent,
} from '@gatehouse/events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClickHouseAuditStore,
  MIGRATIONS,
  openAuditStore,
  StoreError,
  type AuditStore,
} from '../src/index.js';
import { migrate } from '../src/migrate.js';
import { SampleEvents } from './sample-events.js';

// The AuditStore contract, run against chDB (default) and, when CLICKHOUSE_TEST_URL is set, against
// that ClickHouse server over HTTP. chDB binds one data dir per process: every store in this file
// shares `dataDir`, and tests keep apart by using their own database (prefixed on a server, where
// databases outlive the run, and dropped afterwards).
const serverUrl = process.env.CLICKHOUSE_TEST_URL || undefined;
const prefix = serverUrl === undefined ? '' : `gh_test_${process.pid}_${Date.now()}_`;
let dataDir: string;
let raw: ClickHouseClient;
const opened: AuditStore[] = [];

function target(name: string): { dataDir?: string; url?: string; database: string } {
  return serverUrl === undefined
    ? { dataDir, database: name }
    : { url: serverUrl, database: `${prefix}${name}` };
}

async function open(
  database: string,
  extra: { ttlDays?: number; queryTimeoutMs?: number } = {},
): Promise<AuditStore> {
  const store = await openAuditStore({ ...target(database), ...extra });
  opened.push(store);
  return store;
}

/** SQL naming a test database (prefixed on a server). */
function db(name: string): string {
  return `${prefix}${name}`;
}

async function rawQuery<T>(query: string): Promise<T[]> {
  return (await raw.query({ query, format: 'JSONEachRow' })).json<T>();
}

const T0 = Date.UTC(2026, 10, 24, 9, 0, 0); // Tuesday 2026-11-24 09:00 UTC
const at = (offsetMs: number) => new Date(T0 + offsetMs);

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-store-'));
  raw =
    serverUrl === undefined
      ? createClient({
          connection: createChdbConnection({
            path: path.join(dataDir, 'clickhouse'),
          }) as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'],
        })
      : createClient({ url: serverUrl });
});

afterAll(async () => {
  for (const store of opened) await store.close();
  if (serverUrl !== undefined) {
    for (const name of [
      'mig',
      'migsrc',
      'migdist',
      'narrow',
      'dupin',
      'ttl',
      'q',
      'escape',
      'dup',
      'fail',
      'tamper',
      'page',
    ])
      await raw.command({ query: `DROP DATABASE IF EXISTS ${db(name)}` });
  }
  await raw.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('migrations', () => {
  it('applies every migration once, records it, and does nothing when run again', async () => {
    const first = await openAuditStore(target('mig'));
    expect((first as unknown as { migrations: { applied: number[] } }).migrations.applied).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    await first.close();
    const second = await open('mig');
    expect((second as unknown as { migrations: { applied: number[]; version: number } }).migrations).toEqual({
      applied: [],
      version: 8,
    });
    const recorded = await rawQuery<{ version: number; name: string }>(
      `SELECT version, name FROM ${db('mig')}.schema_migrations FINAL ORDER BY version`,
    );
    expect(recorded).toEqual([
      { version: 1, name: 'events' },
      { version: 2, name: 'events-by-session' },
      { version: 3, name: 'events-by-session-mv' },
      { version: 4, name: 'events-merge-selector-base' },
      { version: 5, name: 'events-by-session-merge-selector-base' },
      { version: 6, name: 'events-by-session-mv-drop' },
      { version: 7, name: 'events-by-session-narrow' },
      { version: 8, name: 'events-by-session-mv-narrow' },
    ]);
    const settings = await rawQuery<{ name: string; engine_full: string }>(
      `SELECT name, engine_full FROM system.tables WHERE database = '${db('mig')}' AND name LIKE 'events%' AND engine != 'MaterializedView' ORDER BY name`,
    );
    expect(settings.map((t) => t.name)).toEqual(['events', 'events_by_session']);
    for (const table of settings) expect(table.engine_full).toContain('merge_selector_base = 10');
  });

  it('records a MergeTree-only migration without running it when the table has another engine (Distributed)', async () => {
    await open('migsrc');
    // A non-MergeTree `events` with the same columns, as the scale-out schema's Distributed table is.
    await raw.command({ query: `CREATE DATABASE IF NOT EXISTS ${db('migdist')}` });
    await raw.command({
      query: `CREATE TABLE ${db('migdist')}.events ENGINE = Memory AS SELECT * FROM ${db('migsrc')}.events WHERE 0`,
    });
    const store = await open('migdist');
    expect((store as unknown as { migrations: { applied: number[] } }).migrations.applied).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8,
    ]);
    const tables = await rawQuery<{ name: string; engine_full: string }>(
      `SELECT name, engine_full FROM system.tables WHERE database = '${db('migdist')}' AND name LIKE 'events%' AND engine != 'MaterializedView' ORDER BY name`,
    );
    expect(tables.map((t) => [t.name, t.engine_full.includes('merge_selector_base = 10')])).toEqual([
      ['events', false],
      ['events_by_session', true],
    ]);
  });

  it('narrows events_by_session in place: rows written before migration 6 are kept and still replayed', async () => {
    const sample = new SampleEvents();
    const before = sample.session('old', 'support-bot', T0, [{ tool: 'support__read_ticket', result: 'ok' }]);
    const after = sample.session('new', 'support-bot', T0 + 60_000, [
      { tool: 'support__issue_refund', result: 'denied' },
    ]);
    // The schema as released before migration 6, with rows in both (wide) tables.
    await migrate(raw, db('narrow'), { migrations: MIGRATIONS.filter((m) => m.version <= 5) });
    await new ClickHouseAuditStore(raw, 'chdb', db('narrow'), { applied: [], version: 5 }).insertEvents(
      before,
      'narrow/0',
    );
    const store = await open('narrow');
    expect((store as unknown as { migrations: { applied: number[] } }).migrations.applied).toEqual([6, 7, 8]);
    const columns = await rawQuery<{ name: string }>(
      `SELECT name FROM system.columns WHERE database = '${db('narrow')}' AND table = 'events_by_session' ORDER BY position`,
    );
    expect(columns.map((c) => c.name)).toEqual([
      'id',
      'type',
      'ts',
      'session_id',
      'seq',
      'hash',
      'agent',
      'user',
    ]);
    await store.insertEvents(after, 'narrow/1');
    expect(await store.sessionEvents('old')).toEqual(before);
    expect(await store.sessionEvents('new')).toEqual(after);
    expect((await store.listSessions({ limit: 10 })).items.map((s) => [s.session_id, s.events])).toEqual([
      ['new', after.length],
      ['old', before.length],
    ]);
    expect(await store.latestHeads()).toEqual([
      { session_id: 'new', seq: after.at(-1)!.seq, hash: after.at(-1)!.hash },
      { session_id: 'old', seq: before.at(-1)!.seq, hash: before.at(-1)!.hash },
    ]);
  });

  it('sets the retention TTL when ttlDays is given and removes it when it is not', async () => {
    await open('ttl', { ttlDays: 30 });
    const engines = () =>
      rawQuery<{ name: string; engine_full: string }>(
        `SELECT name, engine_full FROM system.tables WHERE database = '${db('ttl')}' AND name LIKE 'events%' AND engine != 'MaterializedView' ORDER BY name`,
      );
    for (const table of await engines())
      expect(table.engine_full).toContain('TTL toDateTime(ts) + toIntervalDay(30)');
    await open('ttl');
    for (const table of await engines()) expect(table.engine_full).not.toContain('TTL');
  });

  it('leaves session index keys the retention may have expired out of sessionIndexKeys (an hour of margin)', async () => {
    const day = 86_400_000;
    const now = Date.now();
    // Keys older than two days less an hour may be gone from `events` under a two-day retention.
    const sample = new SampleEvents();
    const expired = sample.session('s-expired', 'support-bot', now - 2 * day + 30 * 60_000, [
      { tool: 'support__read_ticket', result: 'ok' },
    ]);
    const retained = sample.session('s-retained', 'support-bot', now - 2 * day + 2 * 3_600_000, [
      { tool: 'support__read_ticket', result: 'ok' },
    ]);
    const plain = await open('ttl_keys'); // no TTL on the tables: the rows stay
    await plain.insertEvents([...expired, ...retained], 'ttl-keys/0');
    // The same tables as a store with a two-day retention sees them (no migration run, no TTL set).
    const { migrations } = plain as unknown as { migrations: { applied: number[]; version: number } };
    const twoDays = new ClickHouseAuditStore(raw, 'chdb', db('ttl_keys'), migrations, undefined, 30_000, 2);
    expect(await twoDays.sessionIndexKeys('s-expired')).toBeUndefined();
    expect(await twoDays.sessionIndexKeys('s-retained')).toMatchObject({ head: retained.at(-1)!.seq });
    expect(await plain.sessionIndexKeys('s-expired')).toMatchObject({ head: expired.at(-1)!.seq });
    expect(await plain.sessionEvents('s-expired')).toHaveLength(expired.length);
  });

  it('refuses a database name that is not a plain identifier, naming the option', async () => {
    await expect(openAuditStore({ ...target('x'), database: 'x; DROP TABLE y' })).rejects.toMatchObject({
      code: 'GH_ERR_STORE_CONFIG',
      message: expect.stringContaining('database'),
    });
  });
});

describe('inserting and querying', () => {
  const sample = new SampleEvents();
  const policyV1 = sample.policy(T0 - 86_400_000);
  const policyV2 = sample.policy(T0 + 5_000, [['p', 'agent:support-bot', 'support__draft_reply']]);
  const catalogA1 = sample.catalog('support', T0 - 86_400_000, ['read_ticket']);
  const catalogA2 = sample.catalog('support', T0 + 5_000, ['read_ticket', 'draft_reply']);
  const catalogB = sample.catalog('billing', T0 - 1_000, ['issue_refund']);
  const s1 = sample.session(
    's1',
    'support-bot',
    T0,
    [
      { tool: 'support__read_ticket', result: 'ok' },
      { tool: 'support__export_customers', result: 'denied' },
      { tool: 'support__read_ticket', result: 'tool-error' },
      { tool: 'support__draft_reply', result: 'failed' },
    ],
    'alice',
  );
  const s2 = sample.session('s2', 'support-bot', T0 + 60_000, [
    { tool: 'support__read_ticket', result: 'ok' },
  ]);
  const s3 = sample.session('s3', 'other-bot', T0 + 120_000, [
    { tool: 'support__list_open_tickets', result: 'ok' },
  ]);
  const all = [policyV1, policyV2, catalogA1, catalogA2, catalogB, ...s1, ...s2, ...s3];
  let store: AuditStore;

  beforeAll(async () => {
    store = await open('q');
    await store.insertEvents(all, 'test/0/0-1');
  });

  it('counts every inserted event', async () => {
    expect(await store.countEvents()).toBe(all.length);
  });

  it('returns a session ordered by seq, rebuilt exactly as sealed (hashes verify)', async () => {
    const events = await store.sessionEvents('s1');
    expect(events).toEqual(s1);
    for (const event of events) expect(computeEventHash(event)).toBe(event.hash);
    expect(await store.sessionEvents('s1', { fromSeq: 3, limit: 2 })).toEqual(s1.slice(3, 5));
    expect(await store.sessionEvents('no-such-session')).toEqual([]);
  });

  it('lists MCP sessions (not named streams) newest first with their aggregates, paginated', async () => {
    const page = await store.listSessions({ limit: 10 });
    expect(page.nextCursor).toBeUndefined();
    expect(page.items.map((s) => s.session_id)).toEqual(['s3', 's2', 's1']);
    expect(page.items[2]).toEqual({
      session_id: 's1',
      agent: 'support-bot',
      user: 'alice',
      first_ts: s1[0]!.ts,
      last_ts: s1.at(-1)!.ts,
      events: s1.length,
      calls: 4,
      denied: 1,
    });
    const byAgent = await store.listSessions({ agent: 'support-bot', limit: 1 });
    expect(byAgent.items.map((s) => s.session_id)).toEqual(['s2']);
    const next = await store.listSessions({ agent: 'support-bot', limit: 1, cursor: byAgent.nextCursor! });
    expect(next.items.map((s) => s.session_id)).toEqual(['s1']);
    expect(next.nextCursor).toBeUndefined();
    const inRange = await store.listSessions({ from: at(59_000), to: at(61_000), limit: 10 });
    expect(inRange.items.map((s) => s.session_id)).toEqual(['s2']);
  });

  it('answers activity with call events in time order and per-tool counts over the whole range', async () => {
    const first = await store.activity({ agent: 'support-bot', from: at(0), to: at(3_600_000), limit: 5 });
    const expected = [...s1, ...s2].filter((e) => e.type.startsWith('call.') || e.type === 'tools.listed');
    expect(first.items).toEqual(expected.slice(0, 5));
    expect(first.tools).toEqual([
      { tool: 'support__draft_reply', attempted: 1, allowed: 1, denied: 0, ok: 0, error: 1 },
      { tool: 'support__export_customers', attempted: 1, allowed: 0, denied: 1, ok: 0, error: 0 },
      { tool: 'support__read_ticket', attempted: 3, allowed: 3, denied: 0, ok: 2, error: 1 },
    ]);
    const pages: GatehouseEvent[] = [...first.items];
    let cursor = first.nextCursor;
    while (cursor !== undefined) {
      const page = await store.activity({
        agent: 'support-bot',
        from: at(0),
        to: at(3_600_000),
        limit: 5,
        cursor,
      });
      pages.push(...page.items);
      cursor = page.nextCursor;
    }
    expect(pages).toEqual(expected);
    const none = await store.activity({ agent: 'support-bot', from: at(-10_000), to: at(0), limit: 5 });
    expect(none).toEqual({ items: [], tools: [] });
  });

  it('refuses a cursor from another listing or a forged one with GH_ERR_STORE_CURSOR', async () => {
    const sessions = await store.listSessions({ limit: 1 });
    await expect(
      store.activity({
        agent: 'support-bot',
        from: at(0),
        to: at(1),
        limit: 1,
        cursor: sessions.nextCursor!,
      }),
    ).rejects.toMatchObject({ code: 'GH_ERR_STORE_CURSOR', status: 400 });
    await expect(store.listSessions({ limit: 1, cursor: 'not-a-cursor' })).rejects.toMatchObject({
      code: 'GH_ERR_STORE_CURSOR',
    });
  });

  it('finds the policy in force at a time, and a policy by version', async () => {
    expect(await store.policyAt(at(0))).toEqual(policyV1);
    expect(await store.policyAt(at(5_000))).toEqual(policyV2);
    expect(await store.policyAt(at(-2 * 86_400_000))).toBeUndefined();
    expect(
      await store.policyByVersion(policyV2.type === 'policy.published' ? policyV2.data.version : ''),
    ).toEqual(policyV2);
    expect(await store.policyByVersion('f'.repeat(64))).toBeUndefined();
  });

  it('finds the latest catalog of each server at a time', async () => {
    expect(await store.catalogsAt(at(0))).toEqual([catalogB, catalogA1]);
    expect(await store.catalogsAt(at(10_000))).toEqual([catalogB, catalogA2]);
    expect(await store.catalogsAt(at(-2 * 86_400_000))).toEqual([]);
  });

  it('reports the head of every chain', async () => {
    const heads = await store.latestHeads();
    const expected = ['catalog:billing', 'catalog:support', 'policy', 's1', 's2', 's3'].map((id) => {
      const last = all.filter((e) => e.session_id === id).at(-1)!;
      return { session_id: id, seq: last.seq, hash: last.hash };
    });
    expect(heads).toEqual(expected);
    expect((await store.latestHeads({ since: at(100_000) })).map((h) => h.session_id)).toEqual(['s3']);
  });

  it("answers the session index's highest seq and its first key past a seq, and nothing where it lists none", async () => {
    for (const id of ['s1', 's2', 's3']) {
      const session = all.filter((e) => e.session_id === id);
      const at = (i: number) => ({
        seq: session[i]!.seq,
        ts: session[i]!.ts.replace('T', ' ').replace('Z', ''),
      });
      expect(await store.sessionIndexKeys(id)).toEqual({ head: session.at(-1)!.seq, first: at(0) });
      expect(await store.sessionIndexKeys(id, session[0]!.seq)).toEqual({
        head: session.at(-1)!.seq,
        first: at(1),
      });
      expect(await store.sessionIndexKeys(id, session.at(-1)!.seq)).toBeUndefined();
    }
    expect(await store.sessionIndexKeys('no-such-session')).toBeUndefined();
  });
});

describe('text that the insert format must escape', () => {
  const awkward =
    'tab\there, newline\nthere, CR\r, backslash \\ and \\N, quotes \' " `, NUL \u0000 BS \b FF \f VT \v, ünïcödé 🔐';
  const chains = new ChainRegistry();
  const ctx = {
    session_id: `weird\tsession\n${awkward}`,
    agent: `agent ${awkward}`,
    user: '\\N',
    scopes: ["it's", 'back\\slash', 'tab\tnew\nline', '', "]','["],
    client_ip: null,
    user_agent: awkward,
  };
  const events = [
    chains.seal(
      createEvent(
        'session.started',
        ctx,
        { client_name: awkward, client_version: '\\', protocol_version: 'x' },
        {},
        T0,
      ),
    ),
    chains.seal(
      createEvent(
        'call.attempted',
        ctx,
        {},
        {
          server: awkward,
          tool: `t\t${awkward}`,
          request_id: '\\N',
          args: { text: awkward, nested: [awkward, { '\t': '\n' }], n: 1e-7, big: 12345678901234 },
          args_sha256: sha256Hex(awkward),
          decision: { allowed: true, rule: awkward, policy_version: '\\' },
        },
        T0 + 1,
      ),
    ),
  ];

  it('stores tabs, newlines, backslashes, quotes, a literal \\N and non-ASCII text exactly (hashes verify)', async () => {
    const store = await open('escape');
    await store.insertEvents(events, 'escape/0/0-1');
    const stored = await store.sessionEvents(ctx.session_id);
    expect(stored).toEqual(events);
    for (const event of stored) expect(computeEventHash(event)).toBe(event.hash);
  });
});

describe('duplicates', () => {
  const sample = new SampleEvents();
  const batch = sample.session('dup', 'support-bot', T0, [
    { tool: 'support__read_ticket', result: 'ok' },
    { tool: 'support__issue_refund', result: 'denied' },
  ]);
  let store: AuditStore;

  beforeAll(async () => {
    store = await open('dup');
  });

  it('writes a batch repeated under the same token once (ClickHouse insert deduplication)', async () => {
    await store.insertEvents(batch, 'log/0/0-7');
    await store.insertEvents(batch, 'log/0/0-7');
    const [physical] = await rawQuery<{ n: string }>(`SELECT count() AS n FROM ${db('dup')}.events`);
    expect(Number(physical!.n)).toBe(batch.length);
    const [bySession] = await rawQuery<{ n: string }>(
      `SELECT count() AS n FROM ${db('dup')}.events_by_session`,
    );
    expect(Number(bySession!.n)).toBe(batch.length);
  });

  it('never shows an event twice even when it was written again under another token', async () => {
    await store.insertEvents(batch.slice(2), 'other-token');
    const [physical] = await rawQuery<{ n: string }>(`SELECT count() AS n FROM ${db('dup')}.events`);
    expect(Number(physical!.n)).toBeGreaterThan(batch.length); // really stored twice, not merged yet
    expect(await store.countEvents()).toBe(batch.length);
    expect(await store.sessionEvents('dup')).toEqual(batch);
    const sessions = await store.listSessions({ limit: 10 });
    expect(sessions.items).toHaveLength(1);
    expect(sessions.items[0]).toMatchObject({ events: batch.length, calls: 2, denied: 1 });
    const activity = await store.activity({ agent: 'support-bot', from: at(0), to: at(60_000), limit: 100 });
    expect(activity.items).toEqual(
      batch.filter((e) => e.type.startsWith('call.') || e.type === 'tools.listed'),
    );
    expect(activity.tools).toEqual([
      { tool: 'support__issue_refund', attempted: 1, allowed: 0, denied: 1, ok: 0, error: 0 },
      { tool: 'support__read_ticket', attempted: 1, allowed: 1, denied: 0, ok: 1, error: 0 },
    ]);
    expect(await store.latestHeads()).toEqual([
      { session_id: 'dup', seq: batch.at(-1)!.seq, hash: batch.at(-1)!.hash },
    ]);
  });
});

describe('batches of two logs under one range token', () => {
  it('writes both: a new log, or a topic created again, starts at the same offsets', async () => {
    const store = await open('duplogs');
    const first = new SampleEvents().session('dup-log-a', 'support-bot', T0, [
      { tool: 'support__read_ticket', result: 'ok' },
    ]);
    const second = new SampleEvents().session('dup-log-b', 'support-bot', T0, [
      { tool: 'support__read_ticket', result: 'ok' },
    ]);
    await store.insertEvents(first, 'embedded/0/0-2');
    await store.insertEvents(second, 'embedded/0/0-2');
    await store.insertEvents(second, 'embedded/0/0-2'); // the second log's batch read again
    expect(await store.countEvents()).toBe(first.length + second.length);
    const [physical] = await rawQuery<{ n: string }>(`SELECT count() AS n FROM ${db('duplogs')}.events`);
    expect(Number(physical!.n)).toBe(first.length + second.length);
    expect(await store.sessionEvents('dup-log-b')).toEqual(second);
  });
});

describe('duplicates inside one batch', () => {
  const sample = new SampleEvents();
  const events = sample.session('dup-in-batch', 'support-bot', T0, [
    { tool: 'support__read_ticket', result: 'ok' },
  ]);
  let store: AuditStore;

  beforeAll(async () => {
    store = await open('dupin');
  });

  it('never shows an event twice that one insert carried twice (inserts do not collapse copies)', async () => {
    await store.insertEvents([...events, ...events.slice(1, 3)], 'log/0/0-9');
    const [physical] = await rawQuery<{ n: string }>(`SELECT count() AS n FROM ${db('dupin')}.events`);
    expect(Number(physical!.n)).toBe(events.length + 2); // optimize_on_insert=0: stored as given
    expect(await store.countEvents()).toBe(events.length);
    expect(await store.sessionEvents('dup-in-batch')).toEqual(events);
    const sessions = await store.listSessions({ limit: 10 });
    expect(sessions.items[0]).toMatchObject({ events: events.length, calls: 1, denied: 0 });
    const activity = await store.activity({ agent: 'support-bot', from: at(0), to: at(60_000), limit: 100 });
    expect(activity.items).toEqual(
      events.filter((e) => e.type.startsWith('call.') || e.type === 'tools.listed'),
    );
    expect(activity.tools).toEqual([
      { tool: 'support__read_ticket', attempted: 1, allowed: 1, denied: 0, ok: 1, error: 0 },
    ]);
  });
});

describe('failures', () => {
  const sample = new SampleEvents();
  let store: AuditStore;

  beforeAll(async () => {
    store = await open('fail');
  });

  it('refuses a batch holding one bad event with a message naming it, and writes nothing', async () => {
    const events = sample.session('bad', 'support-bot', T0, [{ tool: 'support__read_ticket', result: 'ok' }]);
    const broken = [...events];
    broken[2] = {
      ...events[2]!,
      outcome: { ...events[2]!.outcome!, status: 'maybe' },
    } as unknown as GatehouseEvent;
    const error = await store.insertEvents(broken, 'bad-batch').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'GH_ERR_STORE_INVALID_EVENT', retryable: false });
    expect((error as Error).message).toContain(`event 2 of ${events.length} (${events[2]!.id})`);
    expect((error as Error).message).toContain('outcome.status');
    expect(await store.countEvents()).toBe(0);
  });

  it('translates a ClickHouse error into a StoreError naming the table that failed', async () => {
    await raw.command({
      query: `RENAME TABLE ${db('fail')}.events_by_session TO ${db('fail')}.events_by_session_away`,
    });
    try {
      const error = await store.sessionEvents('bad').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ code: 'GH_ERR_STORE_QUERY', retryable: false, clickhouseCode: 60 });
      expect((error as Error).message).toContain(`${db('fail')}.events_by_session`);
    } finally {
      await raw.command({
        query: `RENAME TABLE ${db('fail')}.events_by_session_away TO ${db('fail')}.events_by_session`,
      });
    }
  });

  it('rejects every call after close with GH_ERR_STORE_CLOSED', async () => {
    const closing = await openAuditStore(target('fail'));
    await closing.close();
    await expect(closing.insertEvents(sample.session('late', 'a', T0, []), 't')).rejects.toMatchObject({
      code: 'GH_ERR_STORE_CLOSED',
    });
    await expect(closing.countEvents()).rejects.toMatchObject({
      code: 'GH_ERR_STORE_CLOSED',
      message: expect.stringContaining(`${db('fail')}.events`),
    });
    expect(await closing.ping()).toBe(false);
  });
});

describe('tamper evidence', () => {
  const sample = new SampleEvents();
  const events = sample.session('t1', 'support-bot', T0, [
    { tool: 'support__export_customers', result: 'denied' },
    { tool: 'support__read_ticket', result: 'ok' },
  ]);
  let store: AuditStore;

  beforeAll(async () => {
    store = await open('tamper');
    await store.insertEvents(events, 'tamper/0');
  });

  it('rebuilds events whose hashes verify before any edit', async () => {
    for (const event of await store.sessionEvents('t1')) expect(computeEventHash(event)).toBe(event.hash);
  });

  it('detects a column edited directly in ClickHouse: the rebuilt event no longer matches its hash', async () => {
    const denied = events.find((e) => e.type === 'call.denied')!;
    await raw.command({
      query: `ALTER TABLE ${db('tamper')}.events UPDATE outcome_status = 'ok' WHERE id = '${denied.id}'`,
      clickhouse_settings: { mutations_sync: '2' },
    });
    const replayed = await store.sessionEvents('t1');
    const edited = replayed.find((e) => e.id === denied.id)!;
    expect(edited.outcome?.status).toBe('ok');
    expect(computeEventHash(edited)).not.toBe(edited.hash);
    for (const event of replayed.filter((e) => e.id !== denied.id))
      expect(computeEventHash(event)).toBe(event.hash);
  });

  it('detects an edit of the JSON args column the same way', async () => {
    const attempted = events.find((e) => e.type === 'call.attempted' && e.tool === 'support__read_ticket')!;
    await raw.command({
      query: `ALTER TABLE ${db('tamper')}.events UPDATE args = '{"ticket":99}' WHERE id = '${attempted.id}'`,
      clickhouse_settings: { mutations_sync: '2' },
    });
    const activity = await store.activity({ agent: 'support-bot', from: at(0), to: at(60_000), limit: 100 });
    const edited = activity.items.find((e) => e.id === attempted.id)!;
    expect(edited.args).toEqual({ ticket: 99 });
    expect(computeEventHash(edited)).not.toBe(edited.hash);
  });
});

describe('keyset pagination', () => {
  let store: AuditStore;
  const sample = new SampleEvents();
  // Many events in the same millisecond: the page boundary falls between equal timestamps.
  const events = Array.from({ length: 6 }, (_, s) =>
    sample.session(`same-ms-${s}`, 'burst-bot', T0, [
      { tool: 'support__read_ticket', result: 'ok' },
      { tool: 'support__issue_refund', result: 'denied' },
    ]),
  ).flat();

  beforeAll(async () => {
    store = await open('page');
    await store.insertEvents(events, 'page/0');
  });

  it('returns every activity event exactly once across pages, even within one millisecond', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.activity({
        agent: 'burst-bot',
        from: at(0),
        to: at(60_000),
        limit: 7,
        cursor,
      });
      seen.push(...page.items.map((e) => e.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== undefined);
    const expected = events.filter((e) => e.type !== 'session.started' && e.type !== 'session.ended');
    expect(seen).toHaveLength(expected.length);
    expect(new Set(seen)).toEqual(new Set(expected.map((e) => e.id)));
    expect(pages).toBe(Math.ceil(expected.length / 7));
  });

  it('returns every session exactly once across pages when they start in the same millisecond', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listSessions({ agent: 'burst-bot', limit: 4, cursor });
      seen.push(...page.items.map((s) => s.session_id));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(seen.sort()).toEqual([
      'same-ms-0',
      'same-ms-1',
      'same-ms-2',
      'same-ms-3',
      'same-ms-4',
      'same-ms-5',
    ]);
  });
});

describe('checkpoints naming a session', () => {
  const chains = new ChainRegistry();
  const checkpoint = (offsetMs: number, sessions: string[], stream = 'checkpoint:a') =>
    chains.seal(
      createEvent(
        'checkpoint.signed',
        { session_id: stream },
        {
          jws: 'eyJhbGciOiJFUzI1NiJ9.e30.AAAA',
          kid: 'k1',
          heads: sessions.map((session_id, seq) => ({ session_id, seq, hash: 'a'.repeat(64) })),
        },
        {},
        T0 + offsetMs,
      ),
    );
  const c1 = checkpoint(0, ['s1', 's10']);
  const c2 = checkpoint(60_000, ['s10']);
  const c3 = checkpoint(120_000, ['s1'], 'checkpoint:b');
  const other = new SampleEvents().session('s1', 'support-bot', T0, [
    { tool: 'support__read_ticket', result: 'ok' },
  ]);
  let store: AuditStore;

  beforeAll(async () => {
    store = await open('cp');
    await store.insertEvents([c1, c2, c3, ...other], 'cp/0/0-1');
    // A second row under c3's id (a redelivery, or a forgery): both come back.
    await store.insertEvents([c3], 'cp/0/2-2');
  });

  it('returns every stored row naming the session exactly, newest first', async () => {
    const ids = async (session: string, options: Parameters<AuditStore['checkpointsNaming']>[1]) =>
      (await store.checkpointsNaming(session, options)).map((e) => e.id);
    expect(await ids('s1', { limit: 10 })).toEqual([c3.id, c3.id, c1.id]);
    expect(await ids('s10', { limit: 10 })).toEqual([c2.id, c1.id]);
    expect(await ids('s', { limit: 10 })).toEqual([]);
    expect(await ids('s1', { since: at(1), limit: 10 })).toEqual([c3.id, c3.id]);
    expect(await ids('s10', { limit: 1, before: { ts: c2.ts, id: c2.id } })).toEqual([c1.id]);
    expect((await store.checkpointsNaming('s1', { limit: 1 }))[0]).toEqual(c3);
  });

  it('refuses a limit out of range', async () => {
    await expect(store.checkpointsNaming('s1', { limit: 0 })).rejects.toMatchObject({
      code: 'GH_ERR_STORE_CONFIG',
    });
  });
});

describe('publications', () => {
  it('returns every policy and catalog publication of any chain, oldest first, one row per id', async () => {
    const sample = new SampleEvents();
    const p1 = sample.policy(T0);
    const c1 = sample.catalog('support', T0 + 1_000, ['read_ticket']);
    // An ingress restarted without its head publishes from seq 0 on a new chain.
    const p2 = new SampleEvents().policy(T0 + 2_000, [['p', 'agent:support-bot', 'support__draft_reply']]);
    const session = sample.session('s1', 'support-bot', T0, [{ tool: 'support__read_ticket', result: 'ok' }]);
    const store = await open('pub');
    await store.insertEvents([p2, ...session, c1, p1], 'pub/0/0-1');
    await store.insertEvents([p1], 'pub/0/2-2');
    expect([p1.seq, p2.seq]).toEqual([0, 0]);
    expect((await store.publishedSince()).map((e) => e.id)).toEqual([p1.id, c1.id, p2.id]);
    expect((await store.publishedSince(at(1_000))).map((e) => e.id)).toEqual([c1.id, p2.id]);
    expect((await store.publishedSince(at(2_001))).map((e) => e.id)).toEqual([]);
  });
});

describe('a read over the time limit', () => {
  it('fails with status 504 naming the limit instead of running on', async () => {
    const store = await open('slow', { queryTimeoutMs: 1 });
    await expect(store.listSessions({ limit: 10 })).rejects.toMatchObject({
      code: 'GH_ERR_STORE_QUERY',
      status: 504,
      retryable: false,
      message: expect.stringContaining('ran longer than the 1 ms the store allows'),
    });
  });

  it('refuses a time limit that is not a positive number of ms', async () => {
    await expect(openAuditStore({ dataDir, queryTimeoutMs: 0 })).rejects.toMatchObject({
      code: 'GH_ERR_STORE_CONFIG',
      message: expect.stringContaining('queryTimeoutMs'),
    });
  });
});

describe('strings with lone surrogates', () => {
  it('come back as sealed: createEvent made them well-formed, so every hash verifies after the round trip', async () => {
    const chains = new ChainRegistry();
    const lone = '\ud800';
    const ctx = { session_id: 'lone', agent: `bot${lone}`, user: 'alice', scopes: [`mcp${lone}`] };
    const call = {
      server: 'support',
      tool: `support__${'a'.repeat(254)}😀x`.slice(0, 265),
      request_id: `id${lone}`,
      args: { note: `args keep it ${lone}` },
      args_sha256: sha256Hex('x'),
    };
    const decision = { allowed: true, rule: 'allow', policy_version: 'v'.repeat(64) };
    const sealed = [
      chains.seal(
        createEvent('session.started', ctx, {
          protocol_version: null,
          client_name: `cli${lone}`,
          client_version: null,
        }),
      ),
      chains.seal(createEvent('call.attempted', ctx, {}, { ...call, decision })),
      chains.seal(
        createEvent(
          'call.failed',
          ctx,
          {},
          {
            ...call,
            decision,
            outcome: {
              status: 'error',
              latency_ms: 1,
              result_sha256: null,
              result_bytes: null,
              error: `e${lone}`,
            },
          },
        ),
      ),
    ];
    const store = await open('lone');
    await store.insertEvents(sealed, 'lone/0/0-2');
    const back = await store.sessionEvents('lone');
    expect(back).toEqual(sealed);
    for (const event of back) expect(computeEventHash(event)).toBe(event.hash);
  });
});
