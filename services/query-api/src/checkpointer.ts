import {
  ChainRegistry,
  createEvent,
  type ChainHead,
  type CheckpointHead,
  type GatehouseEvent,
} from '@gatehouse/events';
import { LogError, type EventLog } from '@gatehouse/eventlog';
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
 * Most bytes of heads (their JSON) one checkpoint event signs: they appear twice in it, once in
 * the JWS payload (base64url, a third more), so an event of this many stays near 600 KiB, under the
 * log's 1 MiB record limit, whatever the session ids.
 */
const MAX_HEAD_BYTES_PER_CHECKPOINT = 256 * 1024;

/** `heads` in runs of at most `MAX_HEADS_PER_CHECKPOINT` heads and `MAX_HEAD_BYTES_PER_CHECKPOINT` bytes. */
function partsOf(heads: readonly CheckpointHead[]): CheckpointHead[][] {
  const parts: CheckpointHead[][] = [];
  let part: CheckpointHead[] = [];
  let bytes = 0;
  for (const head of heads) {
    const size = Buffer.byteLength(JSON.stringify(head));
    if (
      part.length > 0 &&
      (part.length === MAX_HEADS_PER_CHECKPOINT || bytes + size > MAX_HEAD_BYTES_PER_CHECKPOINT)
    ) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(head);
    bytes += size;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

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
  /** Per session the source still gives, its head when it was last signed (and what was warned of). */
  let signed = new Map<string, ChainHead & { warned?: string }>();
  let running: Promise<GatehouseEvent | undefined> | undefined;
  let stopped = false;

  /** Signs `part` and appends it as one event; resolves with the event. */
  const append = async (part: CheckpointHead[], nowMs: number): Promise<GatehouseEvent> => {
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
    return event;
  };

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
    // Only heads that moved on since they were last signed: verification anchors on the
    // checkpoint that signed a session furthest along, and an unchanged head's is still true. A
    // head that went back, or changed at the seq signed, is not signed again: a chain only grows,
    // so where the heads are read from was altered, and that is for verification to report.
    const next = new Map<string, ChainHead & { warned?: string }>();
    const changed: CheckpointHead[] = [];
    for (const head of heads) {
      const before = signed.get(head.session_id);
      if (before === undefined || head.seq > before.seq) changed.push(head);
      else if (head.seq < before.seq || head.hash !== before.hash) {
        const seen = `${head.seq}:${head.hash}`;
        if (before.warned !== seen)
          options.logger?.warn(
            {
              session_id: head.session_id,
              signed: { seq: before.seq, hash: before.hash },
              now: { seq: head.seq, hash: head.hash },
            },
            'a chain head went back or changed since it was signed; not signed again (the record was altered?)',
          );
        before.warned = seen;
      }
      if (before !== undefined) next.set(head.session_id, before);
    }
    signed = next;
    if (changed.length === 0) return undefined;
    // One clock reading for the signed `iat` and the events' `ts`: verification refuses a
    // checkpoint whose `ts` strays from its `iat` (an old one moved to look newest).
    const nowMs = now();
    const parts = partsOf(changed);
    let last: GatehouseEvent | undefined;
    for (let part = parts.shift(); part !== undefined; part = parts.shift()) {
      try {
        last = await append(part, nowMs);
      } catch (error) {
        // Heads longer than the estimate (escaped characters in session ids): halve and go on.
        if (error instanceof LogError && error.code === 'GH_ERR_LOG_RECORD_TOO_LARGE' && part.length > 1) {
          const half = Math.ceil(part.length / 2);
          parts.unshift(part.slice(0, half), part.slice(half));
          continue;
        }
        throw error;
      }
      for (const head of part) signed.set(head.session_id, { seq: head.seq, hash: head.hash });
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
