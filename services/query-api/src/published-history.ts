import type { EventOf } from '@gatehouse/events';
import type { AuditStore } from '@gatehouse/store';

type PolicyEvent = EventOf<'policy.published'>;
type CatalogEvent = EventOf<'catalog.published'>;

export interface PublishedHistoryOptions {
  /**
   * Re-read the `policy` and `catalog:<server>` streams when the last read is older than this (ms).
   * 0: every answer first reads what was appended since (strict, for tests). Default 1,000.
   */
  refreshMs?: number;
  /**
   * A question about an instant at least this long (ms) before the last read is answered from
   * memory at once, and a stale history is refreshed in the background; anything later waits for a
   * fresh read. Covers events still on their way through the projector. Default 10,000.
   */
  settleMs?: number;
  /** Look for upstream servers not seen before this often (ms), with one `catalogsAt(now)`. Default 30,000. */
  discoverMs?: number;
  /** Clock (ms). Default `Date.now`. */
  now?: () => number;
}

/**
 * Every `policy.published` and `catalog.published` event, kept in memory and read incrementally
 * from their named streams (`policy`, `catalog:<server>` — primary-key range reads of
 * `events_by_session`), so "the policy and catalogs in force at T" is answered without scanning the
 * event table. Publications are rare (one per policy load or upstream catalog change), so the
 * whole history is small.
 *
 * Freshness: a question about a recent instant (after the last read minus `settleMs`) is answered
 * from a read at most `refreshMs` old, waiting for one if needed; a question about the settled past
 * is answered from memory at once (a stale history is refreshed beside it).
 * An upstream server whose first catalog was published since the last discovery is seen within
 * `discoverMs`.
 * Ordering within a stream follows the store: latest `ts ≤ at`, ties broken by seq.
 */
export class PublishedHistory {
  readonly #store: AuditStore;
  readonly #refreshMs: number;
  readonly #settleMs: number;
  readonly #discoverMs: number;
  readonly #now: () => number;
  readonly #policies: PolicyEvent[] = [];
  /** By stream (`catalog:<server>`). */
  readonly #catalogs = new Map<string, CatalogEvent[]>();
  /** Next seq to read per stream. */
  readonly #nextSeq = new Map<string, number>();
  #refreshedAt = Number.NEGATIVE_INFINITY;
  #discoveredAt = Number.NEGATIVE_INFINITY;
  #refreshing: Promise<void> | undefined;

  constructor(store: AuditStore, options: PublishedHistoryOptions = {}) {
    this.#store = store;
    this.#refreshMs = options.refreshMs ?? 1_000;
    this.#settleMs = options.settleMs ?? 10_000;
    this.#discoverMs = options.discoverMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /** The latest policy published at or before `at`. */
  async policyAt(at: Date): Promise<PolicyEvent | undefined> {
    await this.#fresh(at.getTime());
    return latestAtOrBefore(this.#policies, at.getTime());
  }

  /** A published policy by version (content hash). */
  async policyByVersion(version: string): Promise<PolicyEvent | undefined> {
    await this.#fresh(Number.POSITIVE_INFINITY);
    return this.#policies.find((event) => event.data.version === version);
  }

  /** Per upstream server, the latest catalog published at or before `at`, sorted by server. */
  async catalogsAt(at: Date): Promise<CatalogEvent[]> {
    await this.#fresh(at.getTime());
    const out: CatalogEvent[] = [];
    for (const stream of [...this.#catalogs.keys()].sort()) {
      const event = latestAtOrBefore(this.#catalogs.get(stream)!, at.getTime());
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
    // Only questions about instants before this read may later be answered from memory.
    if (started - this.#discoveredAt >= this.#discoverMs) {
      this.#discoveredAt = started;
      // The first discovery is awaited; later ones (a full scan of the event table) run beside requests.
      const discovery = this.#discover(started);
      if (this.#refreshedAt === Number.NEGATIVE_INFINITY) await discovery;
      else discovery.catch(() => (this.#discoveredAt = Number.NEGATIVE_INFINITY));
    }
    await Promise.all([
      this.#readStream('policy', this.#policies),
      ...[...this.#catalogs].map(([stream, list]) => this.#readStream(stream, list)),
    ]);
    this.#refreshedAt = started;
  }

  async #discover(now: number): Promise<void> {
    for (const event of await this.#store.catalogsAt(new Date(now + 60_000))) {
      if (!this.#catalogs.has(event.session_id)) this.#catalogs.set(event.session_id, []);
    }
  }

  async #readStream<E extends PolicyEvent | CatalogEvent>(stream: string, into: E[]): Promise<void> {
    const cursor = this.#nextSeq.get(stream) ?? 0;
    const events = await this.#store.sessionEvents(stream, { fromSeq: cursor });
    const type = stream === 'policy' ? 'policy.published' : 'catalog.published';
    let next = cursor;
    for (const event of events) {
      // Stop at a gap: a later seq projected before an earlier one is read again next time.
      if (event.seq !== next) break;
      next += 1;
      if (event.type === type) into.push(event as E);
    }
    this.#nextSeq.set(stream, next);
  }
}

function latestAtOrBefore<E extends { ts: string; seq: number }>(
  events: readonly E[],
  atMs: number,
): E | undefined {
  let best: E | undefined;
  for (const event of events) {
    const ts = Date.parse(event.ts);
    if (ts > atMs) continue;
    if (
      best === undefined ||
      ts > Date.parse(best.ts) ||
      (ts === Date.parse(best.ts) && event.seq > best.seq)
    )
      best = event;
  }
  return best;
}
