import { describe, expect, it } from 'vitest';
import { ChainRegistry, createEvent, sha256Hex, type EventOf, type GatehouseEvent } from '@gatehouse/events';
import type { AuditStore } from '@gatehouse/store';
import { PublishedHistory } from '../src/index.js';

type Publication = EventOf<'policy.published'> | EventOf<'catalog.published'>;

const policy = (chains: ChainRegistry, tsMs: number, tag: string) =>
  chains.seal(
    createEvent(
      'policy.published',
      { session_id: 'policy' },
      { version: sha256Hex(tag), model: 'm', rules: [], source: tag },
      {},
      tsMs,
    ),
  ) as Publication;

const catalog = (chains: ChainRegistry, tsMs: number, server: string, tool: string) =>
  chains.seal(
    createEvent(
      'catalog.published',
      { session_id: `catalog:${server}` },
      {
        version: sha256Hex(`${server}/${tool}`),
        tools: [{ name: tool, description: null, input_schema_sha256: sha256Hex(tool) }],
      },
      { server },
      tsMs,
    ),
  ) as Publication;

/** A store holding publications in the order they reached it; counts reads and can hold them back. */
function publicationStore(events: GatehouseEvent[]) {
  const reads: Array<number | undefined> = [];
  let gate: Promise<void> = Promise.resolve();
  let open = () => {};
  const store = {
    async publishedSince(since?: Date) {
      reads.push(since?.getTime());
      await gate;
      return (events as Publication[])
        .filter((e) => since === undefined || Date.parse(e.ts) >= since.getTime())
        .sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts) || (a.id < b.id ? -1 : 1));
    },
  } as unknown as AuditStore;
  return {
    store,
    reads,
    holdReads: () => (gate = new Promise((resolve) => (open = resolve))),
    releaseReads: () => open(),
  };
}

describe('PublishedHistory', () => {
  it('answers about the settled past from memory, and waits for a fresh read about recent instants', async () => {
    const chains = new ChainRegistry();
    const events: GatehouseEvent[] = [policy(chains, 1_000, 'a')];
    const { store, reads, holdReads, releaseReads } = publicationStore(events);
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
    expect(reads.length).toBeGreaterThanOrEqual(2);
  });

  it('sees a policy published again at seq 0 on a new chain (an ingress restarted, or a second node)', async () => {
    const first = policy(new ChainRegistry(), 1_000, 'a');
    const second = policy(new ChainRegistry(), 2_000, 'b');
    expect([first.seq, second.seq]).toEqual([0, 0]);
    const events: GatehouseEvent[] = [first];
    const history = new PublishedHistory(publicationStore(events).store, { refreshMs: 0 });
    expect((await history.policyAt(new Date(5_000)))?.data.source).toBe('a');
    events.push(second);
    expect((await history.policyAt(new Date(5_000)))?.data.source).toBe('b');
    expect((await history.policyAt(new Date(1_500)))?.data.source).toBe('a');
    expect((await history.policyByVersion(sha256Hex('a')))?.id).toBe(first.id);
  });

  it('reads from the newest publication minus the overlap, and everything again every fullReadMs', async () => {
    const chains = new ChainRegistry();
    const events: GatehouseEvent[] = [policy(chains, 10_000_000, 'a')];
    const { store, reads } = publicationStore(events);
    let now = 20_000_000;
    const history = new PublishedHistory(store, {
      refreshMs: 0,
      overlapMs: 600_000,
      fullReadMs: 60_000,
      now: () => now,
    });
    expect((await history.policyAt(new Date(now)))?.data.source).toBe('a');
    // Projected late: older than the overlap, so only the next full read finds it.
    events.push(policy(chains, 1_000, 'late'));
    now += 1_000;
    expect((await history.policyAt(new Date(5_000)))?.data.source).toBeUndefined();
    now += 60_000;
    expect((await history.policyAt(new Date(5_000)))?.data.source).toBe('late');
    expect(reads).toEqual([undefined, 10_000_000 - 600_000, undefined]);
  });

  it('finds policies by the start of their version: each version once, by its first publication', async () => {
    const shared = 'ab'.repeat(6);
    const versioned = (tsMs: number, version: string) =>
      new ChainRegistry().seal(
        createEvent(
          'policy.published',
          { session_id: 'policy' },
          { version, model: 'm', rules: [], source: version.slice(-1) },
          {},
          tsMs,
        ),
      ) as Publication;
    const first = versioned(1_000, `${shared}${'0'.repeat(52)}`);
    const again = versioned(2_000, `${shared}${'0'.repeat(52)}`);
    const other = versioned(3_000, `${shared}${'1'.repeat(52)}`);
    const history = new PublishedHistory(publicationStore([other, again, first]).store, { refreshMs: 0 });
    expect((await history.policiesByVersionPrefix(shared)).map((e) => e.id)).toEqual([first.id, other.id]);
    expect((await history.policiesByVersionPrefix(`${shared}1`)).map((e) => e.id)).toEqual([other.id]);
    expect((await history.policiesByVersionPrefix(first.data.version)).map((e) => e.id)).toEqual([first.id]);
    expect(await history.policiesByVersionPrefix('cd'.repeat(6))).toEqual([]);
  });

  it('keeps the latest catalog of each server, whatever chain carried it', async () => {
    const events: GatehouseEvent[] = [
      catalog(new ChainRegistry(), 1_000, 'support', 'read_ticket'),
      catalog(new ChainRegistry(), 2_000, 'support', 'draft_reply'),
      catalog(new ChainRegistry(), 1_500, 'billing', 'refund'),
    ];
    const history = new PublishedHistory(publicationStore(events).store, { refreshMs: 0 });
    const at = async (ms: number) =>
      (await history.catalogsAt(new Date(ms))).map((e) => `${e.server}:${e.data.tools[0]!.name}`);
    expect(await at(1_200)).toEqual(['support:read_ticket']);
    expect(await at(3_000)).toEqual(['billing:refund', 'support:draft_reply']);
  });
});
