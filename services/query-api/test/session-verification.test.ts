import { describe, expect, it } from 'vitest';
import {
  ChainRegistry,
  computeEventHash,
  events as constructors,
  sealEvent,
  sha256Hex,
  type ChainHead,
  type EventContext,
  type EventOf,
  type GatehouseEvent,
  verifyChain,
} from '@gatehouse/events';
import type { AuditStore, SessionEventsOptions } from '@gatehouse/store';
import { storedSessionPages, withoutIdenticalCopies } from '../src/session-pages.js';
import {
  verifySessionEvents,
  type SessionCheckpoints,
  type SessionVerification,
} from '../src/session-verification.js';

const SESSION = 'sess-paged';
const ctx: EventContext = {
  session_id: SESSION,
  agent: 'support-bot',
  user: 'alice',
  scopes: ['mcp:tools'],
  client_ip: '127.0.0.1',
  user_agent: 'vitest',
};
const decision = { allowed: true, rule: 'allow support-bot support__*', policy_version: 'a'.repeat(64) };

/** A session of `length` events on one chain. */
function session(length: number): GatehouseEvent[] {
  const chains = new ChainRegistry();
  const out: GatehouseEvent[] = [];
  for (let i = 0; i < length; i++) {
    const call = {
      server: 'support',
      tool: 'support__read_ticket',
      request_id: String(i),
      args: { ticket: i },
      args_sha256: sha256Hex(`{"ticket":${i}}`),
    };
    out.push(chains.seal(constructors.callAttempted(ctx, call, decision)));
  }
  return out;
}

/**
 * The store's side of paging, in memory: every stored row of the session, in seq, id order (as
 * ClickHouse answers `sessionEvents` with `allCopies`), from `fromSeq`, at most `limit`. A `short`
 * store answers a row less than it could, as ClickHouse does when the session index and the events
 * table hold different numbers of copies: a short page is not the end of the session.
 */
function storeOf(rows: readonly GatehouseEvent[], short = false): Pick<AuditStore, 'sessionEvents'> {
  const sorted = [...rows].sort((a, b) => a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    sessionEvents: (id: string, options: SessionEventsOptions = {}) => {
      expect(options.allCopies).toBe(true);
      const from = sorted.filter((event) => event.session_id === id && event.seq >= (options.fromSeq ?? 0));
      const limit =
        options.limit === undefined ? from.length : short ? Math.max(1, options.limit - 1) : options.limit;
      return Promise.resolve(from.slice(0, limit));
    },
  };
}

async function verifyPaged(
  rows: readonly GatehouseEvent[],
  pageRows: number,
  found: SessionCheckpoints = { rejected: [] },
  short = false,
): Promise<SessionVerification> {
  const next = storedSessionPages(storeOf(rows, short), SESSION, { allCopies: true, pageRows });
  return verifySessionEvents(SESSION, await next(), found, next);
}

const head = (event: GatehouseEvent): ChainHead => ({ seq: event.seq, hash: event.hash });
const anchoredAt = (signed: ChainHead): SessionCheckpoints => ({
  anchor: {
    event: sealEvent(
      constructors.checkpointSigned('checkpoint:test', { jws: 'x', kid: 'k', heads: [] }),
      undefined,
    ) as EventOf<'checkpoint.signed'>,
    head: signed,
    kid: 'k',
    signedAt: '2026-11-29T00:00:00.000Z',
  },
  rejected: [],
});

const chain = session(12);
const at = (i: number) => chain[i]!;
/** An edit that keeps the stored hash, and the same edit re-hashed. */
const edited = (event: GatehouseEvent) => ({ ...event, tool: 'support__export_customers' }) as GatehouseEvent;
const rehashed = (event: GatehouseEvent) => ({ ...event, hash: computeEventHash(event) }) as GatehouseEvent;
const without = (...indexes: number[]) => chain.filter((_, i) => !indexes.includes(i));
const replaced = (index: number, event: GatehouseEvent) => chain.map((e, i) => (i === index ? event : e));
/** A second event with seq `index`, forking from the same predecessor. */
const forkAt = (index: number) => [
  ...chain,
  sealEvent(
    constructors.callAttempted(
      ctx,
      {
        server: 'support',
        tool: 'support__refund',
        request_id: 'forged',
        args: {},
        args_sha256: sha256Hex('{}'),
      },
      decision,
    ),
    index === 0 ? undefined : head(at(index - 1)),
  ),
];

