import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { encodeEvent, parseEvent, type GatehouseEvent } from '@gatehouse/events';
import type { CommitCounts, ConsumerOptions, EventLog } from '../event-log.js';
import { numberFromEnv } from '../env-number.js';
import { LogError } from '../errors.js';
import { assertGroupName, prepareCheckpointDir, readCheckpoint, syncDir } from './checkpoint-store.js';
import { EmbeddedConsumer, type ConsumerHost } from './embedded-consumer.js';
import { acquireDirLock, type DirLock } from './file-lock.js';
import { GroupCommitWriter } from './group-commit-writer.js';
import { LogCursor, type LogView, type SegmentView } from './log-cursor.js';
import { claimLogFormat } from './log-format.js';
import { MAX_FRAME_PAYLOAD_BYTES } from './record-frame.js';
import { listSegments, segmentFileName } from './segment-files.js';
import { recoverLastSegment, type RecoveredSegment, type TailRecovery } from './tail-recovery.js';

/** Where the embedded log reports what recovery did. pino loggers fit this shape. */
export interface EmbeddedLogLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

export interface EmbeddedLogOptions {
  /** Directory of the log, created if missing: segment files, `LOCK`, `checkpoints/<group>.json`. */
  dir: string;
  /**
   * A segment is rolled (a new file started) before a write would take it past this size, in
   * bytes. Default 64 MiB. A single append larger than this still goes into one segment.
   */
  segmentMaxBytes?: number;
  /**
   * Largest encoded event (canonical JSON bytes) an append accepts. Default 1 MiB, at most 64 MiB.
   * A larger one rejects the whole append with `GH_ERR_LOG_RECORD_TOO_LARGE`; nothing is written.
   */
  maxRecordBytes?: number;
  /**
   * Upper bound on the bytes coalesced into one write+fsync (group commit). Default 4 MiB (or
   * `segmentMaxBytes` if smaller).
   */
  maxGroupBytes?: number;
  /**
   * Check every appended event against the event schema before writing it, so that a reader can
   * never meet a record it cannot decode. Default true (about 5 µs per event). Records written with
   * the check are flagged as such (`record-frame.ts`) and read back without running the schema a
   * second time (a structural check only); records written without it are checked in full on read.
   */
  validateOnAppend?: boolean;
  /**
   * When no commit has ended for this many milliseconds, and the event loop was idle for at least
   * half of the time since the last commit ended, a small group (at most 64 KiB, nothing else
   * queued) is written and fsync'd on the event loop's thread rather than through the libuv pool: a
   * quiet log's append then waits about 0.1 ms less (two thread hand-offs fewer). Under load commits
   * follow each other closely, or the loop has other work the fsync would hold up, and they go
   * through the pool.
   *
   * The price: while that fsync runs, the whole process waits — every session, timer and health
   * check. An inline commit that takes over 20 ms (a stalling disk) sends every commit of the next
   * 10 s through the pool, doubling at each further slow one up to 10 min; one that comes more than
   * 10 min after the last pause ended starts again at 10 s (`inline-pause.ts`). A disk that hangs outright
   * holds the process until the fsync returns. Turn it off (0) where the disk can hang
   * (network block storage, NFS). Default 2 (ms); the ingress and `gatehouse start` read
   * `GATEHOUSE_LOG_INLINE_COMMIT_MS`. `commitCounts()` tells how the commits went (the ingress
   * shows it on `/healthz`).
   */
  inlineCommitWhenQuietMs?: number;
  /** Receives a warning when recovery truncates a torn tail. Default: one line on stderr. */
  logger?: EmbeddedLogLogger;
}

/** The embedded adapter of `EventLog`, with what only it can tell. */
export interface EmbeddedEventLog extends EventLog {
  readonly kind: 'embedded';
  /** The log directory. */
  readonly dir: string;
  /** Set when recovery on open truncated a torn tail: which file, where, how many bytes, why. */
  readonly recovery: TailRecovery | undefined;
  /** The offset the next appended record gets (decimal); every offset below it is durable. */
  endOffset(): string;
  /** The committed position of `group` (the first offset it has not committed), or undefined. */
  committedOffset(group: string): Promise<string | undefined>;
  /**
   * How its group commits went since it was opened: how many were written and fsync'd on the event
   * loop's thread and how many through the libuv pool (see `inlineCommitWhenQuietMs`), and how long
   * the inline ones held the event loop in all.
   */
  commitCounts(): CommitCounts;
  openConsumer(group: string, options?: ConsumerOptions): Promise<EmbeddedConsumer>;
}

export const DEFAULT_SEGMENT_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;
export const DEFAULT_MAX_GROUP_BYTES = 4 * 1024 * 1024;
/** Default `inlineCommitWhenQuietMs`. */
export const DEFAULT_INLINE_COMMIT_WHEN_QUIET_MS = 2;

