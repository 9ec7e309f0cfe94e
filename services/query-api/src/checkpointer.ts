import {
  ChainRegistry,
  createEvent,
  type ChainHead,
  type CheckpointHead,
  type GatehouseEvent,
} from '@gatehouse/events';
import type { EventLog } from '@gatehouse/eventlog';
import { signCheckpoint } from './checkpoint-jws.js';
import type { CheckpointKey } from './checkpoint-key.js';

/** Minimal logger the checkpointer reports failures to (pino fits). */
export interface CheckpointLogger {
  warn(obj: object, msg: string): void;
}

/** Chain heads as the ingress keeps them (a map) or as the store reports them (a list). */
export type HeadSource = ReadonlyMap<string, ChainHead> | readonly CheckpointHead[];

export interface CheckpointerOptions {
  /** Where `checkpoint.signed` events are appended. */
  log: EventLog;
  /**
   * The heads to sign. Prefer the ingress's live `ChainRegistry.heads()` (what was written — a row
   * deleted from ClickHouse before the next checkpoint is still caught); `store.latestHeads()` (what
   * reached ClickHouse) also works, e.g. in a standalone query-api process. Chains named
   * `checkpoint:*` are never included.
   */
  heads: () => HeadSource | Promise<HeadSource>;
  /** Signing key, see `loadCheckpointKey`. */
  key: CheckpointKey;
  /** How often to publish (ms). A checkpoint is skipped when no head moved since the last one. */
  intervalMs: number;
  /** Stream the checkpoints form a chain on. Default `checkpoint:<random 8 hex>`. */
  stream?: string;
  /** Where the last head of `stream` is, when it outlives this process (seeds its chain). */
  streamHead?: ChainHead;
  logger?: CheckpointLogger;
  /** Clock (ms since epoch); default `Date.now`. */
  now?: () => number;
}

export interface Checkpointer {
  /** The stream the checkpoints are appended to. */
  readonly stream: string;
  /**
   * Signs and appends a checkpoint now (unless no head moved since the last one); resolves with the
   * appended event, or undefined when there was nothing new. Rejects if the log refuses it.
   */
  publishNow(): Promise<GatehouseEvent | undefined>;
  /** Stops the timer and publishes a last checkpoint (best effort). */
  stop(): Promise<void>;
}

/**
 * Periodically signs the head of every chain and appends a `checkpoint.signed` event
 * (`data: { jws, kid, heads }`). Verifiers check the JWS with the public key, then that each head it
 * names is still present, unchanged, in the chain read back: an edit or a deletion after the
 * checkpoint — including of the newest events — is then detectable.
 *
 * Failures to append are logged and retried at the next tick; ticks never overlap.
 */
export function startCheckpointer(options: CheckpointerOptions): Checkpointer {
  const stream = options.stream ?? `checkpoint:${Math.random().toString(16).slice(2, 10).padEnd(8, '0')}`;
  const chain = new ChainRegistry();
  if (options.streamHead !== undefined) chain.restore(stream, options.streamHead);
  const now = options.now ?? Date.now;
  let lastSigned = '';
  let running: Promise<GatehouseEvent | undefined> | undefined;
  let stopped = false;

  const publish = async (): Promise<GatehouseEvent | undefined> => {
    const source = await options.heads();
    const all: CheckpointHead[] = Array.isArray(source)
      ? (source as readonly CheckpointHead[]).map((h) => ({
          session_id: h.session_id,
          seq: h.seq,
          hash: h.hash,
        }))
      : [...(source as ReadonlyMap<string, ChainHead>)].map(([session_id, head]) => ({
          session_id,
          seq: head.seq,
          hash: head.hash,
        }));
    const heads = all
      .filter((head) => !head.session_id.startsWith('checkpoint:'))
      .sort((a, b) => (a.session_id < b.session_id ? -1 : a.session_id > b.session_id ? 1 : 0));
    const fingerprint = JSON.stringify(heads);
    if (heads.length === 0 || fingerprint === lastSigned) return undefined;
    // One clock reading for the signed `iat` and the event's `ts`: verification refuses a
    // checkpoint whose `ts` strays from its `iat` (an old one moved to look newest).
    const nowMs = now();
    const jws = await signCheckpoint({ iat: Math.floor(nowMs / 1000), heads }, options.key);
    const before = chain.head(stream);
    const event = chain.seal(
      createEvent(
        'checkpoint.signed',
        { session_id: stream },
        { jws, kid: options.key.kid, heads },
        {},
        nowMs,
      ),
    );
    try {
      await options.log.append([event]);
    } catch (error) {
      chain.rewind(stream, before);
      throw error;
    }
    lastSigned = fingerprint;
    return event;
  };

  const publishNow = (): Promise<GatehouseEvent | undefined> => {
    const next = (running ?? Promise.resolve(undefined)).catch(() => undefined).then(publish);
    running = next;
    return next;
  };

  const timer = setInterval(() => {
    if (stopped) return;
    publishNow().catch((error: unknown) =>
      options.logger?.warn({ err: error, stream }, 'checkpoint not published; retrying at the next tick'),
    );
  }, options.intervalMs);
  timer.unref();

  return {
    stream,
    publishNow,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await publishNow().catch((error: unknown) =>
        options.logger?.warn({ err: error, stream }, 'final checkpoint not published'),
      );
    },
  };
}
