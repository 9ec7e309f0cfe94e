import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { verifyChain, type GatehouseEvent } from '@gatehouse/events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_RPC_ERRORS } from '../services/ingress/src/errors.js';
import { startBroker, type StartedBroker } from './support/kafka.js';
import {
  connectAgent,
  rawClickHouse,
  sqlRows,
  startTestStack,
  type ConnectedAgent,
  type TestStack,
} from './support/test-stack.js';

/** Calls in the whole run, each with a body of its own so that every trace of it can be matched. */
const CALLS = 5_000;
/** MCP sessions (one SDK client each) and concurrent calls per session. */
const SESSIONS = 8;
const WORKERS_PER_SESSION = 8;
/**
 * The broker is stopped once this many calls succeeded, and started again once it has been down
 * OUTAGE_MIN_MS and at least REFUSED_BEFORE_RESTART calls were refused meanwhile.
 */
const STOP_AFTER_OK = 1_500;
const OUTAGE_MIN_MS = 5_000;
const REFUSED_BEFORE_RESTART = SESSIONS * WORKERS_PER_SESSION;
/** Broker stop + start on a busy 2-core machine, plus 5,000 calls and the catch-up. */
const TEST_TIMEOUT_MS = 240_000;

type Seen = { kind: 'ok' } | { kind: 'refused' } | { kind: 'other'; detail: string };

interface DraftEvent {
  type: string;
  seq: number;
  id: string;
  status: string | undefined;
}

/**
 * DESIGN.md "Failure semantics" with the whole product in Kafka mode while its broker goes away
 * and comes back under load: no call is forwarded without a durable `call.attempted`, the agent is
 * told so (−32004), outcomes of forwarded calls are never lost, and nothing is counted twice.
 */
