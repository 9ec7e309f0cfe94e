import { randomUUID } from 'node:crypto';
import { ChainRegistry, type GatehouseEvent } from '@gatehouse/events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog, LogBatch, LogConsumer } from '../src/index.js';
import { sessionCalls } from './support/sample-events.js';

/** What a contract run needs from an adapter's test file. */
export interface EventLogHarness {
  /** An open, EMPTY log (Kafka: a fresh topic). */
  log: EventLog;
  /**
   * Closes nothing itself: returns a new handle on the same log (same records and committed
   * positions), as after a process restart. The contract closes the old handle first. Optional.
   */
  reopen?: () => Promise<EventLog>;
  /** Closes every handle still open and removes what the harness created. */
  cleanup(): Promise<void>;
}

/** Upper bound on consecutive empty batches while draining before a test gives up. */
const IDLE_BATCHES = 40;
const WAIT_MS = 250;

/** A fresh consumer-group name, so that no test sees another's committed position. */
function groupName(): string {
  return `contract-${randomUUID().slice(0, 8)}`;
}

/** Reads batches until `count` events arrived (or the log stays idle); returns the batches. */
async function drain(consumer: LogConsumer, count: number, maxEvents = 100): Promise<LogBatch[]> {
  const batches: LogBatch[] = [];
  let received = 0;
  let idle = 0;
  while (received < count && idle < IDLE_BATCHES) {
    const batch = await consumer.next({ maxEvents, maxWaitMs: WAIT_MS });
    if (batch.events.length === 0) {
      idle++;
      continue;
    }
    idle = 0;
    batches.push(batch);
    received += batch.events.length;
  }
  return batches;
}

/** The first non-empty batch. */
async function nextNonEmpty(consumer: LogConsumer, maxEvents: number): Promise<LogBatch> {
  for (let idle = 0; idle < IDLE_BATCHES; idle++) {
    const batch = await consumer.next({ maxEvents, maxWaitMs: WAIT_MS });
    if (batch.events.length > 0) return batch;
  }
  throw new Error(`no batch arrived after ${IDLE_BATCHES} waits of ${WAIT_MS} ms`);
}

const ids = (events: readonly GatehouseEvent[]) => events.map((event) => event.id);
const eventsOf = (batches: readonly LogBatch[]) => batches.flatMap((batch) => batch.events);

/**
 * The guarantees every `EventLog` adapter gives (see `event-log.ts`), as one suite. Each adapter's
 * test file calls it with a factory for an empty log:
 *
 *   describeEventLogContract('embedded', async () => { … return { log, reopen, cleanup }; });
 */
