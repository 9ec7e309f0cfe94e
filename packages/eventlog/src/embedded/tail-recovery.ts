import { open, type FileHandle } from 'node:fs/promises';
import { LogError } from '../errors.js';
import { corruptSegmentError, findValidFrameAfter, scanSegment } from './segment-scan.js';

/** What recovery removed from the end of the last segment. */
export interface TailRecovery {
  /** Segment file that had a torn tail. */
  readonly file: string;
  /** Byte position the segment was cut at (the start of the first bad record). */
  readonly position: number;
  /** How many bytes were removed (read-only mode: ignored). */
  readonly bytes: number;
  /** Why the first removed record was bad ("checksum mismatch", "record cut short at end of file"). */
  readonly reason: string;
}

export interface RecoveredSegment {
  /** Open handle (read-write unless `readOnly`). */
  readonly handle: FileHandle;
  /** Valid records in the segment. */
  readonly records: number;
  /** Byte size of the valid records (the segment's size after truncation). */
  readonly bytes: number;
  /** Set when a torn tail was found. */
  readonly truncated: TailRecovery | undefined;
}

/**
 * Scans the last segment and repairs a torn tail: if the first bad record (partial, or failing its
 * checksum) has no valid record anywhere after it, the last write was cut short by a crash before
 * its fsync finished, so nothing after that point was ever acknowledged, and the segment is
 * truncated there. If a valid record follows the bad one, the damage is in the middle of
 * acknowledged data: `GH_ERR_LOG_CORRUPT_SEGMENT`, naming the file and the byte. With `readOnly`
 * the file is left as it is and the valid prefix is reported.
 */
export async function recoverLastSegment(file: string, readOnly: boolean): Promise<RecoveredSegment> {
  let handle: FileHandle;
  try {
    handle = await open(file, readOnly ? 'r' : 'r+');
  } catch (cause) {
    throw new LogError('GH_ERR_LOG_UNAVAILABLE', `cannot open event log segment ${file}: ${String(cause)}`, {
      cause,
      retryable: true,
    });
  }
  try {
    const size = (await handle.stat()).size;
    const scan = await scanSegment(handle, { limit: size });
    if (!scan.damage) return { handle, records: scan.records, bytes: scan.end, truncated: undefined };
    const next = await findValidFrameAfter(handle, scan.damage.position, size);
    if (next >= 0) throw corruptSegmentError(file, scan.damage, `a valid record follows at byte ${next}`);
    if (!readOnly) {
      await handle.truncate(scan.damage.position);
      await handle.datasync();
    }
    return {
      handle,
      records: scan.records,
      bytes: scan.end,
      truncated: {
        file,
        position: scan.damage.position,
        bytes: size - scan.damage.position,
        reason: scan.damage.reason,
      },
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}