describe('Kafka outage under load (the whole stack, a broker of its own)', () => {
  let broker: StartedBroker | undefined;
  let t: TestStack | undefined;
  let raw: ClickHouseClient | undefined;
  let scratch = '';
  let recordFile = '';

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-kafka-outage-'));
    recordFile = path.join(scratch, 'upstream-calls.jsonl');
    broker = await startBroker();
    t = await startTestStack({
      env: { KAFKA_BROKERS: broker.brokers },
      edit: (config) => {
        const upstream = config.upstreams.support as { env?: Record<string, string> };
        upstream.env = { ...upstream.env, SUPPORT_DESK_RECORD: recordFile };
      },
    });
    raw = rawClickHouse(t.dataDir);
  }, 180_000);

  afterAll(async () => {
    await raw?.close();
    await t?.stop();
    await broker?.destroy();
    await rm(scratch, { recursive: true, force: true });
  });

  it(
    'refuses calls it cannot record (never forwarding them), and records every call it answered exactly once',
    async () => {
      const stack = t!.stack;
      expect(stack.log.kind).toBe('kafka');
      const agents: ConnectedAgent[] = [];
      for (let s = 0; s < SESSIONS; s++) agents.push(await connectAgent(t!, 'support-bot', 'alice'));

      const seen = new Map<string, Seen>();
      let next = 0;
      let ok = 0;
      let refused = 0;
      let restarted: Promise<void> | undefined;
      const timeline: string[] = [];
      const started = Date.now();
      const mark = (what: string) => timeline.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);
      let outage: Promise<void> | undefined;
      const outageDone = () =>
        (outage ??= (async () => {
          mark(`stopping the broker (${ok} ok so far)`);
          await broker!.stop();
          mark('broker stopped');
          const down = Date.now();
          while (
            Date.now() - down < 60_000 &&
            (refused < REFUSED_BEFORE_RESTART || Date.now() - down < OUTAGE_MIN_MS)
          )
            await new Promise((resolve) => setTimeout(resolve, 100));
          mark(`starting the broker (${refused} refused so far)`);
          await broker!.start();
          mark('broker started');
        })());

      const worker = async (agent: ConnectedAgent) => {
        for (;;) {
          const i = next++;
          if (i >= CALLS) return;
          const body = `outage call ${i}`;
          try {
            const result = await agent.client.callTool(
              { name: 'support__draft_reply', arguments: { ticket_id: 'T-1001', body } },
              undefined,
              { timeout: 120_000 },
            );
            if (result.isError === true)
              seen.set(body, { kind: 'other', detail: JSON.stringify(result.content) });
            else {
              seen.set(body, { kind: 'ok' });
              ok++;
            }
          } catch (error) {
            if (error instanceof McpError && error.code === GATEWAY_RPC_ERRORS.auditUnavailable.code) {
              seen.set(body, { kind: 'refused' });
              refused++;
            } else seen.set(body, { kind: 'other', detail: String(error) });
          }
          if (ok >= STOP_AFTER_OK) restarted ??= outageDone();
        }
      };
      await Promise.all(
        agents.flatMap((agent) => Array.from({ length: WORKERS_PER_SESSION }, () => worker(agent))),
      );
      mark(`all ${CALLS} calls answered: ${ok} ok, ${refused} refused`);
      await restarted;
      for (const agent of agents) await agent.close();

      // Every call got an answer, and the only failures are the gateway's audit-unavailable refusals.
      expect(seen.size).toBe(CALLS);
      const others = [...seen].filter(([, s]) => s.kind === 'other');
      expect(others.slice(0, 5)).toEqual([]);
      expect(refused).toBeGreaterThanOrEqual(REFUSED_BEFORE_RESTART);
      expect(ok).toBeGreaterThan(STOP_AFTER_OK);

      // The upstream received each answered call once and no refused call at all.
      const received = new Map<string, number>();
      for (const line of (await readFile(recordFile, 'utf8')).split('\n')) {
        if (line === '') continue;
        const call = JSON.parse(line) as { tool: string; arguments: { body?: string } };
        if (call.tool !== 'draft_reply' || call.arguments.body === undefined) continue;
        received.set(call.arguments.body, (received.get(call.arguments.body) ?? 0) + 1);
      }
      for (const [body, s] of seen) {
        if (s.kind === 'ok') expect(received.get(body), body).toBe(1);
        if (s.kind === 'refused') expect(received.get(body), body).toBeUndefined();
      }
      expect([...received.keys()].filter((body) => !seen.has(body))).toEqual([]);

      // After recovery (spooled outcomes republished, the projector caught up), every answered call
      // has its call.attempted and call.completed in ClickHouse, once each.
      const draftsOf = async (): Promise<Map<string, DraftEvent[]>> => {
        const byBody = new Map<string, DraftEvent[]>();
        for (const agent of agents) {
          for (const event of await stack.store.sessionEvents(agent.sessionId)) {
            const body = (event.args as { body?: unknown } | null)?.body;
            if (typeof body !== 'string') continue;
            const list = byBody.get(body) ?? [];
            list.push({ type: event.type, seq: event.seq, id: event.id, status: event.outcome?.status });
            byBody.set(body, list);
          }
        }
        return byBody;
      };
      const complete = (byBody: Map<string, DraftEvent[]>) =>
        [...seen].every(
          ([body, s]) =>
            s.kind !== 'ok' ||
            (byBody.get(body)?.some((e) => e.type === 'call.attempted') &&
              byBody.get(body)?.some((e) => e.type === 'call.completed')),
        );
      let drafts = new Map<string, DraftEvent[]>();
      for (const deadline = Date.now() + 90_000; Date.now() < deadline;) {
        await stack.ingress.flush();
        await stack.projector.drain(5_000).catch(() => undefined);
        drafts = await draftsOf();
        if (complete(drafts)) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      mark('caught up');
      const projector = stack.projector.stats();
      expect(projector.state, projector.lastError).toBe('running');

      let failedRefusals = 0;
      let attemptedRefusals = 0;
      for (const [body, s] of seen) {
        const events = drafts.get(body) ?? [];
        const types = events.map((e) => e.type).sort();
        if (s.kind === 'ok') {
          expect(types, body).toEqual(['call.attempted', 'call.completed']);
          expect(events.find((e) => e.type === 'call.completed')!.status, body).toBe('ok');
          // In session order: the attempt before its outcome.
          expect(events[0]!.type, body).toBe('call.attempted');
        } else {
          // A refused call was never answered by the upstream: no outcome but its refusal. Its
          // call.attempted may be in the log after all (written, acknowledgement lost), and then
          // call.failed with status audit_unavailable follows it.
          expect(
            types.filter((type) => type !== 'call.attempted' && type !== 'call.failed'),
            body,
          ).toEqual([]);
          expect(types.filter((type) => type === 'call.attempted').length, body).toBeLessThanOrEqual(1);
          expect(types.filter((type) => type === 'call.failed').length, body).toBeLessThanOrEqual(1);
          for (const failed of events.filter((e) => e.type === 'call.failed')) {
            expect(failed.status, body).toBe('audit_unavailable');
            failedRefusals++;
          }
          if (types.includes('call.attempted')) {
            expect(types, body).toContain('call.failed');
            attemptedRefusals++;
          }
        }
      }

      // Each session's chain is gapless and verifies; no seq is taken by two events.
      let recorded = 0;
      for (const agent of agents) {
        const events: GatehouseEvent[] = await stack.store.sessionEvents(agent.sessionId);
        recorded += events.length;
        expect(events[0]?.type).toBe('session.started');
        expect(events.map((event) => event.seq)).toEqual(events.map((_, seq) => seq));
        const verdict = verifyChain(events, { sessionId: agent.sessionId });
        expect(verdict.ok ? null : verdict.firstBad).toBeNull();
      }
      const reusedSeqs = await sqlRows<{ session_id: string; seq: string; n: string }>(
        raw!,
        'SELECT session_id, seq, count() AS n FROM gatehouse.events_by_session FINAL GROUP BY session_id, seq HAVING n > 1 LIMIT 5',
      );
      expect(reusedSeqs).toEqual([]);
      // No query counts an event twice (physical duplicates from redelivery collapse in FINAL).
      const [counts] = await sqlRows<{ rows: string; ids: string; physical: string }>(
        raw!,
        `SELECT (SELECT count() FROM gatehouse.events FINAL) AS rows, (SELECT uniqExact(id) FROM gatehouse.events) AS ids,
                (SELECT count() FROM gatehouse.events) AS physical`,
      );
      expect(counts!.rows).toBe(counts!.ids);
      expect(await stack.store.countEvents()).toBe(Number(counts!.ids));

      mark(
        `${recorded} session events; refusals with call.failed: ${failedRefusals}, of which after a call.attempted: ${attemptedRefusals}; physical rows ${counts!.physical} for ${counts!.ids} events`,
      );
      console.log(`[kafka-outage] ${timeline.join(' | ')}`);
    },
    TEST_TIMEOUT_MS,
  );
});
