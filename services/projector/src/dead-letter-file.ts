import { createHash } from 'node:crypto';
import { mkdir, open, readFile, stat, truncate, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { syncDir } from '@gatehouse/eventlog';
import { ProjectorError } from './errors.js';

/** Why a record can never be projected. */
export type DeadLetterReason =
  /** The log holds bytes that are not a Gatehouse event (bad JSON, or the schema refuses them). */
  | 'invalid_record'
  /** A valid event that the store refuses for good (`GH_ERR_STORE_INVALID_EVENT`). */
  | 'refused_by_store';

/** One record set aside, with everything needed to find, inspect and replay it. */
export interface DeadLetter {
  /** Where it was read: `embedded`, or the Kafka topic (the first part of the batch token). */
  readonly source: string;
  readonly partition: number;
  /** Its offset in that partition (decimal string). */
  readonly offset: string;
  readonly reason: DeadLetterReason;
  /** The error that refused it (names the field at fault). */
  readonly error: string;
  /** The event id, when the record got as far as being an event. */
  readonly eventId: string | null;
  /** The record's key (Kafka), when it has one. */
  readonly key: string | null;
  /** The record's bytes as read (for a store-refused event: its canonical JSON), or null. */
  readonly value: Buffer | null;
}

/**
 * The projector's dead-letter file: JSON Lines, one record per line, appended and fsync'd (file and
 * directory) before the projector commits past the records it holds, so that a record the
 * projection skips is never lost. Each line:
 *
 *   at            when it was set aside (ISO 8601, UTC)
 *   source        `embedded` or the Kafka topic
 *   partition     partition number
 *   offset        offset in the partition (decimal string)
 *   reason        `invalid_record` | `refused_by_store`
 *   error         why (the schema's or the store's message)
 *   event_id      the event id, or null
 *   key           the record key, or null
 *   value_base64  the record's bytes, base64, or null
 *
 * A record already in the file (same source, partition, offset and bytes: read again after a crash
 * before the commit) is not written twice; a different record at a position already in the file (a
 * Kafka topic created again, another cluster under the same name) is. An append that fails is cut
 * back off the file before it is tried again, so a retried line never runs into a torn one.
 */
export class DeadLetterFile {
  readonly file: string;
  readonly #recorded = new Set<string>();
  /** The file ends inside a line (a crash cut an append short): the next append starts a new one. */
  #tornTail = false;

  /** Writes an append's text to the open file (a test seam for a disk that fails partway). */
  readonly #writeText: (handle: FileHandle, text: string) => Promise<void>;

  constructor(
    file: string,
    options: { writeText?: (handle: FileHandle, text: string) => Promise<void> } = {},
  ) {
    this.file = path.resolve(file);
    this.#writeText = options.writeText ?? ((handle, text) => handle.writeFile(text));
  }

  /** Reads what the file already holds (nothing when it does not exist yet). */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new ProjectorError(
        'GH_ERR_PROJECTOR_DEAD_LETTER',
        `cannot read the dead-letter file ${this.file}: ${String(cause)}`,
        { cause },
      );
    }
    this.#tornTail = text.length > 0 && !text.endsWith('\n');
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      try {
        const entry = JSON.parse(line) as {
          source?: unknown;
          partition?: unknown;
          offset?: unknown;
          event_id?: unknown;
          value_base64?: unknown;
        };
        if (
          typeof entry.source === 'string' &&
          typeof entry.partition === 'number' &&
          typeof entry.offset === 'string'
        )
          this.#recorded.add(
            keyOf(entry.source, entry.partition, entry.offset, {
              eventId: typeof entry.event_id === 'string' ? entry.event_id : null,
              value:
                typeof entry.value_base64 === 'string' ? Buffer.from(entry.value_base64, 'base64') : null,
            }),
          );
      } catch {
        // A line cut short by a crash: its record was not committed past and comes again.
      }
    }
  }

  /** Whether this record (its position and its bytes) is already set aside. */
  has(entry: DeadLetter): boolean {
    return this.#recorded.has(keyOf(entry.source, entry.partition, entry.offset, entry));
  }

  /**
   * Durably appends the entries not yet in the file; resolves, once file and directory are fsync'd,
   * with those it wrote.
   */
  async write(entries: readonly DeadLetter[]): Promise<DeadLetter[]> {
    const fresh = entries.filter((entry) => !this.has(entry));
    if (fresh.length === 0) return fresh;
    const at = new Date().toISOString();
    const lines = fresh.map((entry) =>
      JSON.stringify({
        at,
        source: entry.source,
        partition: entry.partition,
        offset: entry.offset,
        reason: entry.reason,
        error: entry.error,
        event_id: entry.eventId,
        key: entry.key,
        value_base64: entry.value === null ? null : entry.value.toString('base64'),
      }),
    );
    const text = `${this.#tornTail ? '\n' : ''}${lines.join('\n')}\n`;
    let sizeBefore: number | undefined;
    try {
      const dir = path.dirname(this.file);
      const created = await mkdir(dir, { recursive: true });
      if (created !== undefined) await syncDir(path.dirname(dir));
      sizeBefore = await stat(this.file).then(
        (s) => s.size,
        (cause: NodeJS.ErrnoException) => {
          if (cause.code === 'ENOENT') return 0;
          throw cause;
        },
      );
      const handle = await open(this.file, 'a');
      try {
        await this.#writeText(handle, text);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      // The file may be new: without this a power cut can lose it with the records it holds.
      await syncDir(dir);
    } catch (cause) {
      // Cut a partial (or unsynced) append back off, so that the retry writes whole lines after
      // whole lines; if even that fails, the next append starts on a line of its own.
      if (sizeBefore !== undefined)
        await truncate(this.file, sizeBefore).catch(() => {
          this.#tornTail = true;
        });
      throw new ProjectorError(
        'GH_ERR_PROJECTOR_DEAD_LETTER',
        `cannot write the dead-letter file ${this.file}: ${String(cause)}`,
        { cause, retryable: true },
      );
    }
    this.#tornTail = false;
    for (const entry of fresh) this.#recorded.add(keyOf(entry.source, entry.partition, entry.offset, entry));
    return fresh;
  }
}

/** A record's identity: its position and a digest of what it is (its bytes, else its event id). */
function keyOf(
  source: string,
  partition: number,
  offset: string,
  what: { eventId: string | null; value: Buffer | null },
): string {
  const content =
    what.value !== null ? createHash('sha256').update(what.value).digest('hex') : `id:${what.eventId ?? ''}`;
  return `${source}\u0000${partition}\u0000${offset}\u0000${content}`;
}
