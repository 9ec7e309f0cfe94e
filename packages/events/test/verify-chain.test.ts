import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  computeEventHash,
  events as constructors,
  sealEvent,
  verifyChain,
  type ChainVerification,
  type GatehouseEvent,
} from '../src/index.js';
import { allow, buildChain, call, ctx } from './fixtures.js';

const chain = buildChain(8);
const at = (i: number) => chain[i] as GatehouseEvent;
const headOf = (event: GatehouseEvent) => ({ seq: event.seq, hash: event.hash });

function firstBad(result: ChainVerification) {
  if (result.ok) throw new Error(`expected a broken chain, got ok with ${result.count} events`);
  return result.firstBad;
}

/** A forged event of the session, sealed after `head` (a real or made-up link). */
function forge(head: { seq: number; hash: string } | undefined, requestId = 'forged'): GatehouseEvent {
  return sealEvent(constructors.callAttempted(ctx, { ...call, request_id: requestId }, allow), head);
}

/** An edit that keeps the stored hash, and the same edit re-hashed by a careful attacker. */
const edit = (event: GatehouseEvent): GatehouseEvent =>
  ({ ...event, tool: 'support__export_customers' }) as GatehouseEvent;
const rehash = (event: GatehouseEvent): GatehouseEvent =>
  ({ ...event, hash: computeEventHash(event) }) as GatehouseEvent;

