import type { KeyObject } from 'node:crypto';
import {
  verifyChain,
  type ChainBreak,
  type ChainHead,
  type EventOf,
  type GatehouseEvent,
} from '@gatehouse/events';
import type { AuditStore } from '@gatehouse/store';
import { checkpointKid, verifyCheckpoint } from './checkpoint-jws.js';
import { QueryApiError } from './errors.js';
import { storedSessionPages, type NextPage } from './session-pages.js';

/** What the newest signed checkpoint covering a session says, and whether it holds. */
export type CheckpointCheck =
  | { status: 'none' }
  | {
      /**
       * `verified`: signature valid with a known key, its head present in the chain;
       * `head_mismatch`: signature valid, but the head it signed is gone or altered (the newest
       * events were deleted or edited); `invalid_signature`: no checkpoint verified, and one naming
       * the session was forged or altered; `unknown_key`: no checkpoint verified, and the newest
       * naming the session is signed by a key this API does not know (cannot be judged).
       */
      status: 'verified' | 'invalid_signature' | 'unknown_key' | 'head_mismatch';
      stream: string;
      seq: number;
      kid: string;
      /** When it was signed (ISO 8601): the signed `iat` for a verified one, else the event's `ts`. */
      signed_at: string;
      /** The head it commits to for this session. */
      head: ChainHead;
    };

/** A checkpoint naming the session that was refused as evidence: why, and where it is. */
export interface RejectedCheckpoint {
  /**
   * `invalid_signature`: the JWS does not verify with the key its `kid` names; `not_signed`: the
   * event names the session but its signed payload does not; `redated`: the event's `ts` is not
   * when it was signed (`iat`), i.e. an old checkpoint moved to look newest.
   */
  reason: 'invalid_signature' | 'not_signed' | 'redated';
  stream: string;
  seq: number;
  kid: string;
  ts: string;
}

/** The answer of `GET /v1/sessions/{id}/verify`. */
export interface SessionVerification {
  session_id: string;
  /**
   * True when every link holds, no checkpoint naming the session was refused as forged, and the
   * anchoring checkpoint's head, if there is one, is present.
   */
  intact: boolean;
  /**
   * True when a checkpoint signed by a known key vouches for the chain up to its head. False
   * (with `intact` true) means the chain holds but nothing signed says it is complete: its newest
   * events could have been deleted without trace from the session index as well as the events
   * table (no checkpoint yet, or only unknown keys).
   */
  anchored: boolean;
  /** Events read back from ClickHouse. */
  events: number;
  /** The last event read back. */
  head: ChainHead | null;
  /** The first broken link (seq, id, kind, message), or null. */
  first_bad: ChainBreak | null;
  checkpoint: CheckpointCheck;
  /** Checkpoints naming the session that were refused (newest first, at most 20). */
  rejected_checkpoints: RejectedCheckpoint[];
}

/** What `findSessionCheckpoint` found: the anchor (if any) and what it refused. */
export interface SessionCheckpoints {
  /** The checkpoint verified with a known key that signed the session furthest along, and that head. */
  anchor?: { event: EventOf<'checkpoint.signed'>; head: ChainHead; kid: string; signedAt: string };
  /** When nothing verified: the newest checkpoint signed by a key this API does not know. */
  unknownKey?: { event: EventOf<'checkpoint.signed'>; kid: string };
  /** Checkpoints naming the session refused as evidence, newest first. */
  rejected: RejectedCheckpoint[];
}

/**
 * Verifies a stored session (`GET /v1/sessions/{id}/verify`) page by page: its events as read back
 * from the store, anchored by the verified checkpoint that signed it furthest along.
 * Undefined when nothing is stored of the session, and no checkpoint names it.
 */
