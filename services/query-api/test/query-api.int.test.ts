import path from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainRegistry, createEvent, type EventOf, type GatehouseEvent } from '@gatehouse/events';
import {
  createQueryApi,
  loadCheckpointKey,
  startCheckpointer,
  type CapabilitiesAnswer,
  type QueryApi,
  type SessionVerification,
  type WhatIfAnswer,
  verifyStoredSession,
} from '../src/index.js';
import {
  AUDIENCE,
  compile,
  createMemoryLog,
  createTokenMint,
  GATEWAY_AUDIENCE,
  ISSUER,
  openStoreFixture,
  project,
  publishedPolicy,
  Timeline,
  type MemoryEventLog,
  type StoreFixture,
  type TokenMint,
} from './fixtures.js';

const TOOLS = [
  'list_open_tickets',
  'read_ticket',
  'draft_reply',
  'issue_refund',
  'close_account',
  'export_customers',
];
const P1 = await publishedPolicy(
  [
    ['agent:support-bot', 'support__list_open_tickets', 'allow'],
    ['agent:support-bot', 'support__read_ticket', 'allow'],
    ['agent:support-bot', 'support__draft_reply', 'allow'],
    ['role:support-staff', 'support__*', 'allow'],
    ['role:support-staff', 'support__export_customers', 'deny'],
  ],
  [['user:alice', 'role:support-staff']],
);
/** Stricter: the bot may no longer draft replies. */
const P2 = await publishedPolicy(
  [
    ['agent:support-bot', 'support__list_open_tickets', 'allow'],
    ['agent:support-bot', 'support__read_ticket', 'allow'],
    ['role:support-staff', 'support__*', 'allow'],
    ['role:support-staff', 'support__export_customers', 'deny'],
  ],
  [['user:alice', 'role:support-staff']],
);

// Tuesday 24 Nov 2026, 20:00 UTC.
const NOW = new Date('2026-11-24T20:00:00Z');
const bot = { agent: 'support-bot', user: 'alice' };

let fixture: StoreFixture;
let log: MemoryEventLog;
let mint: TokenMint;
let api: QueryApi;
let sql: ClickHouseClient;
let token: string;
const timeline = new Timeline();
const p1Policy = await compile(P1);
const p2Policy = await compile(P2);

async function decide(
  session: string,
  iso: string,
  tool: string,
  policy = p1Policy,
): Promise<GatehouseEvent[]> {
  return timeline.call(
    iso,
    { session_id: session, ...bot },
    `support__${tool}`,
    policy.decide(bot.agent, bot.user, `support__${tool}`),
  );
}

async function get<T = unknown>(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T; headers: Record<string, unknown>; raw: string }> {
  const response = await api.app.inject({
    method: 'GET',
    url,
    headers: { authorization: `Bearer ${token}`, ...headers },
  });
  let body: unknown;
  try {
    body = response.json();
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, body: body as T, headers: response.headers, raw: response.body };
}

beforeAll(async () => {
  fixture = await openStoreFixture();
  log = createMemoryLog();
  mint = await createTokenMint();
  token = await mint.token();
  api = await createQueryApi({
    store: fixture.store,
    log,
    policy: p2Policy,
    compilePolicy: compile,
    auth: { issuer: ISSUER, audience: AUDIENCE, requiredScopes: ['audit:read'], jwks: mint.jwks },
    clock: () => NOW,
    instance: 'test',
    // Policies are published with past timestamps below: read the streams before every answer.
    publishedHistory: { refreshMs: 0 },
  });
  // A second connection to the same chDB directory: tampering the way someone with SQL access would.
  const connection = createChdbConnection({ path: path.join(fixture.dir, 'clickhouse') });
  sql = createClient({
    connection: connection as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'],
  });

  await project(fixture.store, [
    timeline.policy('2026-11-01T00:00:00.000Z', P1),
    timeline.catalog('2026-11-01T00:00:01.000Z', 'support', TOOLS),
  ]);
  // Session A, Tuesday 17 Nov: the compromised bot tries to export the customer table.
  const a = 'sess-a';
  const started = timeline.at(
    '2026-11-17T10:00:00.000Z',
    'session.started',
    { session_id: a, ...bot },
    { protocol_version: '2025-06-18', client_name: 'bot', client_version: '1' },
  );
  const calls = [
    ...(await decide(a, '2026-11-17T10:00:01.000Z', 'list_open_tickets')),
    ...(await decide(a, '2026-11-17T10:00:02.000Z', 'read_ticket')),
    ...(await decide(a, '2026-11-17T10:00:03.000Z', 'draft_reply')),
    ...(await decide(a, '2026-11-17T10:00:04.000Z', 'export_customers')),
    ...(await decide(a, '2026-11-17T10:00:05.000Z', 'draft_reply')),
  ];
  const ended = timeline.at(
    '2026-11-17T10:00:06.000Z',
    'session.ended',
    { session_id: a, ...bot },
    { reason: 'closed' },
  );
  // Projected out of order and in several batches: replay must still come back in seq order.
  const sessionA = [started, ...calls, ended];
  await project(fixture.store, sessionA.slice(6).reverse());
  await project(fixture.store, sessionA.slice(0, 6));
  // Session C, Monday 23 Nov 12:00 UTC: already Tuesday in Auckland.
  await project(fixture.store, [
    timeline.at(
      '2026-11-23T12:00:00.000Z',
      'session.started',
      { session_id: 'sess-c', ...bot },
      { protocol_version: null, client_name: null, client_version: null },
    ),
    ...(await decide('sess-c', '2026-11-23T12:00:01.000Z', 'read_ticket')),
  ]);
}, 120_000);

afterAll(async () => {
  await api?.close();
  await sql?.close();
  await fixture?.cleanup();
});

