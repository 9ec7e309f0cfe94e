import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { decodeEvent, type GatehouseEvent } from '@gatehouse/events';
import { afterEach, describe, expect, it } from 'vitest';
import {
  openKafkaLog,
  type KafkaConsumer,
  type KafkaEventLog,
  type LogBatch,
  type LogConsumer,
} from '../src/index.js';
import { kafkaBrokers } from '../../../test/support/kafka-brokers.js';
import { connectTestAdmin, kafkaTestOptions } from './kafka-test-options.js';
import { sessionCalls } from './support/sample-events.js';

const run = promisify(execFile);

/** The committed offset per partition of `group` on `topic` (-1 = none). */
async function committedOffsets(group: string, topic: string): Promise<Map<number, bigint>> {
  const admin = await connectTestAdmin();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return new Map((offsets?.partitions ?? []).map((entry) => [entry.partition, BigInt(entry.offset)]));
  } finally {
    await admin.disconnect();
  }
}
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const handle of open.splice(0).reverse()) await handle.close().catch(() => undefined);
});

async function openLog(topic?: string): Promise<KafkaEventLog> {
  const log = await openKafkaLog(kafkaTestOptions(kafkaBrokers(), topic === undefined ? {} : { topic }));
  open.push(log);
  return log;
}

/** Reads until `count` events arrived or 40 empty polls in a row; commits each batch if asked. */
async function drain(consumer: LogConsumer, count: number, commit: boolean): Promise<LogBatch[]> {
  const batches: LogBatch[] = [];
  let received = 0;
  for (let idle = 0; received < count && idle < 40;) {
    const batch = await consumer.next({ maxEvents: 50, maxWaitMs: 250 });
    if (batch.events.length === 0) {
      idle++;
      continue;
    }
    idle = 0;
    batches.push(batch);
    received += batch.events.length;
    if (commit) await consumer.commit(batch);
  }
  return batches;
}

const ids = (events: readonly GatehouseEvent[]) => events.map((event) => event.id);
const eventsOf = (batches: readonly LogBatch[]) => batches.flatMap((batch) => batch.events);

