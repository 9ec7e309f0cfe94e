import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LogError } from '../errors.js';
import { findNextValidFrame, readFrame } from './record-frame.js';

/** Bytes read per `read` call while scanning; grown on demand for a frame larger than this. */
export const SCAN_CHUNK_BYTES = 1024 * 1024;

/** Where a segment stops being a sequence of valid frames. */
export interface SegmentDamage {
  /** Byte position of the first bad frame. */
  readonly position: number;
  /** Which check failed ("checksum mismatch", "record cut short at end of file", …). */
  readonly reason: string;
}

export interface SegmentScan {
  /** Valid frames from the start position up to `end` (or up to `maxRecords`). */
  readonly records: number;
  /** Byte position after the last valid frame counted. */
  readonly end: number;
  /** Set when a bad or cut-short frame was met before `limit`. */
  readonly damage?: SegmentDamage;
}

/**
 * Walks the frames of a segment from `start` up to `limit` bytes (default: the file size), checking
 * each checksum, and stops after `maxRecords` frames or at the first bad one. Reads in
 * `SCAN_CHUNK_BYTES` pieces, so memory stays flat whatever the segment size.
 */
export async function scanSegment(
  handle: FileHandle,
  options: { start?: number; limit?: number; maxRecords?: number } = {},
): Promise<SegmentScan> {
  const limit = options.limit ?? (await handle.stat()).size;
  const maxRecords = options.maxRecords ?? Number.POSITIVE_INFINITY;
  let buffer = Buffer.allocUnsafe(SCAN_CHUNK_BYTES);
  let position = options.start ?? 0;
  let records = 0;
  while (position < limit && records < maxRecords) {
    const want = Math.min(buffer.length, limit - position);
    const { bytesRead } = await handle.read(buffer, 0, want, position);
    let at = 0;
    let progressed = false;
    while (records < maxRecords) {
      const frame = readFrame(buffer, at, bytesRead);
      if (frame.kind === 'ok') {
        at = frame.end;
        records++;
        progressed = true;
        continue;
      }
      if (frame.kind === 'invalid')
        return { records, end: position + at, damage: { position: position + at, reason: frame.reason } };
      // Incomplete: either the file really ends inside this frame, or the chunk does.
      if (position + at + frame.needBytes > limit || bytesRead < want) {
        if (position + at >= limit) break;
        return {
          records,
          end: position + at,
          damage: { position: position + at, reason: 'record cut short at end of file' },
        };
      }
      if (!progressed && frame.needBytes > buffer.length) buffer = Buffer.allocUnsafe(frame.needBytes);
      break;
    }
    position += at;
    if (position >= limit) break;
  }
  return { records, end: position };
}

/**
 * Decides whether damage at `position` is a torn tail (no valid frame anywhere after it: the last
 * write was cut short) or corruption in the middle of the data (a valid frame follows). Returns the
 * position of the next valid frame, or -1 for a torn tail. Reads the rest of the file at once; this
 * runs only on the recovery path.
 */
export async function findValidFrameAfter(
  handle: FileHandle,
  position: number,
  size: number,
): Promise<number> {
  const rest = Buffer.allocUnsafe(size - position);
  let filled = 0;
  while (filled < rest.length) {
    const { bytesRead } = await handle.read(rest, filled, rest.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  const next = findNextValidFrame(rest, 0, filled);
  return next < 0 ? -1 : position + next;
}

/**
 * The error for a bad frame that recovery may not truncate away. `why` says why it cannot be a torn
 * tail ("a valid record follows at byte 5120", "it lies inside data already acknowledged as durable").
 */
export function corruptSegmentError(file: string, damage: SegmentDamage, why: string): LogError {
  return new LogError(
    'GH_ERR_LOG_CORRUPT_SEGMENT',
    `event log segment ${path.basename(file)} (${file}) is corrupt at byte ${damage.position}: ${damage.reason}; ` +
      `this is not a torn tail because ${why}. Refusing to skip records: restore the segment from a backup, ` +
      'or truncate it at that byte by hand if losing the records after it is acceptable.',
  );
}
