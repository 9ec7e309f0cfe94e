import { canonicalJson, type GatehouseEvent } from '@gatehouse/events';
import type { AuditStore } from '@gatehouse/store';

/**
 * Rows read per store query where the query API goes through a whole session (verify, what-if): a
 * session of any length is gone through holding a page or two of it.
 */
export const SESSION_PAGE_ROWS = 10_000;

/** Gives the next page of a session's events in seq order, and an empty page at the end. */
export type NextPage = () => Promise<readonly GatehouseEvent[]>;

export interface SessionPagesOptions {
  /**
   * Every stored row but exact copies (`withoutIdenticalCopies`), for verification: a row forged
   * under an existing id must not be deduplicated away. Default: one row per event id.
   */
  allCopies?: boolean;
  /** Rows per store query; more than the copies of any one event (redelivery makes a few). */
  pageRows?: number | undefined;
}

/**
 * A session's stored events a page at a time, in seq order. A page ends on a whole seq: the rows of
 * its last seq that a full page may have cut are read, all together, with the next page.
 *
 * Only an empty answer ends the session. A short one does not: the store reads a page in two steps
 * (the session index, then the events), whose row counts can differ — copies merged in one table
 * and not yet in the other, or a row planted in one of them — so after a short page the next is
 * read from its last seq again, leaving out the rows of that seq already given.
 */
export function storedSessionPages(
  store: Pick<AuditStore, 'sessionEvents'>,
  sessionId: string,
  options: SessionPagesOptions = {},
): NextPage {
  const allCopies = options.allCopies === true;
  const pageRows = options.pageRows ?? SESSION_PAGE_ROWS;
  /** What makes two rows one: every column when all copies are read, else the id. */
  const identity = (event: GatehouseEvent) => (allCopies ? canonicalJson(event) : event.id);
  const kept = (rows: GatehouseEvent[]) => (allCopies ? withoutIdenticalCopies(rows) : rows);
  let fromSeq: number | undefined = 0;
  /** The rows of seq `fromSeq` already given. */
  let given = new Set<string>();
  return async () => {
    while (fromSeq !== undefined) {
      const from = fromSeq;
      const rows = await store.sessionEvents(sessionId, { allCopies, fromSeq: from, limit: pageRows });
      const last = rows.at(-1);
      if (last === undefined) {
        fromSeq = undefined;
        return [];
      }
      const fresh = (list: GatehouseEvent[]) =>
        list.filter((event) => event.seq !== from || !given.has(identity(event)));
      if (rows.length === pageRows) {
        let cut = rows.length;
        while (cut > 0 && rows[cut - 1]!.seq === last.seq) cut--;
        // As many stored rows of one seq as a page holds: no redelivery makes that many copies,
        // and the page cannot end on a whole seq. The rows are given as they are, copies and all,
        // so that verification reports the session broken at the second one (`inserted`) rather
        // than a copy that differs, further on, going unread.
        const page = cut === 0 ? fresh(rows) : kept(fresh(rows.slice(0, cut)));
        fromSeq = cut === 0 ? last.seq + 1 : last.seq;
        given = new Set();
        if (page.length > 0) return page;
        continue;
      }
      const page = fresh(rows);
      if (page.length === 0) {
        // Nothing new: every row is of seq `from`, given before. The session goes on after it.
        fromSeq = from + 1;
        given = new Set();
        continue;
      }
      const atLast = rows.filter((event) => event.seq === last.seq).map(identity);
      given = last.seq === from ? new Set([...given, ...atLast]) : new Set(atLast);
      fromSeq = last.seq;
      return kept(page);
    }
    return [];
  };
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
