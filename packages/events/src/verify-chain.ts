import { computeEventHash, type ChainHead } from './hash-chain.js';
import { GENESIS_HASH, type GatehouseEvent } from './schema.js';

/**
 * How a chain was broken, judged from the first link that does not hold:
 *
 * - `edited`    an event's stored hash does not match its content; or its content was rewritten and
 *               re-hashed, so its successor (or a signed checkpoint) commits to a different hash
 * - `deleted`   seq numbers are missing (in the middle, at the start, or at the tail when a signed
 *               checkpoint names a later head) and the chain does not link across the gap
 * - `inserted`  an extra event: a duplicate, a second event with an already used seq, or an event
 *               that does not continue the chain while the event after it continues the one before
 * - `reordered` the events are the chain's own but out of order: an event links to one that comes
 *               later in the list, or comes before a lower seq that is present further on
 * - `foreign`   an event of another session or stream
 */
export const CHAIN_BREAK_KINDS = ['edited', 'deleted', 'inserted', 'reordered', 'foreign'] as const;
export type ChainBreakKind = (typeof CHAIN_BREAK_KINDS)[number];

/** The first broken link of a chain. */
export interface ChainBreak {
  /**
   * Index in the input list of the offending event. For events missing at the tail this is
   * `events.length` (where the missing events would be).
   */
  readonly index: number;
  /** Seq of the offending event, or the first missing seq for `deleted`. */
  readonly seq: number;
  /** Id of the offending event; null when the offence is that events are missing at the tail. */
  readonly id: string | null;
  readonly kind: ChainBreakKind;
  /** Names the seq, id and what does not hold, e.g. "seq 7 (id …): stored hash does not match its content — edited". */
  readonly message: string;
}

/** The outcome of `verifyChain`. `count` is the number of events examined (the input length). */
export type ChainVerification =
  | { readonly ok: true; readonly count: number; readonly head: ChainHead | null }
  | { readonly ok: false; readonly count: number; readonly firstBad: ChainBreak };

export interface VerifyChainOptions {
  /**
   * The session or stream the events must belong to. Default: the session_id most events carry
   * (ties go to the one seen first), so one foreign event at the front is still reported as foreign.
   */
  sessionId?: string;
  /**
   * A trusted head (e.g. from a signed checkpoint) the chain must reach: missing events after the
   * last one read back are reported as `deleted`, and a head whose hash differs as `edited`.
   * A head older than the last event is checked against the event with its seq.
   */
  expectedHead?: ChainHead;
  /**
   * Verify a window: the first event must continue this trusted head instead of starting at seq 0
   * with `prev_hash` = GENESIS_HASH. Default: the chain starts at genesis.
   */
  after?: ChainHead;
  /**
   * Where `events` start in a longer list verified a window at a time: added to every index the
   * answer gives (`firstBad.index` and the indexes its message names). Default 0.
   */
  indexBase?: number;
}

/**
 * Verifies one session's (or named stream's) chain in the order the events were read back
 * (normally ascending `seq`): every event belongs to the session, its stored hash matches its
 * content, seq runs gapless from 0 (or from `after`), and each `prev_hash` is its predecessor's hash.
 * Reports the first broken link and classifies it (see `CHAIN_BREAK_KINDS`).
 *
 * Pure and synchronous; O(n) hashing (one SHA-256 over canonical JSON per event).
 */