describe('Kafka event log: partitions and consumer groups', () => {
  it('keys records by session_id: each session stays in one partition, in order, while sessions spread over partitions', async () => {
    const log = await openLog();
    const sessions = Array.from({ length: 24 }, (_, i) => sessionCalls(`s-part-${i}`, 8));
    await Promise.all(
      sessions.map(async (calls) => {
        for (const call of calls) await log.append([call]);
      }),
    );

    const consumer = await log.openConsumer('ordering', { fromBeginning: true });
    const batches = await drain(consumer, 24 * 8, false);

    const partitionsOf = new Map<string, Set<number>>();
    for (const batch of batches) {
      for (const event of batch.events) {
        const seen = partitionsOf.get(event.session_id) ?? new Set<number>();
        seen.add(batch.partition);
        partitionsOf.set(event.session_id, seen);
      }
    }
    expect(eventsOf(batches)).toHaveLength(24 * 8);
    for (const seen of partitionsOf.values()) expect(seen.size).toBe(1);
    expect(new Set(batches.map((batch) => batch.partition)).size).toBeGreaterThan(1);
    for (const calls of sessions) {
      const received = eventsOf(batches).filter((event) => event.session_id === calls[0]!.session_id);
      expect(received.map((event) => event.seq)).toEqual(calls.map((call) => call.seq));
    }
  });

  it('resumes from the committed offsets of every partition after a restart, delivering only what was not committed', async () => {
    const log = await openLog();
    const appended = Array.from({ length: 12 }, (_, i) => sessionCalls(`s-resume-${i}`, 5)).flat();
    await log.append(appended);

    const first = await log.openConsumer('resume');
    const batches = await drain(first, appended.length, false);
    const committed = batches.filter((_, index) => index % 2 === 0);
    for (const batch of committed) await first.commit(batch);
    await first.close();

    const restarted = await openLog(log.topic);
    const second = await restarted.openConsumer('resume');
    const expected = appended.length - eventsOf(committed).length;
    const redelivered = eventsOf(await drain(second, expected, false));

    const committedIds = new Set(ids(eventsOf(committed)));
    expect(new Set(ids(redelivered))).toEqual(new Set(ids(appended).filter((id) => !committedIds.has(id))));
    expect(redelivered).toHaveLength(expected);
  });

  it('splits the partitions between two consumers of one group; no committed event reaches both', async () => {
    const logA = await openLog();
    const logB = await openLog(logA.topic);
    const a = await logA.openConsumer('split');
    const b = await logB.openConsumer('split');
    await waitForSplit(a, b, logA.partitions);

    const appended = Array.from({ length: 30 }, (_, i) => sessionCalls(`s-split-${i}`, 4)).flat();
    await logA.append(appended);
    const [fromA, fromB] = await Promise.all([
      drainShare(a, b, appended.length),
      drainShare(b, a, appended.length),
    ]);

    const idsA = new Set(ids(eventsOf(fromA)));
    const idsB = new Set(ids(eventsOf(fromB)));
    expect(idsA.size).toBeGreaterThan(0);
    expect(idsB.size).toBeGreaterThan(0);
    expect([...idsA].filter((id) => idsB.has(id))).toEqual([]);
    expect(new Set([...idsA, ...idsB])).toEqual(new Set(ids(appended)));
    const partitionsB = new Set(fromB.map((batch) => batch.partition));
    expect(fromA.filter((batch) => partitionsB.has(batch.partition))).toEqual([]);
  });

  it('does not commit a batch of a partition a rebalance moved to another member, and that member reads it', async () => {
    const logA = await openLog();
    const appended = Array.from({ length: 10 }, (_, i) => sessionCalls(`s-revoke-${i}`, 2)).flat();
    await logA.append(appended);
    const topic = logA.topic;
    const a = await logA.openConsumer('revoke');
    const held = await drain(a, appended.length, false);
    expect(new Set(held.map((batch) => batch.partition)).size).toBeGreaterThan(1);

    const logB = await openLog(topic);
    const b = await logB.openConsumer('revoke');
    const receivedByB: LogBatch[] = [];
    for (let attempt = 0; attempt < 150; attempt++) {
      const [, fromB] = await Promise.all([
        a.next({ maxEvents: 50, maxWaitMs: 100 }),
        b.next({ maxEvents: 50, maxWaitMs: 100 }),
      ]);
      if (fromB.events.length > 0) receivedByB.push(fromB);
      if (a.assignedPartitions().length > 0 && b.assignedPartitions().length > 0) break;
    }
    const keptByA = new Set(a.assignedPartitions());
    for (const batch of held) await a.commit(batch);
    const moved = eventsOf(held.filter((batch) => !keptByA.has(batch.partition))).length;
    receivedByB.push(...(await drain(b, moved - eventsOf(receivedByB).length, false)));

    const committed = await committedOffsets('revoke', topic);
    for (const batch of held) {
      if (keptByA.has(batch.partition))
        expect(committed.get(batch.partition)).toBeGreaterThan(BigInt(batch.lastOffset));
      else expect(committed.get(batch.partition) ?? -1n).toBe(-1n);
    }
    const movedIds = new Set(ids(eventsOf(held.filter((batch) => !keptByA.has(batch.partition)))));
    expect(movedIds.size).toBeGreaterThan(0);
    expect(new Set(ids(eventsOf(receivedByB)))).toEqual(movedIds);
  });

  it('re-creates exactly a recorded batch after a restart when asked for it with untilOffset (single partition)', async () => {
    const log = await openKafkaLog(kafkaTestOptions(kafkaBrokers(), { partitions: 1 }));
    open.push(log);
    await log.append(sessionCalls('s-until', 10));
    const first = await log.openConsumer('until');
    let recorded = await first.next({ maxEvents: 4, maxWaitMs: 250 });
    for (let idle = 0; recorded.events.length === 0 && idle < 40; idle++)
      recorded = await first.next({ maxEvents: 4, maxWaitMs: 250 });
    expect(recorded.events).toHaveLength(4);
    await first.close();

    const again = await log.openConsumer('until');
    const replayed = await again.next({ maxEvents: 100, maxWaitMs: 5_000, untilOffset: recorded.lastOffset });
    expect(replayed.token).toBe(recorded.token);
    expect(ids(replayed.events)).toEqual(ids(recorded.events));
  });

  it('writes records that kcat reads back, each one a valid event keyed by its session_id', async () => {
    const log = await openLog();
    const appended = [...sessionCalls('s-kcat-1', 3), ...sessionCalls('s-kcat-2', 3)];
    await log.append(appended);

    const { stdout } = await run(
      'kcat',
      [
        '-b',
        kafkaBrokers().join(','),
        '-t',
        log.topic,
        '-C',
        '-e',
        '-o',
        'beginning',
        '-q',
        '-f',
        '%k\t%s\n',
      ],
      {
        timeout: 30_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    const records = stdout
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => {
        const tab = line.indexOf('\t');
        return { key: line.slice(0, tab), event: decodeEvent(line.slice(tab + 1)) };
      });

    expect(records).toHaveLength(appended.length);
    for (const record of records) expect(record.key).toBe(record.event.session_id);
    expect(new Set(records.map((record) => record.event.id))).toEqual(new Set(ids(appended)));
  });
});

/** Waits (bounded) until `a` and `b` own disjoint, non-empty sets of partitions covering all. */
async function waitForSplit(a: KafkaConsumer, b: KafkaConsumer, partitions: number): Promise<void> {
  for (let attempt = 0; attempt < 150; attempt++) {
    // Polling lets both members heartbeat and take part in the rebalance.
    await Promise.all([a.next({ maxEvents: 1, maxWaitMs: 100 }), b.next({ maxEvents: 1, maxWaitMs: 100 })]);
    const pa = a.assignedPartitions();
    const pb = b.assignedPartitions();
    if (
      pa.length > 0 &&
      pb.length > 0 &&
      pa.length + pb.length === partitions &&
      pa.every((p) => !pb.includes(p))
    )
      return;
  }
  throw new Error(
    `the group did not split ${partitions} partitions: a=${a.assignedPartitions()} b=${b.assignedPartitions()}`,
  );
}

/** Drains and commits until both consumers together have `total` events. */
const shared = new WeakMap<KafkaConsumer, number>();
async function drainShare(self: KafkaConsumer, other: KafkaConsumer, total: number): Promise<LogBatch[]> {
  const batches: LogBatch[] = [];
  for (let idle = 0; idle < 40 && (shared.get(self) ?? 0) + (shared.get(other) ?? 0) < total;) {
    const batch = await self.next({ maxEvents: 50, maxWaitMs: 250 });
    if (batch.events.length === 0) {
      idle++;
      continue;
    }
    await self.commit(batch);
    batches.push(batch);
    shared.set(self, (shared.get(self) ?? 0) + batch.events.length);
  }
  return batches;
}