describe('capabilities as of a time', () => {
  it('answers with the policy and catalog in force then, and the old answer stays reproducible after a policy change', async () => {
    const before = await get<CapabilitiesAnswer>(
      '/v1/agents/support-bot/capabilities?at=2026-11-15T00:00:00Z',
    );
    expect(before.status).toBe(200);
    expect(before.body.policy_version).toBe(P1.version);
    expect(before.body.tools.filter((t) => t.allowed).map((t) => t.name)).toEqual([
      'support__draft_reply',
      'support__list_open_tickets',
      'support__read_ticket',
    ]);
    expect(before.body.tools).toHaveLength(6);

    await project(fixture.store, [timeline.policy('2026-11-20T00:00:00.000Z', P2)]);

    const after = await get<CapabilitiesAnswer>(
      '/v1/agents/support-bot/capabilities?at=2026-11-21T00:00:00Z',
    );
    expect(after.body.policy_version).toBe(P2.version);
    expect(after.body.tools.find((t) => t.name === 'support__draft_reply')).toMatchObject({ allowed: false });
    const again = await get<CapabilitiesAnswer>(
      '/v1/agents/support-bot/capabilities?at=2026-11-15T00:00:00Z',
    );
    expect(again.body).toEqual(before.body);
  });

  it('follows a policy published again from seq 0 on a new chain (an ingress restarted without its head)', async () => {
    const restarted = new ChainRegistry().seal(
      createEvent('policy.published', { session_id: 'policy' }, P1, {}, Date.parse('2027-01-01T00:00:00Z')),
    );
    expect(restarted.seq).toBe(0);
    await project(fixture.store, [restarted]);
    const later = await get<CapabilitiesAnswer>(
      '/v1/agents/support-bot/capabilities?at=2027-01-02T00:00:00Z',
    );
    expect(later.body.policy_version).toBe(P1.version);
    const before = await get<CapabilitiesAnswer>(
      '/v1/agents/support-bot/capabilities?at=2026-11-21T00:00:00Z',
    );
    expect(before.body.policy_version).toBe(P2.version);
  });

  it('intersects the agent with the user it acts for, and defaults at to now', async () => {
    const answer = await get<CapabilitiesAnswer>('/v1/agents/support-bot/capabilities?user=alice');
    expect(answer.body).toMatchObject({ agent: 'support-bot', user: 'alice', at: NOW.toISOString() });
    expect(answer.body.tools.find((t) => t.name === 'support__export_customers')).toMatchObject({
      allowed: false,
    });
  });

  it('answers 404 for a time before any policy was published', async () => {
    const answer = await get<{ error: string; message: string }>(
      '/v1/agents/support-bot/capabilities?at=2020-01-01T00:00:00Z',
    );
    expect(answer.status).toBe(404);
    expect(answer.body.message).toContain('2020-01-01T00:00:00.000Z');
  });
});

