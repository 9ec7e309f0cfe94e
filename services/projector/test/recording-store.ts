import type { GatehouseEvent } from '@gatehouse/events';
import { StoreError, type AuditStore } from '@gatehouse/store';

/**
 * An AuditStore stand-in for projector unit tests: it records every insert (token and events),
 * deduplicates like ClickHouse (repeated token → nothing written; queries by distinct id), and can
 * be told to fail the next inserts.
 */
export class RecordingStore {
  readonly inserts: { token: string; ids: string[] }[] = [];
  readonly rows: GatehouseEvent[] = [];
  readonly #tokens = new Set<string>();
  #failures: { count: number; retryable: boolean } = { count: 0, retryable: true };

  /** The next `count` inserts reject with a StoreError, retryable or not. */
  failNext(count: number, retryable: boolean): void {
    this.#failures = { count, retryable };
  }

  distinctIds(): Set<string> {
    return new Set(this.rows.map((e) => e.id));
  }

  asStore(): AuditStore {
    const unsupported = async (): Promise<never> => {
      throw new StoreError('GH_ERR_STORE_QUERY', 'not supported by the recording store');
    };
    return {
      kind: 'chdb',
      database: 'recording',
      insertEvents: async (events, token) => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.#failures.count > 0) {
          this.#failures.count -= 1;
          throw new StoreError(
            this.#failures.retryable ? 'GH_ERR_STORE_UNAVAILABLE' : 'GH_ERR_STORE_QUERY',
            `insert into recording.events failed (token ${token})`,
            {
              retryable: this.#failures.retryable,
            },
          );
        }
        this.inserts.push({ token, ids: events.map((e) => e.id) });
        if (this.#tokens.has(token)) return;
        this.#tokens.add(token);
        this.rows.push(...events);
      },
      sessionEvents: unsupported,
      sessionIndexKeys: unsupported,
      checkpointsNaming: unsupported,
      publishedSince: unsupported,
      listSessions: unsupported,
      activity: unsupported,
      policyAt: unsupported,
      policyByVersion: unsupported,
      catalogsAt: unsupported,
      latestHeads: unsupported,
      countEvents: async () => this.distinctIds().size,
      ping: async () => true,
      close: async () => undefined,
    };
  }
}