export async function verifyStoredSession(
  store: AuditStore,
  sessionId: string,
  keys: CheckpointPublicKeys,
  pageRows?: number,
  indexSettleMs = INDEX_SETTLE_MS,
): Promise<SessionVerification | undefined> {
  // The index head is read before the events, so that a live session's newer rows do not count.
  const indexHead = (await store.sessionIndexKeys(sessionId))?.head;
  // Every stored copy: one forged under an existing id must not be deduplicated away.
  const nextPage = storedSessionPages(store, sessionId, { allCopies: true, pageRows });
  const first = await nextPage();
  // A checkpoint naming the session was signed after its first event (minus the clock skew
  // allowed between an ingress and the checkpointer); with no event left, every one is searched.
  const since =
    first[0] === undefined ? undefined : new Date(Date.parse(first[0].ts) - MAX_CHECKPOINT_TS_SKEW_MS);
  const found = await findSessionCheckpoint(store, sessionId, since, keys);
  const nothing = found.anchor === undefined && found.unknownKey === undefined && found.rejected.length === 0;
  if (first.length === 0 && nothing && indexHead === undefined) return undefined;
  /** The first key the index lists after `seq` when the events table has no row for it. */
  const missingOnce = async (seq: number): Promise<number | undefined> => {
    const key = (await store.sessionIndexKeys(sessionId, seq))?.first;
    if (key === undefined) return undefined;
    const [row] = await store.sessionEvents(sessionId, { allCopies: true, fromSeq: key.seq, limit: 1 });
    return row?.seq === key.seq ? undefined : key.seq;
  };
  return verifySessionEvents(sessionId, first, found, nextPage, {
    indexHead,
    // Asked only when the chain read ends before the index head, and asked again after a pause:
    // in the replicated schema the two tables reach a replica each on its own, so an index key
    // can be seen a moment before its row.
    missingAfter: async (seq) => {
      if ((await missingOnce(seq)) === undefined) return undefined;
      if (indexSettleMs > 0) await new Promise((resolve) => setTimeout(resolve, indexSettleMs));
      return missingOnce(seq);
    },
  });
}

/**
 * How long verify waits before it asks again about a session index key whose row it did not find
 * (ms): replicas copy `events` and `events_by_session` each on its own.
 */
export const INDEX_SETTLE_MS = 2_000;

/**
 * Verifies a session's chain as read back from the store, anchored by the checkpoint verified with
 * a known key that signed it furthest along (`findSessionCheckpoint`): the head it signed must be in the chain with the same hash, so
 * deleting or editing the newest events is caught too. A checkpoint naming the session that was
 * forged (bad signature, unsigned claim, moved in time) makes the session not intact: someone
 * wrote to the record.
 *
 * `first` is the first page of the events in seq order and `nextPage` gives the others (none by
 * default). Each page is verified as a window after the head of the one before, so only two pages
 * are held at once; a break is classified with the event before it and the page after it in view.
 * Whether the session is intact does not depend on the page size, but for a seq with a page's
 * worth of stored rows (reported `inserted`). What the first break is called can depend on it,
 * rarely: an event linking to one two or more pages ahead is `reordered` read whole, and may read
 * as `edited` here; a page's worth of rows gone from the events table alone ends the reading at
 * the gap, which `index` reports as `deleted` at its first key without a row (read whole: at the
 * event after the gap). After a break the rest is read only to count it and to find the signed
 * head's event.
 *
 * `index.indexHead` is the highest seq the store's session index listed before the events were
 * read (`AuditStore.sessionIndexKeys`). A chain that holds but ends before it, where the index's
 * next key has no row (`index.missingAfter` names it), lost rows from the events table alone — its
 * newest ones, or a page's worth in a row, which ends the reading early: `deleted` at that key's
 * seq, anchored or not.
 */
