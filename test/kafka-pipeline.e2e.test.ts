import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { decodeEvent, verifyChain, type GatehouseEvent } from '@gatehouse/events';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueDevToken } from '../packages/cli/src/commands/token.js';
import { kafkaBrokers } from './support/kafka-brokers.js';
import {
  connectAgent,
  rawClickHouse,
  sqlRows,
  startTestStack,
  type TestStack,
} from './support/test-stack.js';

/**
 * The whole product in Kafka mode (DESIGN.md "Modes"): ingress → Kafka topic → projector →
 * ClickHouse (chDB), driven by the official MCP SDK client, read back through the store, raw SQL,
 * the query API and the topic itself.
 */
describe('ingress → Kafka → projector → ClickHouse, end to end', () => {
  const topic = `gatehouse.e2e-pipeline.${randomUUID().slice(0, 8)}`;
  let t: TestStack | undefined;
  let raw: ClickHouseClient | undefined;
  let sessionId = '';
  const allowedCalls = [
    { name: 'support__list_open_tickets', arguments: { limit: 5 } },
    { name: 'support__read_ticket', arguments: { ticket_id: 'T-1001' } },
    { name: 'support__draft_reply', arguments: { ticket_id: 'T-1001', body: `pipeline ${randomUUID()}` } },
  ];

  beforeAll(async () => {
    t = await startTestStack({
      env: { KAFKA_BROKERS: kafkaBrokers().join(','), GATEHOUSE_KAFKA_TOPIC: topic },
    });
    raw = rawClickHouse(t.dataDir);
  });
  afterAll(async () => {
    await raw?.close();
    await t?.stop();
  });

  it('runs in Kafka mode on its own topic', () => {
    expect(t!.stack.log.kind).toBe('kafka');
  });

  it('records one session of listed, allowed and denied calls exactly once, in seq order, with an intact chain', async () => {
    const stack = t!.stack;
    const agent = await connectAgent(t!, 'support-bot', 'alice');
    sessionId = agent.sessionId;
    const listed = (await agent.client.listTools()).tools.map((tool) => tool.name).sort();
    expect(listed).toEqual(['support__draft_reply', 'support__list_open_tickets', 'support__read_ticket']);
    for (const call of allowedCalls) {
      const result = await agent.client.callTool(call);
      expect(result.isError ?? false).toBe(false);
    }
    const denied = await agent.client.callTool({ name: 'support__export_customers', arguments: {} }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(denied).toBeInstanceOf(McpError);
    expect((denied as McpError).code).toBe(-32003);
    await agent.close();

    const expectedTypes = [
      'session.started',
      'tools.listed',
      ...allowedCalls.flatMap(() => ['call.attempted', 'call.completed']),
      'call.denied',
      'session.ended',
    ];
    // Outcomes are appended after the answer: wait until the whole session is in the log and projected.
    let recorded: GatehouseEvent[] = [];
    for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
      await stack.ingress.flush();
      await stack.projector.drain(30_000);
      recorded = await stack.store.sessionEvents(sessionId);
      if (recorded.length >= expectedTypes.length) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    // In seq order, gapless from 0, and the chain verifies.
    expect(recorded.map((event) => event.seq)).toEqual(expectedTypes.map((_, seq) => seq));
    expect(recorded.map((event) => event.type)).toEqual(expectedTypes);
    expect(verifyChain(recorded, { sessionId })).toMatchObject({ ok: true, count: expectedTypes.length });

    // Each call's attempt and outcome name the tool and carry the arguments the client sent.
    const calls = recorded.filter(
      (event) => event.type === 'call.attempted' || event.type === 'call.completed',
    );
    expect(calls.map((event) => event.tool)).toEqual(allowedCalls.flatMap((call) => [call.name, call.name]));
    expect(calls.map((event) => event.args)).toEqual(
      allowedCalls.flatMap((call) => [call.arguments, call.arguments]),
    );
    for (const completed of recorded.filter((event) => event.type === 'call.completed')) {
      expect(completed.outcome?.status).toBe('ok');
    }
    const refusal = recorded.find((event) => event.type === 'call.denied')!;
    expect(refusal.tool).toBe('support__export_customers');
    expect(refusal.decision?.allowed).toBe(false);

    // Exactly once in ClickHouse: deduplicated reads, and physically (nothing was delivered twice).
    const quoted = `'${sessionId.replace(/'/g, "\\'")}'`;
    for (const table of ['events', 'events_by_session']) {
      const [final] = await sqlRows<{ rows: string; ids: string }>(
        raw!,
        `SELECT count() AS rows, uniqExact(id) AS ids FROM gatehouse.${table} FINAL WHERE session_id = ${quoted}`,
      );
      expect(final).toEqual({ rows: String(expectedTypes.length), ids: String(expectedTypes.length) });
      const [physical] = await sqlRows<{ rows: string }>(
        raw!,
        `SELECT count() AS rows FROM gatehouse.${table} WHERE session_id = ${quoted}`,
      );
      expect(physical!.rows).toBe(String(expectedTypes.length));
    }

    // The analyst's view through the query API agrees.
    const analyst = await issueDevToken(t!.config, 'analyst');
    const headers = { Authorization: `Bearer ${analyst.accessToken}` };
    const verify = (await (
      await fetch(`${stack.urls.query}/v1/sessions/${encodeURIComponent(sessionId)}/verify`, { headers })
    ).json()) as { intact: boolean; events: number };
    expect(verify).toMatchObject({ intact: true, events: expectedTypes.length });
  });

  it('keys every record on the topic by its session_id, one partition per session', async () => {
    expect(sessionId).not.toBe('');
    const kafka = new Kafka({
      clientId: 'gatehouse-e2e-reader',
      brokers: kafkaBrokers(),
      logLevel: logLevel.NOTHING,
    });
    const consumer = kafka.consumer({ groupId: `e2e-reader-${randomUUID()}`, sessionTimeout: 10_000 });
    const records: Array<{ key: string; partition: number; event: GatehouseEvent }> = [];
    const admin = kafka.admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    const total = ends.reduce((n, end) => n + Number(end.high) - Number(end.low), 0);
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const done = new Promise<void>((resolve) => {
        void consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            records.push({
              key: message.key?.toString('utf8') ?? '',
              partition,
              event: decodeEvent(message.value ?? Buffer.alloc(0)),
            });
            if (records.length >= total) resolve();
          },
        });
      });
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    } finally {
      await consumer.disconnect();
    }
    expect(records).toHaveLength(total);
    for (const record of records) expect(record.key).toBe(record.event.session_id);
    const session = records.filter((record) => record.event.session_id === sessionId);
    expect(new Set(session.map((record) => record.partition)).size).toBe(1);
    expect(session.map((record) => record.event.seq)).toEqual(session.map((_, seq) => seq));
    // Besides the MCP session: the named streams (policy, catalog:support, …), keyed by stream name.
    expect(new Set(records.map((record) => record.key))).toEqual(
      new Set(records.map((record) => record.event.session_id)),
    );
    expect(records.some((record) => record.key === 'policy')).toBe(true);
    expect(records.some((record) => record.key === 'catalog:support')).toBe(true);
    // Every record on the topic is in ClickHouse, once (physically: nothing was delivered twice).
    await t!.stack.projector.drain(30_000);
    const stored = await sqlRows<{ id: string; n: string }>(
      raw!,
      'SELECT toString(id) AS id, count() AS n FROM gatehouse.events GROUP BY id',
    );
    const copies = new Map(stored.map((row) => [row.id, Number(row.n)]));
    expect(new Set(records.map((record) => record.event.id)).size).toBe(records.length);
    for (const record of records) expect(copies.get(record.event.id)).toBe(1);
  });
});