describe('activity', () => {
  it('reads "last tuesday" in America/Los_Angeles as 17 Nov local and returns that session with per-tool counts', async () => {
    const answer = await get<{
      window: { from: string; to: string };
      events: GatehouseEvent[];
      tools: { tool: string; attempted: number; denied: number }[];
    }>('/v1/agents/support-bot/activity?when=last%20tuesday&tz=America/Los_Angeles');
    expect(answer.status).toBe(200);
    expect(answer.body.window).toEqual({
      from: '2026-11-17T08:00:00.000Z',
      to: '2026-11-18T08:00:00.000Z',
      when: 'last tuesday',
      tz: 'America/Los_Angeles',
    });
    expect(new Set(answer.body.events.map((e) => e.session_id))).toEqual(new Set(['sess-a']));
    expect(answer.body.tools.find((t) => t.tool === 'support__export_customers')).toMatchObject({
      denied: 1,
    });
    expect(answer.body.tools.find((t) => t.tool === 'support__draft_reply')).toMatchObject({
      attempted: 2,
      denied: 0,
    });
  });

  it('reads "last tuesday" in Pacific/Auckland as a different UTC window holding a different session', async () => {
    const answer = await get<{ window: { from: string }; events: GatehouseEvent[] }>(
      '/v1/agents/support-bot/activity?when=last%20tuesday&tz=Pacific/Auckland',
    );
    expect(answer.body.window.from).toBe('2026-11-23T11:00:00.000Z');
    expect(new Set(answer.body.events.map((e) => e.session_id))).toEqual(new Set(['sess-c']));
  });

  it('pages with a cursor through the same events the whole window holds', async () => {
    const all = await get<{ events: GatehouseEvent[] }>(
      '/v1/agents/support-bot/activity?from=2026-11-17T00:00:00Z&to=2026-11-18T00:00:00Z',
    );
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await get<{ events: GatehouseEvent[]; next_cursor?: string }>(
        `/v1/agents/support-bot/activity?from=2026-11-17T00:00:00Z&to=2026-11-18T00:00:00Z&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(page.body.events.length).toBeLessThanOrEqual(3);
      ids.push(...page.body.events.map((e) => e.id));
      cursor = page.body.next_cursor;
    } while (cursor !== undefined);
    expect(ids).toEqual(all.body.events.map((e) => e.id));
    expect(ids).toHaveLength(9);
  });

  it('exports NDJSON on Accept: application/x-ndjson and CSV on ?format=csv', async () => {
    const ndjson = await get(
      '/v1/agents/support-bot/activity?from=2026-11-17T00:00:00Z&to=2026-11-18T00:00:00Z',
      { accept: 'application/x-ndjson' },
    );
    expect(ndjson.headers['content-type']).toContain('application/x-ndjson');
    const lines = ndjson.raw
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as GatehouseEvent);
    expect(lines).toHaveLength(9);
    const csv = await get(
      '/v1/agents/support-bot/activity?from=2026-11-17T00:00:00Z&to=2026-11-18T00:00:00Z&format=csv',
    );
    const rows = csv.raw.trim().split('\r\n');
    expect(rows[0]).toMatch(/^ts,id,type,session_id,seq/);
    expect(rows).toHaveLength(10);
    expect(rows.some((r) => r.includes('support__export_customers') && r.includes(',false,'))).toBe(true);
  });
});

describe('sessions and replay', () => {
  it('lists sessions of an agent, newest first', async () => {
    const answer = await get<{ sessions: { session_id: string; calls: number; denied: number }[] }>(
      '/v1/sessions?agent=support-bot',
    );
    expect(answer.body.sessions.map((s) => s.session_id)).toEqual(['sess-c', 'sess-a']);
    expect(answer.body.sessions[1]).toMatchObject({ events: 11, denied: 1 });
  });

  it('replays a session in seq order even though it was projected out of order', async () => {
    const answer = await get<{ events: GatehouseEvent[] }>('/v1/sessions/sess-a/events');
    expect(answer.body.events.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(answer.body.events.at(-1)!.type).toBe('session.ended');
    const tail = await get<{ events: GatehouseEvent[] }>('/v1/sessions/sess-a/events?from_seq=9');
    expect(tail.body.events.map((e) => e.seq)).toEqual([9, 10]);
  });

  it('answers a page at a time, a full page naming where the next one starts', async () => {
    type Page = { events: GatehouseEvent[]; next_from_seq?: number };
    const seqs: number[][] = [];
    let url = '/v1/sessions/sess-a/events?limit=4';
    for (;;) {
      const page = (await get<Page>(url)).body;
      seqs.push(page.events.map((e) => e.seq));
      if (page.next_from_seq === undefined) break;
      url = `/v1/sessions/sess-a/events?limit=4&from_seq=${page.next_from_seq}`;
    }
    expect(seqs).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9, 10],
    ]);
    // Without a limit: a page of 10,000, and a session shorter than that says nothing more.
    expect((await get<Page>('/v1/sessions/sess-a/events')).body.next_from_seq).toBeUndefined();
  });

  it('answers 404 for a session with no events', async () => {
    expect((await get('/v1/sessions/nope/events')).status).toBe(404);
  });
});

describe('what-if', () => {
  it('under the stricter current policy lists exactly the calls that would now be denied', async () => {
    const answer = await get<WhatIfAnswer>('/v1/sessions/sess-a/what-if?policy=current');
    expect(answer.body.policy).toEqual({ requested: 'current', version: P2.version });
    expect(answer.body.changes.map((c) => [c.seq, c.tool, c.recorded.allowed, c.would.allowed])).toEqual([
      [5, 'support__draft_reply', true, false],
      [8, 'support__draft_reply', true, false],
    ]);
    expect(answer.body.unchanged).toBe(3);
  });

  it('under the policy it was recorded with changes nothing; an unknown version is 404', async () => {
    const same = await get<WhatIfAnswer>(`/v1/sessions/sess-a/what-if?policy=${P1.version}`);
    expect(same.body).toMatchObject({ changes: [], unchanged: 5 });
    const unknown = await get<{ message: string }>(`/v1/sessions/sess-a/what-if?policy=${'f'.repeat(64)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toContain('querystring/policy');
  });

  it('takes the start of a version, 12 hex characters or more, as the answers print it', async () => {
    for (const length of [12, 40, 63]) {
      const prefix = P1.version.slice(0, length);
      const answer = await get<WhatIfAnswer>(`/v1/sessions/sess-a/what-if?policy=${prefix}`);
      expect(answer.status).toBe(200);
      expect(answer.body.policy).toEqual({ requested: prefix, version: P1.version });
      expect(answer.body).toMatchObject({ changes: [], unchanged: 5 });
    }
  });

  it('answers 404 naming a start no published version has, and 400 for fewer than 12 characters', async () => {
    const unknown = await get<{ message: string }>('/v1/sessions/sess-a/what-if?policy=000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toBe(
      'no policy whose version starts with 000000000000 was ever published (querystring/policy)',
    );
    const tooShort = await get<{ message: string }>(
      `/v1/sessions/sess-a/what-if?policy=${P1.version.slice(0, 11)}`,
    );
    expect(tooShort.status).toBe(400);
    expect(tooShort.body.message).toMatch(/^querystring\/policy must match/);
  });

  it('answers 400 naming both versions when the start it was given is shared by two', async () => {
    // Versions are content hashes: two sharing 12 hex characters are forged here, on a chain of
    // their own, published after every instant the other tests ask about.
    const shared = '5eed'.repeat(3);
    const chains = new ChainRegistry();
    const forged = ['0', '1'].map((digit, i) =>
      chains.seal(
        createEvent(
          'policy.published',
          { session_id: 'policy' },
          { ...P1, version: `${shared}${digit.repeat(52)}` },
          {},
          Date.parse(`2031-01-0${i + 1}T00:00:00Z`),
        ),
      ),
    );
    await project(fixture.store, forged);
    const answer = await get<{ message: string }>(`/v1/sessions/sess-a/what-if?policy=${shared}`);
    expect(answer.status).toBe(400);
    expect(answer.body.message).toBe(
      `querystring/policy ${shared} starts more than one published policy version (${shared}${'0'.repeat(52)}, ${shared}${'1'.repeat(52)}); give more of it`,
    );
  });
});

describe('verify', () => {
  let checkpointKeys: Map<string, import('node:crypto').KeyObject>;

  async function sealSession(id: string, calls: number): Promise<GatehouseEvent[]> {
    const out = [
      timeline.at(
        '2026-11-23T08:00:00.000Z',
        'session.started',
        { session_id: id, ...bot },
        { protocol_version: null, client_name: null, client_version: null },
      ),
    ];
    for (let i = 0; i < calls; i++)
      out.push(
        ...(await decide(
          id,
          `2026-11-23T08:00:0${i + 1}.000Z`,
          i % 2 === 0 ? 'read_ticket' : 'export_customers',
        )),
      );
    return out;
  }

  async function checkpoint(): Promise<void> {
    const key = await loadCheckpointKey({ dataDir: fixture.dir });
    checkpointKeys = new Map([[key.kid, key.publicKey]]);
    const cpLog = createMemoryLog();
    const heads = new Map([...timeline.chains.heads()].filter(([s]) => s.startsWith('sess-v')));
    const checkpointer = startCheckpointer({
      log: cpLog,
      heads: () => heads,
      key,
      intervalMs: 60_000,
      stream: 'checkpoint:test',
      now: () => Date.parse('2026-11-23T09:00:00Z'),
    });
    await checkpointer.publishNow();
    await checkpointer.stop();
    await project(fixture.store, cpLog.events());
  }

  async function verify(id: string, keys = checkpointKeys): Promise<SessionVerification> {
    const verifier = await createQueryApi({
      store: fixture.store,
      log,
      policy: p2Policy,
      compilePolicy: compile,
      auth: { issuer: ISSUER, audience: AUDIENCE, jwks: mint.jwks },
      checkpointKeys: keys,
      instance: 'verify',
    });
    const response = await verifier.app.inject({
      method: 'GET',
      url: `/v1/sessions/${id}/verify`,
      headers: { authorization: `Bearer ${token}` },
    });
    await verifier.close();
    expect(response.statusCode).toBe(200);
    return response.json() as SessionVerification;
  }

  it('reports an untouched session intact, anchored by a verified checkpoint', async () => {
    await project(fixture.store, [
      ...(await sealSession('sess-v1', 2)),
      ...(await sealSession('sess-v2', 2)),
      ...(await sealSession('sess-v3', 2)),
      ...(await sealSession('sess-v4', 2)),
      ...(await sealSession('sess-v5', 2)),
    ]);
    await checkpoint();
    const report = await verify('sess-v1');
    expect(report).toMatchObject({
      intact: true,
      anchored: true,
      events: 4,
      first_bad: null,
      checkpoint: { status: 'verified', head: { seq: 3 }, signed_at: '2026-11-23T09:00:00.000Z' },
      rejected_checkpoints: [],
    });
  });

  it('detects a row edited directly in ClickHouse and names its seq', async () => {
    const events = await fixture.store.sessionEvents('sess-v2');
    const denied = events.find((e) => e.type === 'call.denied')!;
    // Only `events` holds these columns (`events_by_session` is the session index: keys and hash).
    await sql.command({
      query: `ALTER TABLE gatehouse.events UPDATE outcome_status = 'ok', decision_allowed = true WHERE id = {id:UUID}`,
      query_params: { id: denied.id },
      clickhouse_settings: { mutations_sync: '1' },
    });
    const report = await verify('sess-v2');
    expect(report.intact).toBe(false);
    expect(report.first_bad).toMatchObject({ seq: denied.seq, id: denied.id, kind: 'edited' });
  });

  it('detects a forged copy inserted under an existing event id (deduplication does not hide it)', async () => {
    const events = await fixture.store.sessionEvents('sess-v5');
    const denied = events.find((e) => e.type === 'call.denied')!;
    // An exact copy (an at-least-once redelivery) is harmless ...
    await fixture.store.insertEvents([denied], 'redelivery-of-denied');
    expect(await verify('sess-v5')).toMatchObject({ intact: true, first_bad: null });
    // ... a copy that says something else is not, whichever copy a deduplicating read would keep.
    // (The materialized view adds the copy's key row to `events_by_session`.)
    await sql.command({
      query: `INSERT INTO gatehouse.events SELECT * REPLACE ('ok' AS outcome_status, true AS decision_allowed)
              FROM gatehouse.events WHERE id = {id:UUID} LIMIT 1`,
      query_params: { id: denied.id },
    });
    const report = await verify('sess-v5');
    expect(report.intact).toBe(false);
    expect(report.first_bad).toMatchObject({ seq: denied.seq, id: denied.id, kind: 'edited' });
  });

  it('detects the newest row deleted in ClickHouse through the signed checkpoint head', async () => {
    const events = await fixture.store.sessionEvents('sess-v3');
    const last = events.at(-1)!;
    for (const table of ['events', 'events_by_session']) {
      await sql.command({
        query: `ALTER TABLE gatehouse.${table} DELETE WHERE id = {id:UUID}`,
        query_params: { id: last.id },
        clickhouse_settings: { mutations_sync: '1' },
      });
    }
    const report = await verify('sess-v3');
    expect(report.intact).toBe(false);
    expect(report.first_bad).toMatchObject({ seq: last.seq, kind: 'deleted' });
    expect(report.checkpoint.status).toBe('head_mismatch');
  });

  it('detects a row deleted from the middle of a session in ClickHouse', async () => {
    const events = await fixture.store.sessionEvents('sess-v4');
    const middle = events[2]!;
    for (const table of ['events', 'events_by_session']) {
      await sql.command({
        query: `ALTER TABLE gatehouse.${table} DELETE WHERE id = {id:UUID}`,
        query_params: { id: middle.id },
        clickhouse_settings: { mutations_sync: '1' },
      });
    }
    const report = await verify('sess-v4');
    expect(report).toMatchObject({ intact: false, events: 3, first_bad: { kind: 'deleted' } });
    expect(report.first_bad!.message).toContain('seq 2 is missing');
  });

  /** Deletes rows from the events table only, as SQL access would; the session index keeps their keys. */
  async function deleteFromEventsOnly(ids: string[]): Promise<void> {
    await sql.command({
      query: 'ALTER TABLE gatehouse.events DELETE WHERE id IN {ids:Array(UUID)}',
      query_params: { ids },
      clickhouse_settings: { mutations_sync: '1' },
    });
  }

  it('detects the newest rows deleted from the events table alone, without a checkpoint: the session index lists them', async () => {
    const sealed = await sealSession('sess-i1', 2);
    await project(fixture.store, sealed);
    expect(await verifyStoredSession(fixture.store, 'sess-i1', new Map())).toMatchObject({
      intact: true,
      anchored: false,
    });
    const tail = sealed.slice(-2);
    await deleteFromEventsOnly(tail.map((e) => e.id));
    const report = await verify('sess-i1', new Map());
    expect(report).toMatchObject({
      intact: false,
      anchored: false,
      events: sealed.length - 2,
      first_bad: { kind: 'deleted', seq: tail[0]!.seq, id: null, index: sealed.length - 2 },
    });
    expect(report.first_bad!.message).toBe(
      `seq ${tail[0]!.seq} is listed in the session index but has no row in the events table, and no row was read after seq ${tail[0]!.seq - 1} — deleted`,
    );
  });

  it('names the first key the session index lists without a row, also when every row is gone', async () => {
    const sealed = await sealSession('sess-i4', 2); // seqs 0-3
    expect(sealed.map((e) => e.seq)).toEqual([0, 1, 2, 3]);
    await project(fixture.store, sealed);
    // Seq 2 goes from both tables, seq 3 from the events table alone.
    await deleteRows([sealed[2]!.id]);
    await deleteFromEventsOnly([sealed[3]!.id]);
    expect(await verifyStoredSession(fixture.store, 'sess-i4', new Map(), undefined, 0)).toMatchObject({
      intact: false,
      events: 2,
      first_bad: { kind: 'deleted', seq: 3, id: null },
    });
    // Every row gone from the events table: reported, not "no such session".
    await deleteFromEventsOnly(sealed.slice(0, 2).map((e) => e.id));
    const report = await verifyStoredSession(fixture.store, 'sess-i4', new Map(), undefined, 0);
    expect(report).toMatchObject({ intact: false, events: 0, first_bad: { kind: 'deleted', seq: 0 } });
    expect(report!.first_bad!.message).toBe(
      'seq 0 is listed in the session index but has no row in the events table, and no row of the session was read — deleted',
    );
  });

  it('does not report a session index key whose row arrives while verify pauses (replicas copy each table on its own)', async () => {
    const sealed = await sealSession('sess-i5', 1);
    await project(fixture.store, sealed);
    const last = sealed.at(-1)!;
    await deleteFromEventsOnly([last.id]);
    // The row comes back, as a lagging replica's copy would, while verify waits to ask again.
    const verifying = verifyStoredSession(fixture.store, 'sess-i5', new Map(), undefined, 1_500);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await project(fixture.store, [last]);
    // What was read before the row came back holds; the row itself is read by the next verify.
    expect(await verifying).toMatchObject({ intact: true, events: sealed.length - 1, first_bad: null });
    expect(await verifyStoredSession(fixture.store, 'sess-i5', new Map(), undefined, 0)).toMatchObject({
      intact: true,
      events: sealed.length,
    });
  });

  it("reads no further than a page's worth of rows deleted from the events table alone, and says so", async () => {
    const sealed = await sealSession('sess-i2', 4); // 9 events
    await project(fixture.store, sealed);
    const gap = sealed.slice(3, 6);
    await deleteFromEventsOnly(gap.map((e) => e.id));
    // Read whole, the gap is in view: the chain breaks at the event after it.
    const whole = await verifyStoredSession(fixture.store, 'sess-i2', new Map(), undefined, 0);
    expect(whole).toMatchObject({ intact: false, first_bad: { kind: 'deleted', seq: gap[2]!.seq + 1 } });
    // Three rows a page: the page after seq 2 comes back empty and the reading ends there, where
    // the session index goes on.
    const paged = await verifyStoredSession(fixture.store, 'sess-i2', new Map(), 3, 0);
    expect(paged).toMatchObject({
      intact: false,
      events: 3,
      first_bad: { kind: 'deleted', seq: gap[0]!.seq, id: null },
    });
    // Every key gone with its row (both tables): nothing left to compare, as before.
    const keysOnly = await sealSession('sess-i3', 1);
    await project(fixture.store, keysOnly);
    await deleteRows(keysOnly.map((e) => e.id));
    expect(await verifyStoredSession(fixture.store, 'sess-i3', new Map())).toBeUndefined();
  });

  it('refuses to vouch for a session whose checkpoint does not verify with the known key', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const [kid] = [...checkpointKeys.keys()];
    const report = await verify('sess-v1', new Map([[kid!, stranger]]));
    expect(report).toMatchObject({
      intact: false,
      anchored: false,
      checkpoint: { status: 'invalid_signature' },
      rejected_checkpoints: [{ reason: 'invalid_signature', stream: 'checkpoint:test' }],
    });
  });

  /** Signs the heads of `sessions` (as sealed so far) at `iso` on `stream` and projects the checkpoint. */
  async function signHeads(
    sessions: string[],
    iso: string,
    stream = 'checkpoint:test',
  ): Promise<GatehouseEvent> {
    const key = await loadCheckpointKey({ dataDir: fixture.dir });
    checkpointKeys = new Map([[key.kid, key.publicKey]]);
    const all = timeline.chains.heads();
    const heads = new Map(sessions.map((id) => [id, all.get(id)!]));
    const cpLog = createMemoryLog();
    const previous = (await fixture.store.sessionEvents(stream)).at(-1);
    const checkpointer = startCheckpointer({
      log: cpLog,
      heads: () => heads,
      key,
      intervalMs: 60_000,
      stream,
      ...(previous === undefined ? {} : { streamHead: { seq: previous.seq, hash: previous.hash } }),
      now: () => Date.parse(iso),
    });
    const event = await checkpointer.publishNow();
    await project(fixture.store, cpLog.events());
    return event!;
  }

  async function deleteRows(ids: string[]): Promise<void> {
    for (const table of ['events', 'events_by_session'])
      await sql.command({
        query: `ALTER TABLE gatehouse.${table} DELETE WHERE id IN {ids:Array(UUID)}`,
        query_params: { ids },
        clickhouse_settings: { mutations_sync: '1' },
      });
  }

  it('is not fooled by a forged checkpoint of an unknown key dated after the real one', async () => {
    const sealed = await sealSession('sess-f1', 2);
    await project(fixture.store, sealed);
    await signHeads(['sess-f1'], '2026-11-23T09:10:00Z');
    const tail = sealed.slice(-2);
    await deleteRows(tail.map((e) => e.id));
    // The forger names the truncated head on a stream of its own, dated in the future.
    const truncated = sealed.at(-3)!;
    const forged = new ChainRegistry().seal(
      createEvent(
        'checkpoint.signed',
        { session_id: 'checkpoint:zz' },
        {
          jws: 'eyJhbGciOiJFUzI1NiJ9.e30.AAAA',
          kid: 'nope',
          heads: [{ session_id: 'sess-f1', seq: truncated.seq, hash: truncated.hash }],
        },
        {},
        Date.parse('2027-01-01T00:00:00Z'),
      ),
    );
    await project(fixture.store, [forged]);
    const report = await verify('sess-f1');
    expect(report).toMatchObject({
      intact: false,
      anchored: false,
      first_bad: { kind: 'deleted', seq: tail[0]!.seq },
      checkpoint: { status: 'head_mismatch', stream: 'checkpoint:test', head: { seq: tail[1]!.seq } },
    });
  });

  it('refuses an old checkpoint moved to look newest, and anchors on the newest genuine one', async () => {
    const first = await sealSession('sess-f2', 2);
    await project(fixture.store, first);
    const old = await signHeads(['sess-f2'], '2026-11-23T09:20:00Z');
    const later = await decide('sess-f2', '2026-11-23T08:00:09.000Z', 'read_ticket');
    await project(fixture.store, later);
    await signHeads(['sess-f2'], '2026-11-23T09:25:00Z');
    // The newest events go, and the old checkpoint (which does not name them) is copied with a new ts.
    await deleteRows(later.map((e) => e.id));
    await sql.command({
      query: `INSERT INTO gatehouse.events SELECT * REPLACE (toDateTime64('2026-11-23 10:00:00', 3, 'UTC') AS ts)
              FROM gatehouse.events WHERE id = {id:UUID} LIMIT 1`,
      query_params: { id: old.id },
    });
    const report = await verify('sess-f2');
    expect(report).toMatchObject({
      intact: false,
      anchored: false,
      rejected_checkpoints: [{ reason: 'redated', stream: 'checkpoint:test', seq: old.seq }],
      checkpoint: { status: 'head_mismatch', head: { seq: later.at(-1)!.seq } },
    });
  });

  it('finds the checkpoint naming a session behind thousands of later ones that do not', async () => {
    const sealed = await sealSession('sess-f3', 2);
    await project(fixture.store, sealed);
    await signHeads(['sess-f3'], '2026-11-23T11:00:00Z', 'checkpoint:busy');
    // 2,100 checkpoints of another session afterwards (a day and a half at one a minute).
    const key = await loadCheckpointKey({ dataDir: fixture.dir });
    const cpLog = createMemoryLog();
    const busy = (await fixture.store.sessionEvents('checkpoint:busy')).at(-1)!;
    const heads = new Map<string, { seq: number; hash: string }>();
    let minute = 0;
    const checkpointer = startCheckpointer({
      log: cpLog,
      heads: () => heads,
      key,
      intervalMs: 60_000,
      stream: 'checkpoint:busy',
      streamHead: { seq: busy.seq, hash: busy.hash },
      now: () => Date.parse('2026-11-23T11:01:00Z') + minute * 60_000,
    });
    for (; minute < 2_100; minute++) {
      heads.set('sess-other', { seq: minute, hash: 'a'.repeat(64) });
      await checkpointer.publishNow();
    }
    await project(fixture.store, cpLog.events());
    expect(await verify('sess-f3')).toMatchObject({
      intact: true,
      anchored: true,
      checkpoint: { status: 'verified', stream: 'checkpoint:busy', head: { seq: sealed.at(-1)!.seq } },
    });
    await deleteRows([sealed.at(-1)!.id]);
    expect(await verify('sess-f3')).toMatchObject({
      intact: false,
      anchored: false,
      checkpoint: { status: 'head_mismatch', stream: 'checkpoint:busy' },
    });
  }, 60_000);

  it('detects JSON text edited into a different text of the same value (a duplicated key SQL reads first)', async () => {
    const sealed = await sealSession('sess-f5', 1);
    await project(fixture.store, sealed);
    const started = sealed[0]!;
    // JSON.parse keeps the last "client_name", ClickHouse's JSONExtract the first: SQL shows "evil".
    await sql.command({
      query: `ALTER TABLE gatehouse.events UPDATE data = {data:String} WHERE id = {id:UUID}`,
      query_params: {
        id: started.id,
        data: '{"client_name":"evil","client_name":null,"client_version":null,"protocol_version":null}',
      },
      clickhouse_settings: { mutations_sync: '1' },
    });
    expect(await verify('sess-f5')).toMatchObject({
      intact: false,
      first_bad: { seq: 0, id: started.id, kind: 'edited' },
    });
  });

  it('detects a value written into the columns of a decision or outcome the event does not have', async () => {
    const sealed = await sealSession('sess-f6', 1);
    await project(fixture.store, sealed);
    const started = sealed[0]!;
    expect(started.decision).toBeNull();
    await sql.command({
      query: `ALTER TABLE gatehouse.events UPDATE decision_rule = 'allow agent:support-bot *', outcome_error = 'forged' WHERE id = {id:UUID}`,
      query_params: { id: started.id },
      clickhouse_settings: { mutations_sync: '1' },
    });
    expect(await verify('sess-f6')).toMatchObject({
      intact: false,
      first_bad: { seq: 0, id: started.id, kind: 'edited' },
    });
  });

  it('says a session no checkpoint names yet is intact but not anchored', async () => {
    await project(fixture.store, await sealSession('sess-f4', 1));
    expect(await verify('sess-f4')).toMatchObject({
      intact: true,
      anchored: false,
      checkpoint: { status: 'none' },
      rejected_checkpoints: [],
    });
  });

  it('anchors on the checkpoint that signed a session furthest along: one signed after its tail was cut does not vouch for it', async () => {
    const events = await sealSession('sess-t1', 3);
    await project(fixture.store, events);
    const key = await loadCheckpointKey({ dataDir: fixture.dir });
    const keys = new Map([[key.kid, key.publicKey]]);
    const sign = async (head: GatehouseEvent, at: string, stream: string) => {
      const cpLog = createMemoryLog();
      const checkpointer = startCheckpointer({
        log: cpLog,
        heads: () => new Map([['sess-t1', { seq: head.seq, hash: head.hash }]]),
        key,
        intervalMs: 60_000,
        stream,
        now: () => Date.parse(at),
      });
      await checkpointer.publishNow();
      await checkpointer.stop();
      await project(fixture.store, cpLog.events());
    };
    const last = events.at(-1)!;
    await sign(last, '2026-11-23T09:00:00.000Z', 'checkpoint:t1-before');
    // The newest two rows deleted, and a checkpointer fed from the cut store signs what it sees.
    await sql.command({
      query: 'ALTER TABLE gatehouse.events DELETE WHERE id IN ({ids:Array(UUID)})',
      query_params: { ids: [events.at(-1)!.id, events.at(-2)!.id] },
      clickhouse_settings: { mutations_sync: '1' },
    });
    await sign(events.at(-3)!, '2026-11-23T09:05:00.000Z', 'checkpoint:t1-after');
    expect(await verify('sess-t1', keys)).toMatchObject({
      intact: false,
      anchored: false,
      first_bad: { kind: 'deleted', seq: last.seq - 1 },
      checkpoint: { status: 'head_mismatch', stream: 'checkpoint:t1-before', head: { seq: last.seq } },
    });
  });

  it('replays past a row deleted from the events table: the short page still names where the rest starts', async () => {
    const events = await sealSession('sess-p2', 4);
    await project(fixture.store, events);
    await sql.command({
      query: 'ALTER TABLE gatehouse.events DELETE WHERE id = {id:UUID}',
      query_params: { id: events[1]!.id },
      clickhouse_settings: { mutations_sync: '1' },
    });
    type Page = { events: GatehouseEvent[]; next_from_seq?: number };
    const seen: number[] = [];
    let url = '/v1/sessions/sess-p2/events?limit=3';
    for (let pages = 0; pages < 10; pages++) {
      const page = (await get<Page>(url)).body;
      seen.push(...page.events.map((e) => e.seq));
      if (page.next_from_seq === undefined) break;
      url = `/v1/sessions/sess-p2/events?limit=3&from_seq=${page.next_from_seq}`;
    }
    expect(seen).toEqual(events.map((e) => e.seq).filter((seq) => seq !== events[1]!.seq));
  });

  it('reads every seq of a session whose clock stepped back, with copies merged in one table only', async () => {
    const ctx = { session_id: 'sess-clock', ...bot };
    const listed = (iso: string) =>
      timeline.at(iso, 'tools.listed', ctx, { tools: ['support__read_ticket'], policy_version: 'v' });
    const events = [
      timeline.at('2026-11-23T08:00:00.000Z', 'session.started', ctx, {
        protocol_version: null,
        client_name: null,
        client_version: null,
      }),
      listed('2026-11-23T08:00:10.000Z'),
      listed('2026-11-23T08:00:20.000Z'),
      // The clock stepped back: seq 3 lies between seq 0 and seq 1 in time.
      listed('2026-11-23T08:00:05.000Z'),
      listed('2026-11-23T08:00:30.000Z'),
    ];
    await project(fixture.store, events);
    // A redelivered copy of seq 0, merged away in the events table but not in the session index.
    await project(fixture.store, events.slice(0, 1));
    await sql.command({
      query: 'OPTIMIZE TABLE gatehouse.events FINAL',
      clickhouse_settings: { mutations_sync: '1' },
    });
    for (const pageRows of [3, 4, 10_000])
      expect({
        pageRows,
        ...(await verifyStoredSession(fixture.store, 'sess-clock', checkpointKeys, pageRows)),
      }).toMatchObject({ pageRows, intact: true, events: 5, first_bad: null });
  });

  it('reads past a short page: copies merged in the events table and not yet in the session index', async () => {
    const events = await sealSession('sess-p1', 5);
    await project(fixture.store, events);
    await project(fixture.store, events.slice(1, 3));
    await sql.command({
      query: 'OPTIMIZE TABLE gatehouse.events FINAL',
      clickhouse_settings: { mutations_sync: '1' },
    });
    const whole = await verifyStoredSession(fixture.store, 'sess-p1', checkpointKeys);
    expect(whole).toMatchObject({ intact: true, events: events.length });
    for (const pageRows of [2, 3, 4])
      expect({
        pageRows,
        ...(await verifyStoredSession(fixture.store, 'sess-p1', checkpointKeys, pageRows)),
      }).toEqual({
        pageRows,
        ...whole,
      });
  });

  it('gives the same answer reading a session two or three rows at a time as reading it whole', async () => {
    const sessions = ['sess-v1', 'sess-v2', 'sess-v3', 'sess-v4', 'sess-v5', 'sess-f4', 'sess-f5', 'sess-f6'];
    for (const id of sessions) {
      const whole = await verify(id);
      for (const pageRows of [2, 3])
        expect({
          id,
          pageRows,
          ...(await verifyStoredSession(fixture.store, id, checkpointKeys, pageRows)),
        }).toEqual({
          id,
          pageRows,
          ...whole,
        });
    }
  });
});

describe('the perimeter of the query API', () => {
  it('answers 401 with a Bearer challenge when there is no token', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/v1/sessions' });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(
      /^Bearer .*resource_metadata="http:\/\/localhost:7421\/.well-known\/oauth-protected-resource"/,
    );
  });

  it('answers 403 insufficient_scope to a valid token without audit:read', async () => {
    const response = await get<{ error: string }>('/v1/sessions', {
      authorization: `Bearer ${await mint.token({ scope: 'mcp:tools' })}`,
    });
    expect(response.status).toBe(403);
    expect(response.body.error).toBe('insufficient_scope');
    expect(response.headers['www-authenticate']).toContain('error="insufficient_scope"');
  });

  it('refuses a token minted for the gateway, a token from another issuer and an expired token alike (401, fixed message)', async () => {
    for (const bad of [
      await mint.token({ aud: GATEWAY_AUDIENCE }),
      await mint.token({ iss: 'http://evil.test' }),
      await mint.token({ expSec: -60 }),
    ]) {
      const response = await get<{ error: string; message: string }>('/v1/sessions', {
        authorization: `Bearer ${bad}`,
      });
      expect(response.status).toBe(401);
      expect(response.body).toEqual({
        error: 'invalid_token',
        message: 'the access token is not valid for this API',
      });
    }
  });

  it('answers malformed parameters with 400 naming the field', async () => {
    const cases: [string, string][] = [
      ['/v1/agents/support-bot/capabilities?at=yesterday', 'querystring/at must be an ISO 8601 date-time'],
      ['/v1/agents/support-bot/activity?when=yesterdayy', 'querystring/when is not a date'],
      ['/v1/agents/support-bot/activity?when=today&tz=Mars/Base', 'querystring/tz must be an IANA time zone'],
      ['/v1/agents/support-bot/activity', 'querystring/from is required'],
      [
        '/v1/agents/support-bot/activity?from=2026-11-18T00:00:00Z&to=2026-11-17T00:00:00Z',
        'querystring/to must be after from',
      ],
      ['/v1/agents/support-bot/activity?when=today&limit=0', 'querystring/limit must be >= 1'],
      ['/v1/sessions?agnet=support-bot', 'querystring/agnet is not a known parameter'],
      ['/v1/sessions/sess-a/what-if?policy=newest', 'querystring/policy must match'],
      ['/v1/sessions?cursor=abc', 'querystring/cursor: not a cursor issued by this API'],
      ['/v1/agents/support-bot/activity?when=today&cursor=abc', 'querystring/cursor: not a cursor'],
      ['/v1/sessions/sess-a/events?from_seq=1e20', 'querystring/from_seq must be <= 9007199254740991'],
      [
        '/v1/agents/support-bot/activity?when=past%2099999999999%20weeks',
        'querystring/when must cover at most 100 years',
      ],
    ];
    for (const [url, message] of cases) {
      const response = await get<{ error: string; message: string }>(url);
      expect(response.status, url).toBe(400);
      expect(response.body.error).toBe('bad_request');
      expect(response.body.message.startsWith(message), `${url}: ${response.body.message}`).toBe(true);
    }
  });
});