export async function verifySessionEvents(
  sessionId: string,
  first: readonly GatehouseEvent[],
  found: SessionCheckpoints,
  nextPage: NextPage = () => Promise.resolve([]),
  index: {
    indexHead: number | undefined;
    /** The first seq after `seq` the index lists and the events table has no row for, if any. */
    missingAfter: (seq: number) => Promise<number | undefined>;
  } = { indexHead: undefined, missingAfter: () => Promise.resolve(undefined) },
): Promise<SessionVerification> {
  const { indexHead } = index;
  const { rejected } = found;
  const expectedHead = found.anchor?.head;
  let check = checkpointCheck(sessionId, found);
  let page = first;
  let count = 0;
  let after: ChainHead | undefined;
  let headChecked = expectedHead === undefined;
  let firstBad: ChainBreak | null = null;
  /** The hash of the event at the signed head's seq (the first copy read), once read. */
  let atHead: string | undefined;
  let last: GatehouseEvent | undefined;
  while (page.length > 0 || count === 0) {
    const following = page.length === 0 ? [] : await nextPage();
    if (expectedHead !== undefined && atHead === undefined)
      atHead = page.find((event) => event.seq === expectedHead.seq)?.hash;
    if (firstBad === null) {
      const end = page.at(-1)?.seq ?? -1;
      const checkHead = !headChecked && (following.length === 0 || expectedHead!.seq <= end);
      const options = {
        sessionId,
        ...(after === undefined ? {} : { after }),
        ...(checkHead ? { expectedHead: expectedHead! } : {}),
      };
      const result = verifyChain(page, options);
      if (result.ok) {
        after = result.head ?? undefined;
        headChecked ||= checkHead;
      } else {
        // Judged again from the last event of the page before (which held) to the end of the next
        // page: a break is described by the events on either side of it.
        const window = last === undefined ? [...page, ...following] : [last, ...page, ...following];
        const wide = verifyChain(window, {
          ...options,
          ...(last === undefined
            ? {}
            : { after: last.seq === 0 ? undefined : { seq: last.seq - 1, hash: last.prev_hash } }),
          indexBase: last === undefined ? count : count - 1,
        });
        firstBad = wide.ok ? { ...result.firstBad, index: count + result.firstBad.index } : wide.firstBad;
      }
    }
    count += page.length;
    last = page.at(-1) ?? last;
    if (following.length === 0) break;
    page = following;
  }
  const lastSeq = last?.seq ?? -1;
  const missing =
    firstBad === null && indexHead !== undefined && indexHead > lastSeq
      ? await index.missingAfter(lastSeq)
      : undefined;
  if (missing !== undefined) {
    firstBad = {
      index: count,
      seq: missing,
      id: null,
      kind: 'deleted',
      message: `seq ${missing} is listed in the session index but has no row in the events table, and ${last === undefined ? 'no row of the session was read' : `no row was read after seq ${lastSeq}`} — deleted`,
    };
  }
  if (firstBad !== null && check.status === 'verified' && atHead !== expectedHead?.hash) {
    // The chain broke; the signed head itself is among what no longer holds.
    check = { ...check, status: 'head_mismatch' };
  }
  const ok = firstBad === null;
  return {
    session_id: sessionId,
    intact: ok && rejected.length === 0 && check.status !== 'head_mismatch',
    anchored: ok && check.status === 'verified',
    events: count,
    head: last === undefined ? null : { seq: last.seq, hash: last.hash },
    first_bad: firstBad,
    checkpoint: check,
    rejected_checkpoints: rejected.slice(0, MAX_REJECTED_REPORTED),
  };
}

/**
 * What the checkpoints say before the chain is read: the anchor (`verified`), else the newest
 * refused one (`invalid_signature`), else the newest of an unknown key (`unknown_key`), else `none`.
 */
function checkpointCheck(sessionId: string, found: SessionCheckpoints): CheckpointCheck {
  const { anchor, unknownKey, rejected } = found;
  const unsigned = { seq: -1, hash: '' };
  if (anchor !== undefined)
    return {
      status: 'verified',
      stream: anchor.event.session_id,
      seq: anchor.event.seq,
      kid: anchor.kid,
      signed_at: anchor.signedAt,
      head: anchor.head,
    };
  const newest = rejected[0];
  if (newest !== undefined)
    return {
      status: 'invalid_signature',
      stream: newest.stream,
      seq: newest.seq,
      kid: newest.kid,
      signed_at: newest.ts,
      head: unsigned,
    };
  if (unknownKey === undefined) return { status: 'none' };
  const { event, kid } = unknownKey;
  // Not verified: the head the event claims (when its data has the shape to claim one).
  const heads: unknown = event.data.heads;
  const claimed = Array.isArray(heads)
    ? (heads as EventOf<'checkpoint.signed'>['data']['heads']).find((h) => h.session_id === sessionId)
    : undefined;
  return {
    status: 'unknown_key',
    stream: event.session_id,
    seq: event.seq,
    kid,
    signed_at: event.ts,
    head: claimed === undefined ? unsigned : { seq: claimed.seq, hash: claimed.hash },
  };
}

