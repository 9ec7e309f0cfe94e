import { ChainRegistry, events, type EventContext, type GatehouseEvent } from '@gatehouse/events';
import type { EventLog } from '@gatehouse/eventlog';

/** One answered (or refused) query, as recorded. */
export interface ExecutedQuery {
  readonly context: Omit<EventContext, 'session_id'>;
  /** Route, e.g. `GET /v1/agents/:agent/capabilities`. */
  readonly endpoint: string;
  /** Path and query parameters as strings. */
  readonly params: Record<string, string>;
  /** HTTP status of the answer. */
  readonly status: number;
}

/**
 * Records `query.executed` events on the `query:<instance>` stream: the auditors are audited.
 * Concurrent records are sealed in arrival order and appended in batches (one `append` at a time),
 * so the stream's chain matches the log order. `record` resolves only once the event is durable;
 * if the log refuses a batch, every record in it rejects and the chain is rewound.
 */
export class QueryRecorder {
  readonly stream: string;
  readonly #log: EventLog;
  readonly #chain = new ChainRegistry();
  #pending: { query: ExecutedQuery; resolve: (e: GatehouseEvent) => void; reject: (e: unknown) => void }[] =
    [];
  #flushing = false;

  constructor(log: EventLog, instance: string) {
    this.#log = log;
    this.stream = `query:${instance}`;
  }

  record(query: ExecutedQuery): Promise<GatehouseEvent> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ query, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      const before = this.#chain.head(this.stream);
      const sealed = batch.map(({ query }) =>
        this.#chain.seal(
          events.queryExecuted(
            { ...query.context, session_id: this.stream },
            { endpoint: query.endpoint, params: query.params, status: query.status },
          ),
        ),
      );
      try {
        await this.#log.append(sealed);
        batch.forEach((item, i) => item.resolve(sealed[i]!));
      } catch (error) {
        this.#chain.rewind(this.stream, before);
        batch.forEach((item) => item.reject(error));
      }
    }
    this.#flushing = false;
  }
}
