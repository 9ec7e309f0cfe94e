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
        events: Array.from({ length: count }, () => ({}) as GatehouseEvent),
        token: `t/${run.partition}/${first}-${last}`,
      };
    },
    commit: async () => undefined,
    close: async () => undefined,
    lag: async () => undefined,
  };
}

describe('BatchReader', () => {
  const reader = (runs: Parameters<typeof scriptedConsumer>[0], maxEvents: number) =>
    new BatchReader(scriptedConsumer(runs), {
      maxEvents,
      maxWaitMs: 50,
      signal: new AbortController().signal,
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
    expect(full.batch.token).toBe('t/0/0-9');
    expect(full.moreWaiting).toBe(true);
    const switched = await read.next();
    expect(switched.batch.token).toBe('t/0/10-11');
    expect(switched.moreWaiting).toBe(true);
    const tail = await read.next();
    expect(tail.batch.token).toBe('t/1/0-2');
    expect(tail.moreWaiting).toBe(false);
  });
});
