import type { KeyObject } from 'node:crypto';
import {
  canonicalJson,
  verifyChain,
  type ChainBreak,
  type ChainHead,
  type EventOf,
  type GatehouseEvent,
} from '@gatehouse/events';
import type { AuditStore } from '@gatehouse/store';
import { checkpointKid, verifyCheckpoint } from './checkpoint-jws.js';
import { QueryApiError } from './errors.js';

/** What the latest signed checkpoint covering a session says, and whether it holds. */
export type CheckpointCheck =
  | { status: 'none' }
  | {
      /** `verified`: signature valid, head present in the chain; `invalid_signature`: forged or altered;
       * `unknown_key`: signed by a key this API does not know (cannot be judged). */
      status: 'verified' | 'invalid_signature' | 'unknown_key' | 'head_mismatch';
      stream: string;
      seq: number;
      kid: string;
      /** When it was signed (ISO 8601). */
      signed_at: string;
      /** The head it commits to for this session. */
      head: ChainHead;
    };

/** The answer of `GET /v1/sessions/{id}/verify`. */
export interface SessionVerification {
  session_id: string;
  /** True when every link holds and a checkpoint, if any, verifies and its head is present. */
  intact: boolean;
  /** Events read back from ClickHouse. */
  events: number;
  /** The last event read back. */
  head: ChainHead | null;
  /** The first broken link (seq, id, kind, message), or null. */
  first_bad: ChainBreak | null;
  checkpoint: CheckpointCheck;
}

/**
 * Drops exact copies of an event (the same row stored twice: an at-least-once redelivery not yet
 * merged away) and keeps copies that differ, in order, so that `verifyChain` reports a row forged
 * under an existing id instead of the deduplication hiding it. `events` come ordered by seq, id.
 */
export function withoutIdenticalCopies(events: readonly GatehouseEvent[]): GatehouseEvent[] {
  const seen = new Map<string, string[]>();
  const kept: GatehouseEvent[] = [];
  for (const event of events) {
    const encoded = canonicalJson(event);
    const copies = seen.get(event.id);
    if (copies?.includes(encoded)) continue;
    if (copies) copies.push(encoded);
    else seen.set(event.id, [encoded]);
    kept.push(event);
  }
  return kept;
}

/**
 * Verifies a session's chain as read back from the store, anchored by a signed checkpoint when
 * one covers it: the JWS must verify with a known public key, and the head it names must be in the
 * chain with the same hash — so deleting or editing the newest events is caught too.
 * A checkpoint whose signature fails makes the session not intact (the record was tampered with).
 */
export function verifySessionEvents(
  sessionId: string,
  events: readonly GatehouseEvent[],
  checkpoint:
    | { event: EventOf<'checkpoint.signed'>; payloadHead: ChainHead; kid: string }
    | { event: EventOf<'checkpoint.signed'>; invalid: 'invalid_signature' | 'unknown_key'; kid: string }
    | undefined,
): SessionVerification {
  let check: CheckpointCheck = { status: 'none' };
  let expectedHead: ChainHead | undefined;
  if (checkpoint !== undefined) {
    const claimed = checkpoint.event.data.heads.find((h) => h.session_id === sessionId);
    const base = {
      stream: checkpoint.event.session_id,
      seq: checkpoint.event.seq,
      kid: checkpoint.kid,
      signed_at: checkpoint.event.ts,
    };
    if ('invalid' in checkpoint) {
      check = {
        status: checkpoint.invalid,
        ...base,
        head: claimed === undefined ? { seq: -1, hash: '' } : { seq: claimed.seq, hash: claimed.hash },
      };
    } else {
      expectedHead = checkpoint.payloadHead;
      check = { status: 'verified', ...base, head: checkpoint.payloadHead };
    }
  }
  const result = verifyChain(events, { sessionId, ...(expectedHead === undefined ? {} : { expectedHead }) });
  if (!result.ok && check.status === 'verified' && result.firstBad.index >= 0 && expectedHead !== undefined) {
    // The chain broke; say whether the signed head itself is among what no longer holds.
    const atHead = events.find((e) => e.seq === expectedHead.seq);
    if (atHead === undefined || atHead.hash !== expectedHead.hash)
      check = { ...check, status: 'head_mismatch' };
  }
  const last = events[events.length - 1];
  return {
    session_id: sessionId,
    intact:
      result.ok && (check.status === 'none' || check.status === 'verified' || check.status === 'unknown_key'),
    events: events.length,
    head: last === undefined ? null : { seq: last.seq, hash: last.hash },
    first_bad: result.ok ? null : result.firstBad,
    checkpoint: check,
  };
}

/** Public checkpoint keys by `kid`. */
export type CheckpointPublicKeys = ReadonlyMap<string, KeyObject>;

/**
 * Finds the newest `checkpoint.signed` event that names `sessionId`, checks its signature, and
 * returns what `verifySessionEvents` needs. Scans the `checkpoint:*` streams active since `since`
 * from their newest event backwards, at most `maxScan` events per stream.
 */
export async function findSessionCheckpoint(
  store: AuditStore,
  sessionId: string,
  since: Date | undefined,
  keys: CheckpointPublicKeys,
  maxScan = 2_000,
): Promise<Parameters<typeof verifySessionEvents>[2]> {
  const heads = await store.latestHeads(since === undefined ? {} : { since });
  let best: EventOf<'checkpoint.signed'> | undefined;
  for (const head of heads) {
    if (!head.session_id.startsWith('checkpoint:')) continue;
    let hi = head.seq;
    let scanned = 0;
    let found: EventOf<'checkpoint.signed'> | undefined;
    while (hi >= 0 && scanned < maxScan && found === undefined) {
      const lo = Math.max(0, hi - 199);
      const page = await store.sessionEvents(head.session_id, { fromSeq: lo, limit: hi - lo + 1 });
      for (let i = page.length - 1; i >= 0 && found === undefined; i--) {
        const event = page[i]!;
        if (event.type === 'checkpoint.signed' && event.data.heads.some((h) => h.session_id === sessionId))
          found = event;
      }
      scanned += hi - lo + 1;
      hi = lo - 1;
    }
    if (found !== undefined && (best === undefined || found.ts > best.ts)) best = found;
  }
  if (best === undefined) return undefined;
  const kid = best.data.kid || checkpointKid(best.data.jws) || '';
  const key = keys.get(kid);
  if (key === undefined) return { event: best, invalid: 'unknown_key', kid };
  try {
    const payload = await verifyCheckpoint(best.data.jws, key);
    const signed = payload.heads.find((h) => h.session_id === sessionId);
    if (signed === undefined) return { event: best, invalid: 'invalid_signature', kid };
    return { event: best, payloadHead: { seq: signed.seq, hash: signed.hash }, kid };
  } catch (error) {
    if (error instanceof QueryApiError && error.code === 'GH_ERR_CHECKPOINT_INVALID')
      return { event: best, invalid: 'invalid_signature', kid };
    throw error;
  }
}