/** Public checkpoint keys by `kid`. */
export type CheckpointPublicKeys = ReadonlyMap<string, KeyObject>;

/** Rejected checkpoints listed in an answer (all of them still make the session not intact). */
const MAX_REJECTED_REPORTED = 20;
/** Candidates read per store query. */
const CANDIDATE_PAGE = 50;
/** Most candidates examined: a flood of forged checkpoints cannot make verification unbounded. */
const MAX_CANDIDATES = 1_000;
/**
 * How far a checkpoint event's `ts` may lie from the `iat` it signed (ms). The checkpointer sets
 * both from one clock reading (iat in whole seconds); more than this means the event was moved.
 */
export const MAX_CHECKPOINT_TS_SKEW_MS = 60_000;

/**
 * Finds the checkpoint naming `sessionId` that `verifySessionEvents` anchors on: among those that
 * verify with a known key, the one whose signed head for the session is furthest along (the
 * highest seq; of two with one seq, the older). A chain only grows, so a newer checkpoint naming an
 * earlier or another head was signed after the chain was cut back or rewritten — by a checkpointer
 * reading heads from a store someone had altered — and must not vouch for it. Candidates are read
 * newest first by `ts` among the checkpoints signed since `since`, every stream, however long ago.
 * A candidate whose signature fails, whose signed payload does not name the session, or whose `ts`
 * is not its signed `iat` (an old one moved to look newest) is refused and reported; one signed by
 * an unknown key is passed over (kept only to report when nothing verifies). At most
 * `MAX_CANDIDATES` are examined.
 */
export async function findSessionCheckpoint(
  store: AuditStore,
  sessionId: string,
  since: Date | undefined,
  keys: CheckpointPublicKeys,
): Promise<SessionCheckpoints> {
  const rejected: RejectedCheckpoint[] = [];
  let unknownKey: SessionCheckpoints['unknownKey'];
  let anchor: SessionCheckpoints['anchor'];
  let before: { ts: string; id: string } | undefined;
  for (let examined = 0; examined < MAX_CANDIDATES;) {
    const page = await store.checkpointsNaming(sessionId, {
      ...(since === undefined ? {} : { since }),
      ...(before === undefined ? {} : { before }),
      limit: Math.min(CANDIDATE_PAGE, MAX_CANDIDATES - examined),
    });
    for (const event of page) {
      examined++;
      const data = event.data as Partial<EventOf<'checkpoint.signed'>['data']> | undefined;
      const jws = typeof data?.jws === 'string' ? data.jws : '';
      const kid = (typeof data?.kid === 'string' && data.kid) || checkpointKid(jws) || '';
      const key = keys.get(kid);
      if (key === undefined) {
        unknownKey ??= { event, kid };
        continue;
      }
      const refuse = (reason: RejectedCheckpoint['reason']) =>
        rejected.push({ reason, stream: event.session_id, seq: event.seq, kid, ts: event.ts });
      let payload: Awaited<ReturnType<typeof verifyCheckpoint>>;
      try {
        payload = await verifyCheckpoint(jws, key);
      } catch (error) {
        if (error instanceof QueryApiError && error.code === 'GH_ERR_CHECKPOINT_INVALID') {
          refuse('invalid_signature');
          continue;
        }
        throw error;
      }
      const signed = payload.heads.find((h) => h.session_id === sessionId);
      if (signed === undefined) {
        refuse('not_signed');
        continue;
      }
      if (Math.abs(payload.iat * 1000 - Date.parse(event.ts)) > MAX_CHECKPOINT_TS_SKEW_MS) {
        refuse('redated');
        continue;
      }
      // Newest first: a candidate as far along as the best so far is older, and wins the tie.
      if (anchor === undefined || signed.seq >= anchor.head.seq)
        anchor = {
          event,
          head: { seq: signed.seq, hash: signed.hash },
          kid,
          signedAt: new Date(payload.iat * 1000).toISOString(),
        };
    }
    const last = page.at(-1);
    if (last === undefined || page.length < CANDIDATE_PAGE) break;
    before = { ts: last.ts, id: last.id };
  }
  return {
    ...(anchor === undefined ? {} : { anchor }),
    ...(unknownKey === undefined ? {} : { unknownKey }),
    rejected,
  };
}
