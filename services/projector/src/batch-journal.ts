import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { syncDir } from '@gatehouse/eventlog';
import type { BatchRange } from './batch-reader.js';
import { ProjectorError } from './errors.js';

/** What the journal remembers: the boundaries of the batch being written to the store. */
export interface PendingBatch {
  partition: number;
  firstOffset: string;
  lastOffset: string;
  token: string;
}

/**
 * A one-record journal of the batch the projector is about to insert, written (atomically, fsync'd)
 * BEFORE the insert. After a crash between insert and commit the restarted projector asks the log
 * for exactly that batch again (`NextOptions.untilOffset`), so it carries the same
 * `insert_deduplication_token` and ClickHouse drops the repeat instead of storing a second copy.
 * Queries never count an event twice either way (they deduplicate by id); the journal keeps the
 * stored rows exact too. Meant for single-partition logs (the embedded log).
 */
export class BatchJournal {
  readonly file: string;

  constructor(file: string) {
    this.file = path.resolve(file);
  }

  /** The last recorded batch, or undefined when there is none (first start). */
  async read(): Promise<PendingBatch | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ProjectorError(
        'GH_ERR_PROJECTOR_JOURNAL',
        `cannot read the batch journal ${this.file}: ${String(cause)}`,
        { cause },
      );
    }
    try {
      const value = JSON.parse(text) as Partial<PendingBatch>;
      if (
        typeof value.partition !== 'number' ||
        typeof value.lastOffset !== 'string' ||
        !/^\d+$/.test(value.lastOffset)
      ) {
        throw new TypeError('missing partition or lastOffset');
      }
      return value as PendingBatch;
    } catch (cause) {
      throw new ProjectorError(
        'GH_ERR_PROJECTOR_JOURNAL',
        `the batch journal ${this.file} is not valid (${String(cause)}); delete it to start without it`,
        { cause },
      );
    }
  }

  /** Durably records `batch` as the one being written. */
  async record(batch: BatchRange): Promise<void> {
    const pending: PendingBatch = {
      partition: batch.partition,
      firstOffset: batch.firstOffset,
      lastOffset: batch.lastOffset,
      token: batch.token,
    };
    const temp = `${this.file}.tmp`;
    try {
      const dir = path.dirname(this.file);
      const created = await mkdir(dir, { recursive: true });
      if (created !== undefined) await syncDir(path.dirname(dir));
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(`${JSON.stringify(pending)}\n`);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.file);
      // Without it a power cut can bring back the previous entry, and the batch read again after the
      // restart would be cut differently and get another token.
      await syncDir(dir);
    } catch (cause) {
      throw new ProjectorError(
        'GH_ERR_PROJECTOR_JOURNAL',
        `cannot write the batch journal ${this.file}: ${String(cause)}`,
        { cause, retryable: true },
      );
    }
  }
}