describe('verifyChain', () => {
  describe('an intact chain', () => {
    it('passes and reports its head and count', () => {
      expect(verifyChain(chain)).toEqual({ ok: true, count: 8, head: headOf(at(7)) });
    });

    it('passes with a matching expected head, current or older', () => {
      expect(verifyChain(chain, { expectedHead: headOf(at(7)) }).ok).toBe(true);
      expect(verifyChain(chain, { expectedHead: headOf(at(3)) }).ok).toBe(true);
    });

    it('an empty list is an intact empty chain', () => {
      expect(verifyChain([])).toEqual({ ok: true, count: 0, head: null });
    });

    it('a window verifies against the trusted head it continues', () => {
      expect(verifyChain(chain.slice(4), { after: headOf(at(3)) })).toEqual({
        ok: true,
        count: 4,
        head: headOf(at(7)),
      });
    });
  });

  describe('edited', () => {
    it('an event whose content no longer matches its stored hash', () => {
      const tampered = chain.map((e, i) => (i === 3 ? edit(e) : e));
      const bad = firstBad(verifyChain(tampered));
      expect(bad).toMatchObject({ index: 3, seq: 3, id: at(3).id, kind: 'edited' });
      expect(bad.message).toBe(`seq 3 (id ${at(3).id}): stored hash does not match its content — edited`);
    });

    it('an event rewritten and re-hashed: its successor no longer links to it', () => {
      const tampered = chain.map((e, i) => (i === 3 ? rehash(edit(e)) : e));
      const bad = firstBad(verifyChain(tampered));
      expect(bad).toMatchObject({ index: 3, seq: 3, kind: 'edited' });
      expect(bad.message).toMatch(
        /^seq 3 \(id .+\): seq 4 \(id .+\) at index 4 links to hash [0-9a-f]{12}…, but this event hashes to [0-9a-f]{12}…/,
      );
    });

    it('the last event rewritten and re-hashed is caught by the expected head', () => {
      const tampered = chain.map((e, i) => (i === 7 ? rehash(edit(e)) : e));
      expect(verifyChain(tampered).ok).toBe(true);
      expect(firstBad(verifyChain(tampered, { expectedHead: headOf(at(7)) }))).toMatchObject({
        index: 7,
        seq: 7,
        kind: 'edited',
      });
    });

    it('a first event that does not start at genesis', () => {
      const tampered = [rehash({ ...at(0), prev_hash: 'a'.repeat(64) } as GatehouseEvent), ...chain.slice(1)];
      expect(firstBad(verifyChain(tampered))).toMatchObject({ index: 0, seq: 0, kind: 'edited' });
    });

    it('any change to any field of any event is detected', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 7 }),
          fc.constantFrom(
            'ts',
            'agent',
            'user',
            'tool',
            'request_id',
            'args',
            'client_ip',
            'seq',
            'prev_hash',
          ),
          (index, field) => {
            const original = at(index);
            const changed =
              field === 'seq'
                ? original.seq + 1
                : field === 'prev_hash'
                  ? 'f'.repeat(64)
                  : field === 'args'
                    ? { ticket: 43 }
                    : field === 'ts'
                      ? '2000-01-01T00:00:00.000Z'
                      : 'x';
            const tampered = chain.map((e, i) =>
              i === index ? ({ ...e, [field]: changed } as GatehouseEvent) : e,
            );
            expect(firstBad(verifyChain(tampered))).toMatchObject({ index, kind: 'edited' });
          },
        ),
      );
    });
  });

  describe('deleted', () => {
    it('one event missing in the middle', () => {
      const tampered = chain.filter((_, i) => i !== 3);
      const bad = firstBad(verifyChain(tampered));
      expect(bad).toMatchObject({ index: 3, seq: 4, id: at(4).id, kind: 'deleted' });
      expect(bad.message).toBe(
        `seq 4 (id ${at(4).id}): seq 3 is missing before it, and its prev_hash does not link to seq 2 (id ${at(2).id}) — deleted`,
      );
    });

    it('a run of events missing in the middle', () => {
      const tampered = chain.filter((_, i) => i < 2 || i > 4);
      const bad = firstBad(verifyChain(tampered));
      expect(bad).toMatchObject({ index: 2, seq: 5, kind: 'deleted' });
      expect(bad.message).toMatch(/seq 2–4 \(3 events\) are missing before it/);
    });

    it('the first event missing', () => {
      expect(firstBad(verifyChain(chain.slice(1)))).toMatchObject({ index: 0, seq: 1, kind: 'deleted' });
    });

    it('the tail missing is invisible without a checkpoint, and caught with the expected head', () => {
      const truncated = chain.slice(0, 5);
      expect(verifyChain(truncated)).toMatchObject({ ok: true, head: headOf(at(4)) });
      const bad = firstBad(verifyChain(truncated, { expectedHead: headOf(at(7)) }));
      expect(bad).toMatchObject({ index: 5, seq: 5, id: null, kind: 'deleted' });
      expect(bad.message).toMatch(
        /^seq 5–7 \(3 events\) are missing at the tail: the expected head is seq 7 .* but the chain ends at seq 4 — deleted$/,
      );
    });

    it('a single tail event missing', () => {
      const bad = firstBad(verifyChain(chain.slice(0, 7), { expectedHead: headOf(at(7)) }));
      expect(bad).toMatchObject({ index: 7, seq: 7, id: null, kind: 'deleted' });
      expect(bad.message).toMatch(/^seq 7 is missing at the tail/);
    });

    it('everything missing when a checkpoint says there was a chain', () => {
      expect(firstBad(verifyChain([], { expectedHead: headOf(at(2)) }))).toMatchObject({
        index: 0,
        seq: 0,
        id: null,
        kind: 'deleted',
      });
    });
  });

  describe('inserted', () => {
    it('an exact duplicate of an event', () => {
      const tampered = [...chain.slice(0, 4), at(3), ...chain.slice(4)];
      expect(firstBad(verifyChain(tampered))).toMatchObject({ index: 4, seq: 3, kind: 'inserted' });
    });

    it('a forged event that links perfectly but takes the seq of the next real one', () => {
      const forged = forge(headOf(at(2)));
      const tampered = [...chain.slice(0, 3), forged, ...chain.slice(3)];
      const bad = firstBad(verifyChain(tampered));
      expect(bad).toMatchObject({ index: 3, seq: 3, id: forged.id, kind: 'inserted' });
      expect(bad.message).toMatch(
        /extra event: seq 3 \(id .+\) at index 4 links to the same predecessor and the chain continues from it — inserted$/,
      );
    });

    it('a forged event with a made-up link, followed by the real continuation', () => {
      const forged = forge({ seq: 2, hash: 'a'.repeat(64) });
      const tampered = [...chain.slice(0, 3), forged, ...chain.slice(3)];
      const bad = firstBad(verifyChain(tampered));
      expect(bad).toMatchObject({ index: 3, id: forged.id, kind: 'inserted' });
      expect(bad.message).toMatch(
        /does not continue the chain after seq 2 .* \(expected seq 3\), but the next event does — inserted$/,
      );
    });

    it('a forged event with a far-off seq', () => {
      const forged = forge({ seq: 98, hash: 'a'.repeat(64) });
      const tampered = [...chain.slice(0, 3), forged, ...chain.slice(3)];
      expect(firstBad(verifyChain(tampered))).toMatchObject({ index: 3, seq: 99, kind: 'inserted' });
    });

    it('a second event for the last seq, forking from the same predecessor', () => {
      const forged = forge(headOf(at(6)));
      const bad = firstBad(verifyChain([...chain, forged]));
      expect(bad).toMatchObject({ index: 8, seq: 7, id: forged.id, kind: 'inserted' });
    });
  });

  describe('reordered', () => {
    it('two adjacent events swapped', () => {
      const tampered = [...chain];
      [tampered[3], tampered[4]] = [at(4), at(3)];
      const bad = firstBad(verifyChain(tampered));
      expect(bad).toMatchObject({ index: 3, seq: 4, id: at(4).id, kind: 'reordered' });
      expect(bad.message).toBe(
        `seq 4 (id ${at(4).id}): links to seq 3 (id ${at(3).id}) at index 4, which comes after it — reordered`,
      );
    });

    it('an event moved to the end', () => {
      const tampered = [...chain.filter((_, i) => i !== 1), at(1)];
      expect(firstBad(verifyChain(tampered))).toMatchObject({ index: 1, seq: 2, kind: 'reordered' });
    });

    it('the whole chain reversed', () => {
      expect(firstBad(verifyChain([...chain].reverse()))).toMatchObject({
        index: 0,
        seq: 7,
        kind: 'reordered',
      });
    });
  });

  describe('foreign', () => {
    const other = buildChain(3, 'sess-2');

    it('an event of another session in the middle', () => {
      const tampered = [...chain.slice(0, 2), other[1] as GatehouseEvent, ...chain.slice(2)];
      const bad = firstBad(verifyChain(tampered));
      expect(bad).toMatchObject({ index: 2, kind: 'foreign' });
      expect(bad.message).toMatch(/belongs to session "sess-2", not "sess-1" — foreign$/);
    });

    it('an event of another session at the front (the session is the one most events carry)', () => {
      expect(firstBad(verifyChain([other[0] as GatehouseEvent, ...chain]))).toMatchObject({
        index: 0,
        kind: 'foreign',
      });
    });

    it('every event foreign when the expected session is given', () => {
      expect(firstBad(verifyChain(other, { sessionId: 'sess-1' }))).toMatchObject({
        index: 0,
        kind: 'foreign',
      });
    });
  });

  it('classifies single random tampering of a random chain by kind and index', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('edited' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('deleted' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('inserted' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('reordered' as const), at: fc.nat() }),
    );
    const long = buildChain(12);
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), op, (length, tamper) => {
        const original = long.slice(0, length);
        const list = [...original];
        let index = 0;
        switch (tamper.kind) {
          case 'edited':
            index = tamper.at % length;
            list[index] = edit(list[index] as GatehouseEvent);
            break;
          case 'deleted':
            index = tamper.at % length;
            list.splice(index, 1);
            break;
          case 'inserted':
            index = (tamper.at % length) + 1;
            list.splice(index, 0, list[index - 1] as GatehouseEvent);
            break;
          case 'reordered':
            index = tamper.at % (length - 1);
            [list[index], list[index + 1]] = [
              list[index + 1] as GatehouseEvent,
              list[index] as GatehouseEvent,
            ];
            break;
        }
        const expectedHead = headOf(original.at(-1) as GatehouseEvent);
        expect(firstBad(verifyChain(list, { expectedHead }))).toMatchObject({ kind: tamper.kind, index });
      }),
    );
  });
});