/**
 * `inlineCommitWhenQuietMs` from `GATEHOUSE_LOG_INLINE_COMMIT_MS` (milliseconds, 0 = never inline);
 * undefined when unset. Throws `GH_ERR_LOG_CONFIG` naming the variable for anything else.
 */
export function inlineCommitWhenQuietMsFromEnv(
  env: NodeJS.ProcessEnv,
  name = 'GATEHOUSE_LOG_INLINE_COMMIT_MS',
): number | undefined {
  return numberFromEnv(
    env,
    name,
    (raw) => (/^\d+(\.\d+)?$/.test(raw) ? Number(raw) : undefined),
    'a number of milliseconds ≥ 0',
  );
}

const stderrLogger: EmbeddedLogLogger = {
  warn: (details, message) =>
    process.stderr.write(`gatehouse eventlog: ${message} ${JSON.stringify(details)}\n`),
};

function positiveInteger(
  value: number | undefined,
  fallback: number,
  name: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `${name} must be an integer between 1 and ${max} bytes, got ${value}`,
    );
  }
  return value;
}

/**
 * Opens (or creates) the embedded segment-file log in `options.dir`.
 *
 * - One partition (0); offsets are record indexes from 0; events are stored as framed canonical
 *   JSON (`record-frame.ts`) in segment files named by their first offset (`segment-files.ts`).
 * - `append` resolves after the fdatasync covering it; concurrent appends share one write+fsync
 *   (group commit, `group-commit-writer.ts`). Append order is log order.
 * - On open: takes the directory lock (`GH_ERR_LOG_LOCKED` if a live process holds it; a dead
 *   owner's lock is taken over), scans the last segment and truncates a torn tail (reported via
 *   `logger` and `recovery`); corruption before the tail is `GH_ERR_LOG_CORRUPT_SEGMENT`.
 * - Consumers see only durable records, are woken by appends (no polling), and checkpoint to
 *   `<dir>/checkpoints/<group>.json` atomically.
 * - Segments are never deleted (no retention): `fromBeginning` always starts at offset 0.
 */
export async function openEmbeddedLog(options: EmbeddedLogOptions): Promise<EmbeddedEventLog> {
  const dir = path.resolve(options.dir);
  const segmentMaxBytes = positiveInteger(
    options.segmentMaxBytes,
    DEFAULT_SEGMENT_MAX_BYTES,
    'segmentMaxBytes',
  );
  const maxRecordBytes = positiveInteger(
    options.maxRecordBytes,
    DEFAULT_MAX_RECORD_BYTES,
    'maxRecordBytes',
    MAX_FRAME_PAYLOAD_BYTES,
  );
  const maxGroupBytes = positiveInteger(
    options.maxGroupBytes,
    Math.min(DEFAULT_MAX_GROUP_BYTES, segmentMaxBytes),
    'maxGroupBytes',
  );
  const inlineWhenQuietMs = options.inlineCommitWhenQuietMs ?? DEFAULT_INLINE_COMMIT_WHEN_QUIET_MS;
  if (!Number.isFinite(inlineWhenQuietMs) || inlineWhenQuietMs < 0) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `inlineCommitWhenQuietMs must be a number of milliseconds ≥ 0, got ${inlineWhenQuietMs}`,
    );
  }
  const logger = options.logger ?? stderrLogger;
  try {
    await mkdir(dir, { recursive: true });
  } catch (cause) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `cannot create the event log directory ${dir}: ${String(cause)}`,
      { cause },
    );
  }
  const lock = await acquireDirLock(dir);
  try {
    await claimLogFormat(dir);
    await prepareCheckpointDir(dir);
    const found = await listSegments(dir);
    if (found.length === 0) {
      const file = path.join(dir, segmentFileName(0));
      await (await open(file, 'wx')).close();
      await syncDir(dir);
      found.push({ baseOffset: 0, file });
    }
    const segments: SegmentView[] = [];
    for (const segment of found.slice(0, -1))
      segments.push({ ...segment, bytes: (await stat(segment.file)).size });
    const last = found[found.length - 1]!;
    const recovered = await recoverLastSegment(last.file, false);
    if (recovered.truncated) {
      logger.warn(
        { ...recovered.truncated },
        'truncated a torn tail of the event log (records never acknowledged)',
      );
    }
    segments.push({ ...last, bytes: recovered.bytes });
    return new EmbeddedLog(dir, lock, segments, recovered, {
      segmentMaxBytes,
      maxRecordBytes,
      maxGroupBytes,
      validate: options.validateOnAppend ?? true,
      inlineWhenQuietMs,
    });
  } catch (error) {
    await lock.release();
    throw error;
  }
}

interface Limits {
  segmentMaxBytes: number;
  maxRecordBytes: number;
  maxGroupBytes: number;
  validate: boolean;
  inlineWhenQuietMs: number;
}

