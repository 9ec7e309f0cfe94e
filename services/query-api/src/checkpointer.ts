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

/**
 * Most heads one checkpoint event signs: about 300 bytes each (in the JWS payload and again in
 * `data.heads`), so that an event stays well under the log's 1 MiB record limit. More heads than
 * this in one tick are signed in several events.
 */
export const MAX_HEADS_PER_CHECKPOINT = 2_000;

/**
 * How far back a checkpointer fed from the store (`store.latestHeads({ since })`) looks for sessions
 * with events: at least an hour, so that a session whose events reach ClickHouse late (a projector
 * restarted, or behind) is still signed. Heads that did not move are not signed again.
 */
export const STORE_HEADS_LOOKBACK_MS = 3_600_000;

/** The `since` of `store.latestHeads` for a checkpointer publishing every `intervalMs`. */
export function storeHeadsSince(nowMs: number, intervalMs: number): Date {
  return new Date(nowMs - Math.max(2 * intervalMs, STORE_HEADS_LOOKBACK_MS));
}

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
  /**
   * How often to publish (ms). A checkpoint signs the heads that moved since they were last signed
   * (unchanged heads are not signed again), and is skipped when none did.
   */
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
   * Signs and appends a checkpoint now (unless no head moved since it was last signed); resolves with
   * the last event appended (several when more than `MAX_HEADS_PER_CHECKPOINT` heads moved), or
   * undefined when there was nothing new. Rejects if the log refuses one.
   */
  publishNow(): Promise<GatehouseEvent | undefined>;
  /** Stops the timer and publishes a last checkpoint (best effort). */
  stop(): Promise<void>;
}

/**
 * Periodically signs the head of every chain that moved since it was last signed and appends a
 * `checkpoint.signed` event (`data: { jws, kid, heads }`). Verifiers check the JWS with the public key, then that each head it
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
  /** Per session the source still gives, the hash of its head when it was last signed. */
  let signed = new Map<string, string>();
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
    // Only heads that moved since they were last signed: verification anchors on the checkpoint
    // that signed a session furthest along, and an unchanged head's is still true.
    const changed = heads.filter((head) => signed.get(head.session_id) !== head.hash);
    const next = new Map<string, string>();
    for (const head of heads) {
      const hash = signed.get(head.session_id);
      if (hash !== undefined) next.set(head.session_id, hash);
    }
    signed = next;
    if (changed.length === 0) return undefined;
    // One clock reading for the signed `iat` and the events' `ts`: verification refuses a
    // checkpoint whose `ts` strays from its `iat` (an old one moved to look newest).
    const nowMs = now();
    let last: GatehouseEvent | undefined;
    for (let from = 0; from < changed.length; from += MAX_HEADS_PER_CHECKPOINT) {
      const part = changed.slice(from, from + MAX_HEADS_PER_CHECKPOINT);
      const jws = await signCheckpoint({ iat: Math.floor(nowMs / 1000), heads: part }, options.key);
      const before = chain.head(stream);
      const event = chain.seal(
        createEvent(
          'checkpoint.signed',
          { session_id: stream },
          { jws, kid: options.key.kid, heads: part },
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
      for (const head of part) signed.set(head.session_id, head.hash);
      last = event;
    }
    return last;
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
