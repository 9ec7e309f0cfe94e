import { describe, expect, it } from 'vitest';
import { ChainRegistry, createEvent, sha256Hex, type GatehouseEvent } from '@gatehouse/events';
import type { AuditStore } from '@gatehouse/store';
import { PublishedHistory } from '../src/index.js';

const policy = (chains: ChainRegistry, tsMs: number, tag: string) =>
  chains.seal(
    createEvent(
      'policy.published',
      { session_id: 'policy' },
      { version: sha256Hex(tag), model: 'm', rules: [], source: tag },
      {},
      tsMs,
    ),
  );

/** A store that holds the `policy` stream, counts the reads of it, and can hold reads back. */
function streamStore(events: GatehouseEvent[]) {
  let reads = 0;
  let gate: Promise<void> = Promise.resolve();
  let open = () => {};
  const store = {
    async sessionEvents(stream: string, options: { fromSeq?: number } = {}) {
      reads += 1;
      await gate;
      return events
        .filter((e) => e.session_id === stream && e.seq >= (options.fromSeq ?? 0))
        .sort((a, b) => a.seq - b.seq);
    },
    async catalogsAt() {
      return [];
    },
  } as unknown as AuditStore;
  return {
    store,
    reads: () => reads,
    holdReads: () => (gate = new Promise((resolve) => (open = resolve))),
    releaseReads: () => open(),
  };
}

describe('PublishedHistory', () => {
  it('answers about the settled past from memory, and waits for a fresh read about recent instants', async () => {
    const chains = new ChainRegistry();
    const events = [policy(chains, 1_000, 'a')];
    const { store, reads, holdReads, releaseReads } = streamStore(events);
    let now = 100_000;
    const history = new PublishedHistory(store, { refreshMs: 1_000, settleMs: 10_000, now: () => now });

    expect((await history.policyAt(new Date(50_000)))?.data.source).toBe('a');
    events.push(policy(chains, 60_000, 'b'));
    now += 5_000;

    // 70 s is settled (before the last read minus 10 s): answered at once while the refresh is held.
    holdReads();
    expect((await history.policyAt(new Date(70_000)))?.data.source).toBe('a');
    // Now is not settled: it waits for the read and sees the newer policy.
    const recent = history.policyAt(new Date(now));
    releaseReads();
    expect((await recent)?.data.source).toBe('b');
    expect(reads()).toBeGreaterThanOrEqual(2);
  });

  it('with refreshMs 0 reads what was appended before every answer, and stops at a gap in the stream', async () => {
    const chains = new ChainRegistry();
    const first = policy(chains, 1_000, 'a');
    const second = policy(chains, 2_000, 'b');
    const third = policy(chains, 3_000, 'c');
    const events = [first, third];
    const history = new PublishedHistory(streamStore(events).store, { refreshMs: 0 });
    expect((await history.policyAt(new Date(5_000)))?.data.source).toBe('a');
    events.push(second);
    expect((await history.policyAt(new Date(5_000)))?.data.source).toBe('c');
    expect((await history.policyByVersion(sha256Hex('b')))?.seq).toBe(1);
  });
});