class EmbeddedLog implements EmbeddedEventLog, ConsumerHost {
  readonly kind = 'embedded' as const;
  readonly dir: string;
  readonly recovery: TailRecovery | undefined;
  readonly view: LogView;
  readonly #lock: DirLock;
  readonly #limits: Limits;
  readonly #writer: GroupCommitWriter;
  readonly #consumers = new Map<string, EmbeddedConsumer>();
  readonly #opening = new Set<string>();
  #wakers = new Set<() => void>();
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(
    dir: string,
    lock: DirLock,
    segments: SegmentView[],
    recovered: RecoveredSegment,
    limits: Limits,
  ) {
    this.dir = dir;
    this.#lock = lock;
    this.#limits = limits;
    this.recovery = recovered.truncated;
    const endOffset = segments[segments.length - 1]!.baseOffset + recovered.records;
    this.#writer = new GroupCommitWriter(
      {
        dir,
        segmentMaxBytes: limits.segmentMaxBytes,
        maxGroupBytes: limits.maxGroupBytes,
        schemaChecked: limits.validate,
        inlineWhenQuietMs: limits.inlineWhenQuietMs,
        onDurable: () => this.#wakeConsumers(),
      },
      segments,
      recovered.handle,
      endOffset,
    );
    const writer = this.#writer;
    this.view = {
      segments,
      get endOffset() {
        return writer.endOffset;
      },
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  endOffset(): string {
    return String(this.#writer.endOffset);
  }

  commitCounts(): CommitCounts {
    return this.#writer.commitCounts;
  }

  async append(events: readonly GatehouseEvent[]): Promise<void> {
    if (this.#closed)
      throw new LogError('GH_ERR_LOG_CLOSED', `the event log ${this.dir} is closed`, {
        nothingWritten: true,
      });
    if (events.length === 0) return;
    const payloads: Buffer[] = [];
    for (const event of events) payloads.push(this.#encode(event));
    return this.#writer.submit(payloads);
  }

  #encode(event: GatehouseEvent): Buffer {
    let payload: Buffer;
    try {
      // Validate, then encode the caller's object (not zod's copy): the schema has no transforms, and
      // keeping the identity lets an encoder that memoizes per sealed event do its job.
      if (this.#limits.validate) parseEvent(event);
      payload = encodeEvent(event);
    } catch (cause) {
      const id = (event as { id?: unknown } | null)?.id;
      throw new LogError(
        'GH_ERR_LOG_INVALID_RECORD',
        `append: event ${JSON.stringify(id)} cannot be written: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause, nothingWritten: true },
      );
    }
    if (payload.length > this.#limits.maxRecordBytes) {
      throw new LogError(
        'GH_ERR_LOG_RECORD_TOO_LARGE',
        `append: event ${event.id} (${event.type}) encodes to ${payload.length} bytes, over maxRecordBytes (${this.#limits.maxRecordBytes}); nothing of this append was written`,
        { nothingWritten: true },
      );
    }
    return payload;
  }

  async openConsumer(group: string, options: ConsumerOptions = {}): Promise<EmbeddedConsumer> {
    if (this.#closed) throw new LogError('GH_ERR_LOG_CLOSED', `the event log ${this.dir} is closed`);
    assertGroupName(group);
    if (this.#consumers.has(group) || this.#opening.has(group)) {
      throw new LogError(
        'GH_ERR_LOG_GROUP_BUSY',
        `consumer group ${group} already has an open consumer in this process; close it first`,
      );
    }
    this.#opening.add(group);
    try {
      const checkpoint = await readCheckpoint(this.dir, group);
      const committed = checkpoint?.nextOffset ?? 0;
      if (committed > this.#writer.endOffset) {
        throw new LogError(
          'GH_ERR_LOG_CHECKPOINT',
          `checkpoint of group ${group} is at offset ${committed}, past the end of the log (${this.#writer.endOffset}): the log was replaced or lost data`,
        );
      }
      const cursor = await LogCursor.open(this.view, options.fromBeginning ? 0 : committed);
      const consumer = new EmbeddedConsumer(this, group, cursor, committed);
      this.#consumers.set(group, consumer);
      return consumer;
    } finally {
      this.#opening.delete(group);
    }
  }

  async committedOffset(group: string): Promise<string | undefined> {
    assertGroupName(group);
    const checkpoint = await readCheckpoint(this.dir, group);
    return checkpoint === undefined ? undefined : String(checkpoint.nextOffset);
  }

  onceAppended(wake: () => void): () => void {
    this.#wakers.add(wake);
    return () => this.#wakers.delete(wake);
  }

  release(group: string): void {
    this.#consumers.delete(group);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    try {
      await this.#writer.close();
      await Promise.all([...this.#consumers.values()].map((consumer) => consumer.close()));
    } finally {
      await this.#lock.release();
    }
  }

  #wakeConsumers(): void {
    if (this.#wakers.size === 0) return;
    const wakers = this.#wakers;
    this.#wakers = new Set();
    for (const wake of wakers) wake();
  }
}
