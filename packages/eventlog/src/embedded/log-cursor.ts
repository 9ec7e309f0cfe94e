import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { decodeCheckedEvent, decodeEvent, type GatehouseEvent } from '@gatehouse/events';
import { LogError } from '../errors.js';
import { readFrame } from './record-frame.js';
import { SCAN_CHUNK_BYTES, corruptSegmentError, scanSegment } from './segment-scan.js';

/**
 * A segment as readers see it. `bytes` is the durable size: for the segment being written it grows
 * after each fsync (the writer updates it in place), for older segments it is the file size.
 */
export interface SegmentView {
  readonly baseOffset: number;
  readonly file: string;
  bytes: number;
}

/** What a cursor may read: the segments in order and the offset after the last durable record. */
export interface LogView {
  readonly segments: readonly SegmentView[];
  /** Offset the next appended record will get; every offset below it is durable. */
  readonly endOffset: number;
}

/** One decoded record. */
export interface LogRecord {
  readonly offset: number;
  readonly event: GatehouseEvent;
}

/**
 * Reads records in log order from a position, never past `view.endOffset`, across segment
 * boundaries. Every frame is checksum-checked, then decoded with `decodeEvent` (the full schema), or
 * with `decodeCheckedEvent` (a structural check) when the frame is flagged as schema-checked at
 * append; damage inside durable data is `GH_ERR_LOG_CORRUPT_SEGMENT`, a schema failure
 * `GH_ERR_LOG_INVALID_RECORD`, both naming the segment file, the offset and the byte position.
 */
export class LogCursor {
  readonly #view: LogView;
  #segmentIndex: number;
  #position: number;
  #offset: number;
  #handle: FileHandle | undefined;
  #buffer = Buffer.allocUnsafe(SCAN_CHUNK_BYTES);

  private constructor(view: LogView, segmentIndex: number, position: number, offset: number) {
    this.#view = view;
    this.#segmentIndex = segmentIndex;
    this.#position = position;
    this.#offset = offset;
  }

  /** A cursor at `offset` (0 ≤ offset ≤ `view.endOffset`); finds the byte position by scanning its segment. */
  static async open(view: LogView, offset: number): Promise<LogCursor> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > view.endOffset) {
      throw new LogError(
        'GH_ERR_LOG_CHECKPOINT',
        `offset ${offset} is outside the log (0–${view.endOffset})`,
      );
    }
    let index = 0;
    while (index + 1 < view.segments.length && view.segments[index + 1]!.baseOffset <= offset) index++;
    const segment = view.segments[index];
    if (segment === undefined) throw new LogError('GH_ERR_LOG_CONFIG', 'the event log has no segment');
    const cursor = new LogCursor(view, index, 0, segment.baseOffset);
    const skip = offset - segment.baseOffset;
    if (skip > 0) {
      const handle = await cursor.#openSegment();
      const scan = await scanSegment(handle, { limit: segment.bytes, maxRecords: skip });
      if (scan.damage)
        throw corruptSegmentError(segment.file, scan.damage, 'it lies inside data acknowledged as durable');
      if (scan.records < skip) {
        throw new LogError(
          'GH_ERR_LOG_CHECKPOINT',
          `offset ${offset} is past the end of segment ${path.basename(segment.file)}, which holds only ${scan.records} records from ${segment.baseOffset}`,
        );
      }
      cursor.#position = scan.end;
      cursor.#offset = offset;
    }
    return cursor;
  }

  /** Offset of the next record this cursor returns. */
  get offset(): number {
    return this.#offset;
  }

  /** Up to `max` records from the cursor, advancing it; empty when the cursor is at the end. */
  async read(max: number): Promise<LogRecord[]> {
    const records: LogRecord[] = [];
    while (records.length < max && this.#offset < this.#view.endOffset) {
      let segment = this.#view.segments[this.#segmentIndex]!;
      if (this.#position >= segment.bytes) {
        if (this.#segmentIndex + 1 >= this.#view.segments.length) break;
        await this.#closeSegment();
        this.#segmentIndex++;
        this.#position = 0;
        segment = this.#view.segments[this.#segmentIndex]!;
        if (segment.baseOffset !== this.#offset) {
          throw new LogError(
            'GH_ERR_LOG_CORRUPT_SEGMENT',
            `event log segment ${path.basename(segment.file)} should start at offset ${this.#offset} (the previous segment ends there) but is named for ${segment.baseOffset}`,
          );
        }
        continue;
      }
      await this.#readChunk(segment, max - records.length, records);
    }
    return records;
  }

  async close(): Promise<void> {
    await this.#closeSegment();
  }

  async #readChunk(segment: SegmentView, max: number, into: LogRecord[]): Promise<void> {
    const handle = await this.#openSegment();
    const want = Math.min(this.#buffer.length, segment.bytes - this.#position);
    const { bytesRead } = await handle.read(this.#buffer, 0, want, this.#position);
    let at = 0;
    let taken = 0;
    while (taken < max && this.#offset < this.#view.endOffset && at < bytesRead) {
      const frame = readFrame(this.#buffer, at, bytesRead);
      if (frame.kind === 'ok') {
        into.push({ offset: this.#offset, event: this.#decode(segment, frame.payload, frame.schemaChecked) });
        this.#position += frame.end - at;
        at = frame.end;
        this.#offset++;
        taken++;
        continue;
      }
      const damagePosition = this.#position;
      if (frame.kind === 'incomplete' && damagePosition + frame.needBytes <= segment.bytes) {
        // The chunk ended inside the frame: read again from this frame (bigger buffer if needed).
        if (at === 0) this.#buffer = Buffer.allocUnsafe(Math.max(frame.needBytes, this.#buffer.length * 2));
        return;
      }
      const reason = frame.kind === 'invalid' ? frame.reason : 'record cut short inside durable data';
      throw corruptSegmentError(
        segment.file,
        { position: damagePosition, reason },
        'it lies inside data acknowledged as durable',
      );
    }
  }

  #decode(segment: SegmentView, payload: Buffer, schemaChecked: boolean): GatehouseEvent {
    try {
      return schemaChecked ? decodeCheckedEvent(payload) : decodeEvent(payload);
    } catch (cause) {
      throw new LogError(
        'GH_ERR_LOG_INVALID_RECORD',
        `event log segment ${path.basename(segment.file)} (${segment.file}): record at offset ${this.#offset} (byte ${this.#position}) is not a valid event: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
  }

  async #openSegment(): Promise<FileHandle> {
    if (this.#handle === undefined) {
      const file = this.#view.segments[this.#segmentIndex]!.file;
      try {
        this.#handle = await open(file, 'r');
      } catch (cause) {
        throw new LogError(
          'GH_ERR_LOG_UNAVAILABLE',
          `cannot open event log segment ${file}: ${String(cause)}`,
          { cause, retryable: true },
        );
      }
    }
    return this.#handle;
  }

  async #closeSegment(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}
