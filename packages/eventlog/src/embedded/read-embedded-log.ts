import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { LogBatch } from '../event-log.js';
import { LogError } from '../errors.js';
import { embeddedBatch, parseOffset } from './batch-token.js';
import { LOCK_FILE_NAME, isLockHolderAlive, readLockOwner } from './file-lock.js';
import { checkLogFormat } from './log-format.js';
import { LogCursor, type SegmentView } from './log-cursor.js';
import { listSegments } from './segment-files.js';
import { recoverLastSegment } from './tail-recovery.js';

export interface ReadEmbeddedLogOptions {
  /** The log directory. */
  dir: string;
  /** First offset to read (decimal string or number). Default 0. */
  fromOffset?: string | number;
  /** Events per yielded batch. Default 1000. */
  maxEvents?: number;
}

/**
 * Reads the embedded log without a writer, for offline work such as `gatehouse rebuild`: yields
 * batches (same tokens as a consumer's batches with the same boundaries) from `fromOffset` to the
 * end as it was when reading started. Touches no file: a torn tail is not truncated, only not read;
 * corruption before the tail is `GH_ERR_LOG_CORRUPT_SEGMENT`. Refuses with `GH_ERR_LOG_LOCKED`
 * while a live process holds the log open, since its view of the end would be unreliable.
 */
export async function* readEmbeddedLog(
  options: ReadEmbeddedLogOptions,
): AsyncGenerator<LogBatch, void, undefined> {
  const dir = path.resolve(options.dir);
  const maxEvents = options.maxEvents ?? 1000;
  if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `readEmbeddedLog: maxEvents must be a positive integer, got ${maxEvents}`,
    );
  }
  const from = parseOffset(options.fromOffset ?? 0, 'readEmbeddedLog: fromOffset');
  const lockFile = path.join(dir, LOCK_FILE_NAME);
  const owner = await readLockOwner(lockFile);
  if (owner !== undefined && isLockHolderAlive(lockFile, owner)) {
    throw new LogError(
      'GH_ERR_LOG_LOCKED',
      `the event log ${dir} is open in process ${owner} (lock file ${lockFile}); stop it before reading offline`,
    );
  }
  await checkLogFormat(dir);
  const found = await listSegments(dir);
  if (found.length === 0) return;
  const segments: SegmentView[] = [];
  for (const segment of found.slice(0, -1))
    segments.push({ ...segment, bytes: (await stat(segment.file)).size });
  const last = found[found.length - 1]!;
  const recovered = await recoverLastSegment(last.file, true);
  await recovered.handle.close();
  segments.push({ ...last, bytes: recovered.bytes });
  const view = { segments, endOffset: last.baseOffset + recovered.records };
  if (from >= view.endOffset) return;
  const cursor = await LogCursor.open(view, from);
  try {
    for (;;) {
      const first = cursor.offset;
      const records = await cursor.read(maxEvents);
      if (records.length === 0) return;
      yield embeddedBatch(
        first,
        records.map((record) => record.event),
      );
    }
  } finally {
    await cursor.close();
  }
}
