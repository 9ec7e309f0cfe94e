import type { LogBatch, LogConsumer } from '@gatehouse/eventlog';
import type { GatehouseEvent } from '@gatehouse/events';
import { describe, expect, it } from 'vitest';
import { assembledToken, BatchReader } from '../src/batch-reader.js';

const batch = (token: string, firstOffset: string, lastOffset: string): LogBatch => ({
  partition: 3,
  firstOffset,
  lastOffset,
  events: [],
  token,
});

describe('assembled batch tokens', () => {
  it('extend the adapter token format <topic>/<partition>/<first>-<last> to the new last offset', () => {
    expect(assembledToken(batch('embedded/0/10-19', '10', '19'), '42')).toBe('embedded/0/10-42');
    expect(assembledToken(batch('gatehouse.events/3/100-100', '100', '100'), '250')).toBe(
      'gatehouse.events/3/100-250',
    );
  });

  it('fall back to a suffix for tokens of another shape, still deterministic', () => {
    expect(assembledToken(batch('opaque', '1', '2'), '9')).toBe('opaque..9');
  });
});

/** A consumer that hands out the given runs in order, then empty batches. */
function scriptedConsumer(runs: { partition: number; first: number; count: number }[]): LogConsumer {
  const queue = [...runs];
  return {
    next: async ({ maxEvents }) => {
      const run = queue[0];
      if (!run) return { partition: -1, firstOffset: '0', lastOffset: '0', events: [], token: 'empty' };
      const count = Math.min(run.count, maxEvents);
      const first = run.first;
      if (count === run.count) queue.shift();
      else queue[0] = { ...run, first: first + count, count: run.count - count };
      const last = first + count - 1;
      return {
        partition: run.partition,
        firstOffset: String(first),
        lastOffset: String(last),
        events: Array.from(
          { length: count },
          (_, i) => ({ id: `${run.partition}:${first + i}` }) as GatehouseEvent,
        ),
        token: `t/${run.partition}/${first}-${last}`,
      };
    },
    commit: async () => undefined,
    close: async () => undefined,
    lag: async () => undefined,
    end: async () => undefined,
  };
}

describe('BatchReader', () => {
  const reader = (runs: Parameters<typeof scriptedConsumer>[0], maxEvents: number, crossPartition = false) =>
    new BatchReader(scriptedConsumer(runs), {
      maxEvents,
      maxWaitMs: 50,
      crossPartition,
      signal: new AbortController().signal,
      source: 'kafka',
      attempt: (_what, operation) => operation(),
    });

  it('says more is waiting after a full batch and where another partition begins, not at the tail', async () => {
    const read = reader(
      [
        { partition: 0, first: 0, count: 8 },
        { partition: 0, first: 8, count: 4 },
        { partition: 1, first: 0, count: 3 },
      ],
      10,
    );
    const full = await read.next();
    expect(full.token).toBe('t/0/0-9');
    expect(full.moreWaiting).toBe(true);
    const switched = await read.next();
    expect(switched.token).toBe('t/0/10-11');
    expect(switched.moreWaiting).toBe(true);
    const tail = await read.next();
    expect(tail.token).toBe('t/1/0-2');
    expect(tail.moreWaiting).toBe(false);
  });

  it('assembles interleaved partitions into one batch: ranges in partition order, each committed at its last read', async () => {
    const read = reader(
      [
        { partition: 2, first: 10, count: 3 },
        { partition: 0, first: 5, count: 2 },
        { partition: 2, first: 13, count: 2 },
        { partition: 1, first: 0, count: 1 },
      ],
      100,
      true,
    );
    const batch = await read.next();
    expect(batch.token).toBe('t/0/5-6+t/1/0-0+t/2/10-14');
    expect(batch.ranges.map((r) => [r.partition, r.firstOffset, r.lastOffset])).toEqual([
      [0, '5', '6'],
      [1, '0', '0'],
      [2, '10', '14'],
    ]);
    expect(batch.commitWith.map((b) => b.token)).toEqual(['t/0/5-6', 't/1/0-0', 't/2/13-14']);
    expect(batch.events.map((e) => e.id)).toEqual([
      '0:5',
      '0:6',
      '1:0',
      '2:10',
      '2:11',
      '2:12',
      '2:13',
      '2:14',
    ]);
    expect(batch.moreWaiting).toBe(false);
    expect((await read.next()).events).toEqual([]);
  });

  it('stops a cross-partition batch at maxEvents and says more is waiting', async () => {
    const read = reader(
      [
        { partition: 0, first: 0, count: 6 },
        { partition: 1, first: 0, count: 6 },
      ],
      10,
      true,
    );
    const full = await read.next();
    expect(full.token).toBe('t/0/0-5+t/1/0-3');
    expect(full.moreWaiting).toBe(true);
    const rest = await read.next();
    expect(rest.token).toBe('t/1/4-5');
    expect(rest.ranges).toHaveLength(1);
  });

  it('re-reads a journaled range within its partition even where batches may cross partitions', async () => {
    const read = reader(
      [
        { partition: 0, first: 0, count: 2 },
        { partition: 1, first: 0, count: 4 },
        { partition: 0, first: 2, count: 2 },
      ],
      100,
      true,
    );
    const again = await read.next('3');
    expect(again.token).toBe('t/0/0-1');
    expect(again.commitWith.map((b) => b.token)).toEqual(['t/0/0-1']);
    // The other partition's read starts the next batch, which may cross partitions again.
    expect((await read.next()).token).toBe('t/0/2-3+t/1/0-3');
  });

  it('hashes the token of a batch over many partitions, keeping it deterministic and short', async () => {
    const runs = Array.from({ length: 64 }, (_, partition) => ({
      partition,
      first: 123_456_789_000 + partition,
      count: 1,
    }));
    const first = await reader(runs, 1_000, true).next();
    const again = await reader([...runs].reverse(), 1_000, true).next();
    expect(first.ranges).toHaveLength(64);
    expect(first.token).toMatch(/^64-ranges\/[0-9a-f]{64}$/);
    expect(again.token).toBe(first.token);
  });
});