export function describeEventLogContract(name: string, makeLog: () => Promise<EventLogHarness>): void {
  describe(`EventLog contract: ${name}`, () => {
    let harness: EventLogHarness;
    let log: EventLog;

    beforeEach(async () => {
      harness = await makeLog();
      log = harness.log;
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it('makes appended events readable, in append order, once append has resolved', async () => {
      const registry = new ChainRegistry();
      const appended = sessionCalls('s-order', 6, registry);
      await log.append(appended.slice(0, 1));
      await log.append(appended.slice(1, 3));
      await log.append(appended.slice(3));

      const consumer = await log.openConsumer(groupName(), { fromBeginning: true });
      const batches = await drain(consumer, appended.length);
      await consumer.close();

      expect(ids(eventsOf(batches))).toEqual(ids(appended));
      expect(eventsOf(batches)).toEqual(appended);
    });

    it('gives every batch consecutive offsets and a token naming its partition and offset range', async () => {
      await log.append(sessionCalls('s-token', 5));
      const consumer = await log.openConsumer(groupName(), { fromBeginning: true });
      const batches = await drain(consumer, 5, 2);
      await consumer.close();

      let expectedFirst = BigInt(batches[0]!.firstOffset);
      for (const batch of batches) {
        expect(BigInt(batch.firstOffset)).toBe(expectedFirst);
        expect(BigInt(batch.lastOffset) - BigInt(batch.firstOffset) + 1n).toBe(BigInt(batch.events.length));
        expect(batch.token.endsWith(`/${batch.partition}/${batch.firstOffset}-${batch.lastOffset}`)).toBe(
          true,
        );
        expectedFirst = BigInt(batch.lastOffset) + 1n;
      }
    });

    it("keeps each session's order when many sessions append concurrently", async () => {
      const sessions = Array.from({ length: 8 }, (_, i) => sessionCalls(`s-concurrent-${i}`, 25));
      await Promise.all(
        sessions.map(async (calls) => {
          for (const call of calls) await log.append([call]);
        }),
      );

      const consumer = await log.openConsumer(groupName(), { fromBeginning: true });
      const received = eventsOf(await drain(consumer, 200));
      await consumer.close();

      expect(received).toHaveLength(200);
      expect(new Set(ids(received)).size).toBe(200);
      for (const calls of sessions) {
        const sessionId = calls[0]!.session_id;
        expect(received.filter((event) => event.session_id === sessionId).map((event) => event.seq)).toEqual(
          calls.map((call) => call.seq),
        );
      }
    });

    it('resumes a group at its committed position and delivers an uncommitted batch again', async () => {
      const appended = sessionCalls('s-resume', 10);
      await log.append(appended);
      const group = groupName();

      const first = await log.openConsumer(group, { fromBeginning: true });
      const committed = await nextNonEmpty(first, 4);
      await first.commit(committed);
      const uncommitted = await nextNonEmpty(first, 4);
      await first.close();
      if (harness.reopen) {
        await log.close();
        log = await harness.reopen();
      }

      const second = await log.openConsumer(group);
      const redelivered = eventsOf(await drain(second, appended.length - committed.events.length));
      await second.close();

      expect(redelivered[0]?.id).toBe(uncommitted.events[0]!.id);
      expect(ids(redelivered)).toEqual(ids(appended.slice(committed.events.length)));
    });

    it('ignores the committed position when asked to read from the beginning', async () => {
      const appended = sessionCalls('s-beginning', 3);
      await log.append(appended);
      const group = groupName();
      const first = await log.openConsumer(group, { fromBeginning: true });
      for (const batch of await drain(first, 3)) await first.commit(batch);
      await first.close();

      const again = await log.openConsumer(group, { fromBeginning: true });
      const received = eventsOf(await drain(again, 3));
      await again.close();

      expect(ids(received)).toEqual(ids(appended));
    });

    it('never returns more than maxEvents events in one batch', async () => {
      const appended = sessionCalls('s-max', 10);
      await log.append(appended);
      const consumer = await log.openConsumer(groupName(), { fromBeginning: true });
      const batches = await drain(consumer, 10, 3);
      await consumer.close();

      for (const batch of batches) expect(batch.events.length).toBeLessThanOrEqual(3);
      expect(ids(eventsOf(batches))).toEqual(ids(appended));
    });

    it('returns an empty batch when nothing arrives within maxWaitMs', async () => {
      const consumer = await log.openConsumer(groupName(), { fromBeginning: true });
      const batch = await consumer.next({ maxEvents: 10, maxWaitMs: 100 });
      await consumer.close();

      expect(batch.events).toEqual([]);
    });

    it('ends a wait early with an empty batch when the signal aborts', async () => {
      const consumer = await log.openConsumer(groupName(), { fromBeginning: true });
      const controller = new AbortController();
      const pending = consumer.next({ maxEvents: 10, maxWaitMs: 10 * 60_000, signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      const batch = await pending;
      await consumer.close();

      expect(batch.events).toEqual([]);
    });

    it('wakes a waiting consumer with events appended while it waits', async () => {
      const consumer = await log.openConsumer(groupName(), { fromBeginning: true });
      const pending = consumer.next({ maxEvents: 1, maxWaitMs: 10 * 60_000 });
      const [event] = sessionCalls('s-wake', 1);
      await log.append([event!]);
      const batch = await pending;
      await consumer.close();

      expect(ids(batch.events)).toEqual([event!.id]);
    });

    it('reports lag as the events past the committed position, when it knows it', async () => {
      await log.append(sessionCalls('s-lag', 5));
      const consumer = await log.openConsumer(groupName(), { fromBeginning: true });
      const before = await consumer.lag();
      for (const batch of await drain(consumer, 5)) await consumer.commit(batch);
      const after = await consumer.lag();
      await consumer.close();

      // An adapter that cannot tell answers undefined both times; one that can must be exact.
      expect([before, after]).toSatisfy(
        ([b, a]: (number | undefined)[]) => (b === undefined && a === undefined) || (b === 5 && a === 0),
      );
    });

    it('measures lag up to an end taken earlier, not counting what was appended since', async () => {
      await log.append(sessionCalls('s-mark', 4));
      const consumer = await log.openConsumer(groupName(), { fromBeginning: true });
      const mark = await consumer.end();
      await log.append(sessionCalls('s-after-mark', 3));
      const [toMark, live] = [await consumer.lag(mark), await consumer.lag()];
      for (const batch of await drain(consumer, 7)) await consumer.commit(batch);
      const atMark = await consumer.lag(mark);
      await consumer.close();

      // An adapter that cannot tell answers undefined; one that can must be exact.
      if (mark === undefined) {
        expect([toMark, atMark]).toEqual([undefined, undefined]);
        return;
      }
      expect({ toMark, live, atMark }).toEqual({ toMark: 4, live: 7, atMark: 0 });
    });

    it('rejects appends after close with GH_ERR_LOG_CLOSED', async () => {
      await log.close();
      await expect(log.append(sessionCalls('s-closed', 1))).rejects.toMatchObject({
        code: 'GH_ERR_LOG_CLOSED',
        nothingWritten: true,
      });
    });
  });
}
