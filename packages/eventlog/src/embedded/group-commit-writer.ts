import { fdatasyncSync, writeSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { LogError } from '../errors.js';
import type { CommitCounts } from '../event-log.js';
import { syncDir } from './checkpoint-store.js';
import { InlinePause } from './inline-pause.js';
import type { SegmentView } from './log-cursor.js';
import { frameBytes, writeFrame } from './record-frame.js';
import { segmentFileName } from './segment-files.js';

interface PendingAppend {
  readonly payloads: readonly Buffer[];
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /** Directory holding the segments. */
  readonly dir: string;
  /** A segment is rolled before a write that would take it past this size (bytes). */
  readonly segmentMaxBytes: number;
  /** Upper bound on one coalesced write (bytes); one append larger than this is written alone. */
  readonly maxGroupBytes: number;
  /**
   * Every submitted payload passed the event schema: frames carry FRAME_FLAG_SCHEMA_CHECKED, and
   * readers skip the schema for them (see `record-frame.ts`).
   */
  readonly schemaChecked: boolean;
  /** Called after each fsync with the new end offset (every offset below it is durable). */
  readonly onDurable: (endOffset: number) => void;
  /**
   * A group that finds the log quiet (no commit ended in the last `inlineWhenQuietMs`, nothing else
   * queued, at most `INLINE_MAX_BYTES`) and the event loop at least half idle since the last commit
   * ended (`INLINE_MAX_LOOP_UTILIZATION`) is written and fsync'd on this thread instead of the libuv
   * pool (see `EmbeddedLogOptions.inlineCommitWhenQuietMs`). The writer's first commit has no last
   * commit to measure from and is judged by size and queue alone. 0 or absent: never.
   */
  readonly inlineWhenQuietMs?: number;
}

/** The largest group a quiet log commits inline (bytes): a few calls' events, not a burst. */
const INLINE_MAX_BYTES = 64 * 1024;

/**
 * The largest share of the time since the last commit ended that the event loop may have spent
 * working, for the next commit to go inline: an average over that whole gap, so a short burst after
 * a long idle spell still commits inline. A gap between commits does not make a quiet process: a
 * saturated gateway, its calls waiting on their upstreams, leaves gaps of several ms between commits
 * while its loop never rests, and an inline fdatasync would hold up all of that work (the
 * benchmark's own-process gateway at saturation: 8–25% of its commits went inline, holding the loop
 * for 1–5% of the time). A paced gateway's loop idles most of the time between calls, so most of its
 * commits still go inline.
 */
export const INLINE_MAX_LOOP_UTILIZATION = 0.5;

/**
 * Group commit for the active segment. Appends are queued; one loop takes everything queued
 * (up to `maxGroupBytes`), writes it with one `write` at the segment's durable end, calls
 * `fdatasync` once, and only then resolves every append of that group. Appends that arrive while a
 * write+fsync is in flight form the next group. Queue order is write order, so per-caller order is
 * preserved. A small group on a quiet log in an idle process is written and fsync'd on this thread
 * (`inlineWhenQuietMs`).
 *
 * A failed write or fsync rejects the whole group with a retryable `GH_ERR_LOG_UNAVAILABLE` after
 * truncating the segment back to its last durable size; if even that fails, the writer is broken
 * and rejects everything until the log is reopened (recovery on open then repairs the tail).
 */
export class GroupCommitWriter {
  readonly #options: GroupCommitOptions;
  readonly #segments: SegmentView[];
  #active: FileHandle;
  #endOffset: number;
  #queue: PendingAppend[] = [];
  #running: Promise<void> | undefined;
  #broken: LogError | undefined;
  /** `performance.now()` when the last commit ended (-Infinity: none yet). */
  #lastCommitEnd = -Infinity;
  /** The event loop's utilization counters when the last commit ended (undefined: none yet). */
  #loopAtLastCommit: EventLoopUtilization | undefined;
  /** Pauses inline commits after a slow one (a stalling disk). */
  readonly #inlinePause = new InlinePause();
  #inlineCommits = 0;
  #pooledCommits = 0;
  #inlineHeldMs = 0;

  /** `segments` is shared with readers; its last element is the segment `active` writes to. */
  constructor(options: GroupCommitOptions, segments: SegmentView[], active: FileHandle, endOffset: number) {
    this.#options = options;
    this.#segments = segments;
    this.#active = active;
    this.#endOffset = endOffset;
  }

  get endOffset(): number {
    return this.#endOffset;
  }

  /** How the commits went so far: inline or through the pool (see `CommitCounts`). */
  get commitCounts(): CommitCounts {
    return { inline: this.#inlineCommits, pooled: this.#pooledCommits, inlineHeldMs: this.#inlineHeldMs };
  }

  /** Queues framed-to-be payloads; resolves after the fsync that covers them. */
  submit(payloads: readonly Buffer[]): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    let bytes = 0;
    for (const payload of payloads) bytes += frameBytes(payload.length);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ payloads, bytes, resolve, reject });
      // Start on the next turn so that appends made in the same turn share the first write.
      this.#running ??= new Promise<void>((started) => setImmediate(started)).then(() => this.#drain());
    });
  }

  /** Resolves when every queued append has been written (or rejected). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Waits for queued appends, then closes the active segment file. */
  async close(): Promise<void> {
    await this.idle();
    await this.#active.close();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const group = this.#takeGroup();
        try {
          await this.#commit(group);
        } catch (error) {
          for (const append of group) append.reject(error);
          continue;
        }
        for (const append of group) append.resolve();
      }
    } finally {
      this.#running = undefined;
    }
  }

  #takeGroup(): PendingAppend[] {
    let bytes = 0;
    let count = 0;
    while (count < this.#queue.length) {
      const next = this.#queue[count]!;
      if (count > 0 && bytes + next.bytes > this.#options.maxGroupBytes) break;
      bytes += next.bytes;
      count++;
    }
    return this.#queue.splice(0, count);
  }

  async #commit(group: readonly PendingAppend[]): Promise<void> {
    if (this.#broken) throw this.#broken;
    let bytes = 0;
    let records = 0;
    for (const append of group) {
      bytes += append.bytes;
      records += append.payloads.length;
    }
    let segment = this.#segments[this.#segments.length - 1]!;
    if (segment.bytes > 0 && segment.bytes + bytes > this.#options.segmentMaxBytes)
      segment = await this.#roll();

    const buffer = Buffer.allocUnsafe(bytes);
    let at = 0;
    const checked = this.#options.schemaChecked;
    for (const append of group)
      for (const payload of append.payloads) at = writeFrame(buffer, at, payload, checked);

    try {
      if (this.#quiet(bytes)) {
        this.#inlineCommits++;
        this.#writeInline(buffer, segment.bytes);
      } else {
        this.#pooledCommits++;
        let written = 0;
        while (written < bytes) {
          const { bytesWritten } = await this.#active.write(
            buffer,
            written,
            bytes - written,
            segment.bytes + written,
          );
          written += bytesWritten;
        }
        await this.#active.datasync();
      }
    } catch (cause) {
      await this.#undo(segment, cause);
      throw new LogError(
        'GH_ERR_LOG_UNAVAILABLE',
        `cannot write event log segment ${segment.file}: ${String(cause)}`,
        {
          cause,
          retryable: true,
        },
      );
    } finally {
      this.#lastCommitEnd = performance.now();
      if (this.#options.inlineWhenQuietMs) this.#loopAtLastCommit = performance.eventLoopUtilization();
    }
    segment.bytes += bytes;
    this.#endOffset += records;
    this.#options.onDurable(this.#endOffset);
  }

  /**
   * Whether a group of `bytes` finds the log quiet and the event loop idle enough to commit inline
   * (see `inlineWhenQuietMs` and `INLINE_MAX_LOOP_UTILIZATION`).
   */
  #quiet(bytes: number): boolean {
    const gapMs = this.#options.inlineWhenQuietMs ?? 0;
    if (gapMs <= 0 || bytes > INLINE_MAX_BYTES || this.#queue.length > 0) return false;
    const now = performance.now();
    if (now - this.#lastCommitEnd < gapMs || !this.#inlinePause.allows(now)) return false;
    const since = this.#loopAtLastCommit;
    return (
      since === undefined ||
      performance.eventLoopUtilization(since).utilization <= INLINE_MAX_LOOP_UTILIZATION
    );
  }

  /** Writes `buffer` at `position` of the active segment and fsyncs it, on this thread. */
  #writeInline(buffer: Buffer, position: number): void {
    const started = performance.now();
    try {
      let written = 0;
      while (written < buffer.length)
        written += writeSync(this.#active.fd, buffer, written, buffer.length - written, position + written);
      fdatasyncSync(this.#active.fd);
    } finally {
      const ended = performance.now();
      this.#inlineHeldMs += ended - started;
      this.#inlinePause.record(started, ended);
    }
  }

  /** Truncates a failed write away so the segment ends at its last durable record again. */
  async #undo(segment: SegmentView, cause: unknown): Promise<void> {
    try {
      await this.#active.truncate(segment.bytes);
      await this.#active.datasync();
    } catch (undoError) {
      this.#broken = new LogError(
        'GH_ERR_LOG_UNAVAILABLE',
        `event log segment ${segment.file} could not be restored after a failed write (${String(cause)}; then ${String(undoError)}); reopen the log to recover`,
        { cause: undoError },
      );
    }
  }

  /** Starts a new segment named by the current end offset. The old one is already fsync'd. */
  async #roll(): Promise<SegmentView> {
    const file = path.join(this.#options.dir, segmentFileName(this.#endOffset));
    let handle: FileHandle | undefined;
    try {
      handle = await open(file, 'wx');
      await syncDir(this.#options.dir);
    } catch (cause) {
      if (handle !== undefined) {
        // Remove the half-made segment, or the next attempt would fail on the existing name.
        await handle.close().catch(() => undefined);
        await unlink(file).catch(() => undefined);
      }
      throw new LogError(
        'GH_ERR_LOG_UNAVAILABLE',
        `cannot create event log segment ${file}: ${String(cause)}`,
        { cause, retryable: true },
      );
    }
    await this.#active.close();
    this.#active = handle;
    const segment: SegmentView = { baseOffset: this.#endOffset, file, bytes: 0 };
    this.#segments.push(segment);
    return segment;
  }
}