/** What is stored, and the checkpoint found for it. */
const cases: Array<[string, GatehouseEvent[], SessionCheckpoints]> = [
  ['an untouched session', chain, { rejected: [] }],
  ['an untouched session, anchored at its head', chain, anchoredAt(head(at(11)))],
  ['an untouched session, anchored at an older head', chain, anchoredAt(head(at(4)))],
  ['redelivered copies of some events', [...chain, at(2), at(5), at(5), at(11)], anchoredAt(head(at(11)))],
  ...[0, 3, 5, 6, 11].flatMap((i): Array<[string, GatehouseEvent[], SessionCheckpoints]> => [
    [`event ${i} edited`, replaced(i, edited(at(i))), { rejected: [] }],
    [`event ${i} edited and re-hashed`, replaced(i, rehashed(edited(at(i)))), anchoredAt(head(at(11)))],
    [`event ${i} deleted`, without(i), { rejected: [] }],
    [`event ${i} deleted, anchored at the head`, without(i), anchoredAt(head(at(11)))],
    [`a second event with seq ${i}`, forkAt(i), { rejected: [] }],
    [`a forged copy of event ${i} under its id`, [...chain, edited(at(i))], { rejected: [] }],
  ]),
  ['the tail deleted, anchored at the head', without(9, 10, 11), anchoredAt(head(at(11)))],
  ['the tail deleted, no checkpoint', without(9, 10, 11), { rejected: [] }],
  ['every event deleted, anchored at the head', [], anchoredAt(head(at(11)))],
  ['the signed head re-hashed', replaced(11, rehashed(edited(at(11)))), anchoredAt(head(at(11)))],
  ['the seq 6 re-hashed, anchored at seq 6', replaced(6, rehashed(edited(at(6)))), anchoredAt(head(at(6)))],
];

describe('verifying a stored session a page at a time', () => {
  it.each(cases)(
    'answers for %s as it does reading it whole, at every page size',
    async (_what, rows, found) => {
      const whole = await verifyPaged(rows, 1_000, found);
      // Read whole, the answer is verifyChain's over the stored rows in seq, id order.
      const sorted = [...rows].sort((a, b) => a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const chainAnswer = verifyChain(withoutIdenticalCopies(sorted), {
        sessionId: SESSION,
        ...(found.anchor === undefined ? {} : { expectedHead: found.anchor.head }),
      });
      expect(whole.first_bad).toEqual(chainAnswer.ok ? null : chainAnswer.firstBad);
      for (const short of [false, true])
        for (const pageRows of [4, 5, 7, 11, 12, 13]) {
          expect({ short, pageRows, ...(await verifyPaged(rows, pageRows, found, short)) }).toEqual({
            short,
            pageRows,
            ...whole,
          });
        }
    },
  );

  it('finds the breaks it is meant to, counting every event before them', async () => {
    expect(await verifyPaged(chain, 4, anchoredAt(head(at(11))))).toMatchObject({
      intact: true,
      anchored: true,
      events: 12,
      head: head(at(11)),
      first_bad: null,
    });
    expect(await verifyPaged(without(7), 4)).toMatchObject({
      intact: false,
      events: 11,
      first_bad: { index: 7, seq: 8, kind: 'deleted' },
    });
    expect(await verifyPaged(without(10, 11), 4, anchoredAt(head(at(11))))).toMatchObject({
      intact: false,
      anchored: false,
      events: 10,
      first_bad: { index: 10, seq: 10, id: null, kind: 'deleted' },
      checkpoint: { status: 'head_mismatch' },
    });
    // A copy under the same id whose content was changed: its stored hash no longer matches.
    expect(await verifyPaged([...chain, edited(at(8))], 4)).toMatchObject({
      intact: false,
      events: 13,
      first_bad: { seq: 8, kind: 'edited' },
    });
    // The same copy re-hashed: a second event with seq 8, which the chain does not go on from.
    expect(await verifyPaged([...chain, rehashed(edited(at(8)))], 4)).toMatchObject({
      intact: false,
      events: 13,
      first_bad: { seq: 8, kind: 'inserted' },
    });
  });

  it('reports a seq with as many stored rows as a page holds as broken, copies that differ or not', async () => {
    const flood = [...chain, ...Array.from({ length: 5 }, () => at(3))];
    expect(await verifyPaged(flood, 1_000)).toMatchObject({ intact: true, events: 12 });
    expect(await verifyPaged(flood, 6)).toMatchObject({
      intact: false,
      first_bad: { seq: 3, kind: 'inserted' },
    });
  });

  it('calls rows missing after the chain read deleted only when the session index lists them and none is found after', async () => {
    const read = chain.slice(0, 8); // seqs 0-7 read; the index listed up to 11 before reading
    const next = async (indexHead: number | undefined, missingAfter: boolean) => {
      const asked: number[] = [];
      const answer = await verifySessionEvents(SESSION, read, { rejected: [] }, undefined, {
        indexHead,
        missingAfter: (seq) => {
          asked.push(seq);
          return Promise.resolve(missingAfter ? seq + 2 : undefined);
        },
      });
      return { answer, asked };
    };
    const deleted = await next(11, true);
    expect(deleted.asked).toEqual([7]);
    expect(deleted.answer).toMatchObject({
      intact: false,
      events: 8,
      first_bad: { seq: 9, id: null, kind: 'deleted', index: 8 },
    });
    // Rows after seq 7 arrived while it was read (a live session): what was read holds.
    expect(await next(11, false)).toMatchObject({ answer: { intact: true, events: 8 }, asked: [7] });
    // The index lists nothing past what was read: nothing to ask.
    expect(await next(7, true)).toMatchObject({ answer: { intact: true }, asked: [] });
    expect(await next(undefined, true)).toMatchObject({ answer: { intact: true }, asked: [] });
  });
});
