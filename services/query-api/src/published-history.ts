import type { EventOf } from '@gatehouse/events';
import type { AuditStore } from '@gatehouse/store';

type PolicyEvent = EventOf<'policy.published'>;
type CatalogEvent = EventOf<'catalog.published'>;

export interface PublishedHistoryOptions {
  /**
   * Read what was published since the last read when that read is older than this (ms). 0: every
   * answer first reads (strict, for tests). Default 1,000.
   */
  refreshMs?: number;
  /**
   * A question about an instant at least this long (ms) before the last read is answered from
   * memory at once, and a stale history is refreshed in the background; anything later waits for a
   * fresh read. Covers events still on their way through the projector. Default 10,000.
   */
  settleMs?: number;
  /**
   * Read every publication again this often (ms), for any that reached the store later than
   * `overlapMs` after their `ts` (a projector that was down for a while). Default 60,000.
   */
  fullReadMs?: number;
  /** How far back (ms) before the newest publication seen each incremental read starts. Default 600,000. */
  overlapMs?: number;
  /** Clock (ms). Default `Date.now`. */
  now?: () => number;
}

/**
 * Every `policy.published` and `catalog.published` event, kept in memory and read incrementally by
 * time (`store.publishedSince`: the newest seen minus `overlapMs`, and everything every
 * `fullReadMs`), so "the policy and catalogs in force at T" is answered without scanning the event
 * table. Publications are rare (one per policy load or upstream catalog change), so the whole
 * history is small. They are read by type and time, not along one chain: an ingress that restarts
 * without its old head, or several ingress nodes, publish on chains of their own, so `seq` does not
 * order publications across them.
 *
 * Freshness: a question about a recent instant (after the last read minus `settleMs`) is answered
 * from a read at most `refreshMs` old, waiting for one if needed; a question about the settled past
 * is answered from memory at once (a stale history is refreshed beside it).
 * "In force at T": the latest `ts ≤ T`, ties broken by id (UUIDv7, time-ordered).
 */
export class PublishedHistory {
  readonly #store: AuditStore;
  readonly #refreshMs: number;
  readonly #settleMs: number;
  readonly #fullReadMs: number;
  readonly #overlapMs: number;
  readonly #now: () => number;
  readonly #seen = new Set<string>();
  readonly #policies: PolicyEvent[] = [];
  /** By upstream server. */
  readonly #catalogs = new Map<string, CatalogEvent[]>();
  /** The newest publication's ts seen (ms). */
  #newestMs = Number.NEGATIVE_INFINITY;
  #refreshedAt = Number.NEGATIVE_INFINITY;
  #fullReadAt = Number.NEGATIVE_INFINITY;
  #refreshing: Promise<void> | undefined;

  constructor(store: AuditStore, options: PublishedHistoryOptions = {}) {
    this.#store = store;
    this.#refreshMs = options.refreshMs ?? 1_000;
    this.#settleMs = options.settleMs ?? 10_000;
    this.#fullReadMs = options.fullReadMs ?? 60_000;
    this.#overlapMs = options.overlapMs ?? 600_000;
    this.#now = options.now ?? Date.now;
  }

  /** The latest policy published at or before `at`. */
  async policyAt(at: Date): Promise<PolicyEvent | undefined> {
    await this.#fresh(at.getTime());
    return latestAtOrBefore(this.#policies, at.getTime());
  }

  /** A published policy by version (content hash): the first publication of it. */
  async policyByVersion(version: string): Promise<PolicyEvent | undefined> {
    await this.#fresh(Number.POSITIVE_INFINITY);
    return this.#policies.find((event) => event.data.version === version);
  }

  /**
   * The published policies whose version starts with `prefix` (compared as given: versions are
   * lowercase hex), one per version — its first publication — in the order they were first
   * published. A full version matches itself alone; an empty prefix matches every version.
   */
  async policiesByVersionPrefix(prefix: string): Promise<PolicyEvent[]> {
    await this.#fresh(Number.POSITIVE_INFINITY);
    const first = new Map<string, PolicyEvent>();
    for (const event of this.#policies) {
      const { version } = event.data;
      if (version.startsWith(prefix) && !first.has(version)) first.set(version, event);
    }
    return [...first.values()];
  }

  /** Per upstream server, the latest catalog published at or before `at`, sorted by server. */
  async catalogsAt(at: Date): Promise<CatalogEvent[]> {
    await this.#fresh(at.getTime());
    const out: CatalogEvent[] = [];
    for (const server of [...this.#catalogs.keys()].sort()) {
      const event = latestAtOrBefore(this.#catalogs.get(server)!, at.getTime());
      if (event !== undefined) out.push(event);
    }
    return out;
  }

  /** Resolves when the history is good enough to answer about `atMs`. */
  #fresh(atMs: number): Promise<void> {
    const stale = this.#refreshMs === 0 || this.#now() - this.#refreshedAt >= this.#refreshMs;
    const settled = this.#refreshMs > 0 && atMs <= this.#refreshedAt - this.#settleMs;
    if (!stale) return Promise.resolve();
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    if (settled) {
      this.#refreshing.catch(() => undefined);
      return Promise.resolve();
    }
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const started = this.#now();
    const full =
      started - this.#fullReadAt >= this.#fullReadMs || this.#newestMs === Number.NEGATIVE_INFINITY;
    const events = await this.#store.publishedSince(
      full ? undefined : new Date(Math.max(0, this.#newestMs - this.#overlapMs)),
    );
    for (const event of events) this.#add(event);
    if (full) this.#fullReadAt = started;
    // Only questions about instants before this read may later be answered from memory.
    this.#refreshedAt = started;
  }

  #add(event: PolicyEvent | CatalogEvent): void {
    if (this.#seen.has(event.id)) return;
    this.#seen.add(event.id);
    this.#newestMs = Math.max(this.#newestMs, Date.parse(event.ts));
    if (event.type === 'policy.published') {
      insertInOrder(this.#policies, event);
      return;
    }
    const server = event.server ?? event.session_id;
    const list = this.#catalogs.get(server) ?? [];
    if (list.length === 0) this.#catalogs.set(server, list);
    insertInOrder(list, event);
  }
}

/** Keeps `list` ordered by (ts, id): the order `policyByVersion` and `latestAtOrBefore` rely on. */
function insertInOrder<E extends { ts: string; id: string }>(list: E[], event: E): void {
  let i = list.length;
  while (i > 0 && before(event, list[i - 1]!)) i--;
  list.splice(i, 0, event);
}

function before(a: { ts: string; id: string }, b: { ts: string; id: string }): boolean {
  const ta = Date.parse(a.ts);
  const tb = Date.parse(b.ts);
  return ta < tb || (ta === tb && a.id < b.id);
}

/** The last of `events` (ordered by ts, id) with ts ≤ `atMs`. */
function latestAtOrBefore<E extends { ts: string; id: string }>(
  events: readonly E[],
  atMs: number,
): E | undefined {
  for (let i = events.length - 1; i >= 0; i--) if (Date.parse(events[i]!.ts) <= atMs) return events[i];
  return undefined;
}