export function verifyChain(
  events: readonly GatehouseEvent[],
  options: VerifyChainOptions = {},
): ChainVerification {
  const count = events.length;
  const sessionId = options.sessionId ?? majoritySession(events);
  const base = options.indexBase ?? 0;
  /** An index as the answer gives it. */
  const at = (index: number): number => base + index;
  const fail = (
    index: number,
    seq: number,
    id: string | null,
    kind: ChainBreakKind,
    message: string,
  ): ChainVerification => ({
    ok: false,
    count,
    firstBad: { index: at(index), seq, id, kind, message },
  });
  const failAt = (index: number, kind: ChainBreakKind, detail: string): ChainVerification => {
    const event = events[index] as GatehouseEvent;
    return fail(index, event.seq, event.id, kind, `${label(event)}: ${detail} — ${kind}`);
  };

  // Where each stored hash last occurs, to recognise links to events that come later in the list.
  const lastIndexOfHash = new Map<string, number>();
  events.forEach((event, index) => lastIndexOfHash.set(event.hash, index));
  const acceptedIndexOfHash = new Map<string, number>();
  const startSeq = options.after === undefined ? 0 : options.after.seq + 1;
  const startHash = options.after === undefined ? GENESIS_HASH : options.after.hash;

  const isIntact = (index: number): boolean => {
    const event = events[index];
    return event !== undefined && event.session_id === sessionId && computeEventHash(event) === event.hash;
  };
  const continues = (index: number, seq: number, prevHash: string): boolean => {
    const event = events[index];
    return event !== undefined && event.seq === seq && event.prev_hash === prevHash && isIntact(index);
  };

  let expectedSeq = startSeq;
  let expectedPrev = startHash;
  for (let i = 0; i < count; i++) {
    const event = events[i] as GatehouseEvent;
    if (event.session_id !== sessionId) {
      return failAt(
        i,
        'foreign',
        `belongs to session ${JSON.stringify(event.session_id)}, not ${JSON.stringify(sessionId)}`,
      );
    }
    if (computeEventHash(event) !== event.hash) {
      return failAt(i, 'edited', 'stored hash does not match its content');
    }
    if (event.seq === expectedSeq && event.prev_hash === expectedPrev) {
      acceptedIndexOfHash.set(event.hash, i);
      expectedSeq += 1;
      expectedPrev = event.hash;
      continue;
    }

    // The link from the last accepted event to this one does not hold: classify it.
    const prevIndex = i - 1;
    const prev = events[prevIndex];
    const before = prev === undefined ? describeStart(options.after) : label(prev);

    const linkedLater = lastIndexOfHash.get(event.prev_hash);
    if (linkedLater !== undefined && linkedLater > i) {
      return failAt(
        i,
        'reordered',
        `links to ${label(events[linkedLater] as GatehouseEvent)} at index ${at(linkedLater)}, which comes after it`,
      );
    }
    if (continues(i + 1, expectedSeq, expectedPrev)) {
      return failAt(
        i,
        'inserted',
        `does not continue the chain after ${before} (expected seq ${expectedSeq}), but the next event does`,
      );
    }
    const duplicateOf = acceptedIndexOfHash.get(event.hash);
    if (duplicateOf !== undefined) {
      return failAt(i, 'inserted', `duplicate of the event at index ${at(duplicateOf)}`);
    }

    if (event.seq < expectedSeq) {
      if (prev !== undefined && event.seq === prev.seq && event.prev_hash === prev.prev_hash) {
        // Two events with one seq forking from the same predecessor: the one the chain does not
        // continue from is the extra one.
        if (continues(i + 1, event.seq + 1, event.hash)) {
          return failAt(
            prevIndex,
            'inserted',
            `extra event: ${label(event)} at index ${at(i)} links to the same predecessor and the chain continues from it`,
          );
        }
        return failAt(
          i,
          'inserted',
          `second event with seq ${event.seq}, linking to the same predecessor as index ${at(prevIndex)}`,
        );
      }
      if (event.seq >= startSeq) {
        return failAt(
          i,
          'inserted',
          `seq ${event.seq} is already taken by index ${at(event.seq - startSeq)} (expected seq ${expectedSeq})`,
        );
      }
      return failAt(
        i,
        'reordered',
        `seq ${event.seq} belongs before the verified window, which starts at seq ${startSeq}`,
      );
    }

    if (event.seq > expectedSeq) {
      for (let j = i + 1; j < count; j++) {
        const later = events[j] as GatehouseEvent;
        if (later.session_id === sessionId && later.seq >= expectedSeq && later.seq < event.seq) {
          return failAt(i, 'reordered', `comes before ${label(later)} at index ${at(j)}`);
        }
      }
      if (event.prev_hash === expectedPrev) {
        return failAt(
          i,
          'edited',
          `expected seq ${expectedSeq} but has seq ${event.seq}, yet links to ${before}: its seq was rewritten and re-hashed`,
        );
      }
      const missing =
        expectedSeq === event.seq - 1
          ? `seq ${expectedSeq} is`
          : `seq ${expectedSeq}–${event.seq - 1} (${event.seq - expectedSeq} events) are`;
      return failAt(
        i,
        'deleted',
        `${missing} missing before it, and its prev_hash does not link to ${before}`,
      );
    }

    // Right seq, wrong link: the predecessor no longer has the hash its successor committed to.
    if (prev !== undefined) {
      return failAt(
        prevIndex,
        'edited',
        `${label(event)} at index ${at(i)} links to hash ${short(event.prev_hash)}, but this event hashes to ${short(prev.hash)}: it was rewritten and re-hashed (or the link was)`,
      );
    }
    return failAt(
      i,
      'edited',
      `prev_hash ${short(event.prev_hash)} does not link to ${before} (${short(startHash)})`,
    );
  }

  const last = events[count - 1];
  const head: ChainHead | null =
    last === undefined ? (options.after ?? null) : { seq: last.seq, hash: last.hash };
  const expected = options.expectedHead;
  if (expected !== undefined) {
    const lastSeq = head === null ? -1 : head.seq;
    if (expected.seq > lastSeq) {
      const first = lastSeq + 1;
      const range =
        first === expected.seq
          ? `seq ${first} is`
          : `seq ${first}–${expected.seq} (${expected.seq - first + 1} events) are`;
      const end = head === null ? 'the chain is empty' : `the chain ends at seq ${lastSeq}`;
      return fail(
        count,
        first,
        null,
        'deleted',
        `${range} missing at the tail: the expected head is seq ${expected.seq} (hash ${short(expected.hash)}) but ${end} — deleted`,
      );
    }
    if (expected.seq >= startSeq) {
      const index = expected.seq - startSeq;
      const event = events[index] as GatehouseEvent;
      if (event.hash !== expected.hash) {
        return failAt(
          index,
          'edited',
          `hash ${short(event.hash)} differs from the expected head's ${short(expected.hash)}: the chain was rewritten at or before this event`,
        );
      }
    } else if (
      options.after !== undefined &&
      expected.seq === options.after.seq &&
      expected.hash !== options.after.hash
    ) {
      return fail(
        0,
        expected.seq,
        null,
        'edited',
        `the expected head seq ${expected.seq} (hash ${short(expected.hash)}) differs from the trusted start ${short(options.after.hash)} — edited`,
      );
    }
  }
  return { ok: true, count, head };
}

function label(event: GatehouseEvent): string {
  return `seq ${event.seq} (id ${event.id})`;
}

function short(hash: string): string {
  return `${hash.slice(0, 12)}…`;
}

function describeStart(after: ChainHead | undefined): string {
  return after === undefined ? 'genesis' : `the trusted head seq ${after.seq}`;
}

function majoritySession(events: readonly GatehouseEvent[]): string | undefined {
  const counts = new Map<string, number>();
  let best: string | undefined;
  let bestCount = 0;
  for (const event of events) {
    const n = (counts.get(event.session_id) ?? 0) + 1;
    counts.set(event.session_id, n);
    if (n > bestCount) {
      best = event.session_id;
      bestCount = n;
    }
  }
  return best;
}