describe('the auditors are audited', () => {
  it('records every answered query — refusals included — as query.executed on the query stream', async () => {
    const before = log.events().length;
    await get('/v1/agents/support-bot/capabilities?user=alice&at=2026-11-15T00:00:00Z');
    await api.app.inject({ method: 'GET', url: '/v1/sessions' });
    await get('/v1/sessions?agnet=x');
    const recorded = log.events().slice(before) as EventOf<'query.executed'>[];
    expect(recorded.map((e) => [e.type, e.session_id, e.data.endpoint, e.data.status, e.agent])).toEqual([
      ['query.executed', 'query:test', 'GET /v1/agents/:agent/capabilities', 200, 'analyst'],
      ['query.executed', 'query:test', 'GET /v1/sessions', 401, null],
      ['query.executed', 'query:test', 'GET /v1/sessions', 400, 'analyst'],
    ]);
    expect(recorded[0]!.data.params).toEqual({
      agent: 'support-bot',
      user: 'alice',
      at: '2026-11-15T00:00:00Z',
    });
    const chain = log.events().filter((e) => e.session_id === 'query:test');
    expect(chain.map((e) => e.seq)).toEqual(chain.map((_, i) => i));
  });

  it('keeps what a refused request can write to the log small: parameters capped and clipped', async () => {
    const before = log.events().length;
    const query = Array.from({ length: 40 }, (_, i) => `p${i}=${'x'.repeat(4_000)}`).join('&');
    const response = await api.app.inject({ method: 'GET', url: `/v1/sessions?${query}` });
    expect(response.statusCode).toBe(401);
    const [recorded] = log.events().slice(before) as EventOf<'query.executed'>[];
    const params = recorded!.data.params;
    expect(Object.keys(params)).toHaveLength(33);
    expect(params.p0).toBe(`${'x'.repeat(256)}…(+3744 chars)`);
    expect(params['…']).toBe('8 more parameters not recorded');
    expect(JSON.stringify(recorded).length).toBeLessThan(12_000);
  });

  it('answers a session id of up to 256 characters itself (404, recorded), not with a router 414', async () => {
    const before = log.events().length;
    const response = await get<{ error: string }>(`/v1/sessions/${'s'.repeat(150)}/events`);
    expect(response.status).toBe(404);
    expect(response.body.error).toBe('not_found');
    expect(
      log
        .events()
        .slice(before)
        .map((e) => e.type),
    ).toEqual(['query.executed']);
  });

  it('withholds the answer (503) when the query cannot be recorded', async () => {
    log.setAvailable(false);
    const response = await get<{ error: string }>('/v1/sessions');
    log.setAvailable(true);
    expect(response.status).toBe(503);
    expect(response.body.error).toBe('audit_unavailable');
    expect(response.raw).not.toContain('sess-a');
  });

  it('serves an OpenAPI document describing every /v1 endpoint', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/openapi.json' });
    const doc = response.json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/v1/agents/{agent}/activity',
      '/v1/agents/{agent}/capabilities',
      '/v1/sessions',
      '/v1/sessions/{id}/events',
      '/v1/sessions/{id}/verify',
      '/v1/sessions/{id}/what-if',
    ]);
  });
});

describe('/healthz', () => {
  it('reports the projection and answers 503 while it has failed', async () => {
    let state = 'running';
    const withProjection = await createQueryApi({
      store: fixture.store,
      log,
      policy: p2Policy,
      compilePolicy: compile,
      auth: { issuer: ISSUER, audience: AUDIENCE, jwks: mint.jwks },
      instance: 'health',
      projection: () => ({ state, lag: 0, restarts: 1, deadLettered: 0, lastCommitAt: undefined }),
    });
    try {
      const ok = await withProjection.app.inject({ method: 'GET', url: '/healthz' });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({
        status: 'ok',
        store: true,
        projection: { state: 'running', restarts: 1 },
      });
      state = 'failed';
      const failed = await withProjection.app.inject({ method: 'GET', url: '/healthz' });
      expect(failed.statusCode).toBe(503);
      expect(failed.json()).toMatchObject({ status: 'degraded', projection: { state: 'failed' } });
    } finally {
      await withProjection.close();
    }
  });
});
