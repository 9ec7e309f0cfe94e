import { mkdir, open, readFile, rename, stat, truncate, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { decodeEvent, encodeEvent, type GatehouseEvent } from '@gatehouse/events';
import { LogError } from '../errors.js';

/** One spooled event and the byte position just past its line. */
export interface SpooledEvent {
  event: GatehouseEvent;
  end: number;
}

/**
 * The spool on disk, in `dir`:
 *
 * - `outcomes.spool`: one event per line, canonical JSON (`encodeEvent`) + `\n`, appended and
 *   fdatasync'd before `append` resolves. A line without its `\n` is a write torn by a crash; it
 *   was never acknowledged and is cut off on open.
 * - `outcomes.offset`: the byte position of the first line not yet republished (decimal text),
 *   replaced atomically (write, fsync, rename). Missing = 0; past the end of the spool = 0 (the
 *   spool was emptied and truncated before the offset was reset).
 *
 * Lines before the offset were acknowledged by the log; a crash between the log's acknowledgement
 * and the offset update republishes them again (readers deduplicate by event id).
 */
export class SpoolFile {
  readonly dir: string;
  readonly file: string;
  readonly offsetFile: string;
  /** Largest the spool file may grow (bytes); an append past it is refused. */
  readonly maxBytes: number;
  #handle: FileHandle | undefined;
  #size = 0;
  /**
   * Set when a failed write could not be cut back off: no append is taken until the spool is
   * emptied (`reset`, after everything in it was republished) or reopened.
   */
  #broken: LogError | undefined;

  private constructor(dir: string, maxBytes: number) {
    this.dir = path.resolve(dir);
    this.maxBytes = maxBytes;
    this.file = path.join(this.dir, 'outcomes.spool');
    this.offsetFile = path.join(this.dir, 'outcomes.offset');
  }

  /** Opens (creating) the spool and returns it with the events not yet republished, in order. */
  static async open(
    dir: string,
    maxBytes = Number.MAX_SAFE_INTEGER,
  ): Promise<{ spool: SpoolFile; pending: SpooledEvent[] }> {
    const spool = new SpoolFile(dir, maxBytes);
    try {
      await mkdir(spool.dir, { recursive: true });
      const pending = await spool.#recover();
      const created = !(await exists(spool.file));
      spool.#handle = await open(spool.file, 'a');
      if (created) await syncDir(spool.dir); // the new file's name is durable before anything is spooled in it
      return { spool, pending };
    } catch (cause) {
      if (cause instanceof LogError) throw cause;
      throw new LogError(
        'GH_ERR_LOG_CONFIG',
        `cannot open the outcome spool in ${spool.dir}: ${String(cause)}`,
        { cause },
      );
    }
  }

  async #recover(): Promise<SpooledEvent[]> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw cause;
    }
    const complete = bytes.lastIndexOf(0x0a) + 1;
    if (complete < bytes.length) await truncate(this.file, complete);
    this.#size = complete;
    let offset = await this.#readOffset();
    if (offset > complete) offset = 0;
    const pending: SpooledEvent[] = [];
    let start = offset;
    let line = 0;
    while (start < complete) {
      const end = bytes.indexOf(0x0a, start) + 1;
      line++;
      try {
        pending.push({ event: decodeEvent(bytes.subarray(start, end - 1)), end });
      } catch (cause) {
        throw new LogError(
          'GH_ERR_LOG_CORRUPT_SEGMENT',
          `outcome spool ${this.file}: line ${line} after byte ${offset} (bytes ${start}-${end - 1}) is not a valid event; move the file aside to start without it`,
          { cause },
        );
      }
      start = end;
    }
    return pending;
  }

  async #readOffset(): Promise<number> {
    try {
      const text = (await readFile(this.offsetFile, 'utf8')).trim();
      const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      if (!Number.isSafeInteger(value)) {
        throw new LogError(
          'GH_ERR_LOG_CHECKPOINT',
          `outcome spool offset file ${this.offsetFile} holds ${JSON.stringify(text)}, not a byte offset`,
        );
      }
      return value;
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw cause;
    }
  }

  /** Appends `events` durably (fdatasync) and returns them with their end positions. */
  async append(events: readonly GatehouseEvent[]): Promise<SpooledEvent[]> {
    const handle = this.#open();
    if (this.#broken) throw this.#broken;
    const lines = events.map((event) => Buffer.concat([encodeEvent(event), Buffer.from('\n')]));
    const spooled: SpooledEvent[] = [];
    let end = this.#size;
    for (let i = 0; i < events.length; i++) {
      end += lines[i]!.length;
      spooled.push({ event: events[i]!, end });
    }
    if (end > this.maxBytes) {
      throw new LogError(
        'GH_ERR_LOG_SPOOL_FULL',
        `outcome spool ${this.file} is full: it holds ${this.#size} bytes and ${end - this.#size} more would pass maxSpoolBytes (${this.maxBytes}); nothing was written`,
        { retryable: true, nothingWritten: true },
      );
    }
    const bytes = Buffer.concat(lines);
    try {
      // A write may take fewer bytes than asked (a full disk): the rest goes in further writes, or
      // the error of the one that cannot (ENOSPC) fails the append.
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
        if (bytesWritten <= 0) throw new Error(`write took no bytes at ${this.#size + written}`);
        written += bytesWritten;
      }
      await handle.datasync();
    } catch (cause) {
      // The spool's tail is now unknown: cut it back so that the next write starts on a line.
      try {
        await truncate(this.file, this.#size);
        await handle.datasync();
      } catch (undoError) {
        this.#broken = new LogError(
          'GH_ERR_LOG_UNAVAILABLE',
          `the outcome spool ${this.file} could not be cut back to ${this.#size} bytes after a failed write (${String(cause)}; then ${String(undoError)}); it takes no more outcomes until it is drained or reopened`,
          { cause: undoError },
        );
      }
      throw new LogError(
        'GH_ERR_LOG_UNAVAILABLE',
        `cannot write the outcome spool ${this.file}: ${String(cause)}`,
        { cause },
      );
    }
    this.#size = end;
    return spooled;
  }

  /** Records that everything before byte `position` was acknowledged by the log. */
  async advance(position: number): Promise<void> {
    const temp = `${this.offsetFile}.tmp`;
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(`${position}\n`);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.offsetFile);
    await syncDir(this.dir);
  }

  /**
   * Empties the spool (everything was republished). The offset goes back to 0 first: a crash
   * between the two steps then republishes the spool again (repeats, which every reader
   * deduplicates by event id), where truncating first could leave an offset past the end that
   * later lines would grow under, and recovery would skip them.
   */
  async reset(): Promise<void> {
    const handle = this.#open();
    await this.advance(0);
    await handle.truncate(0);
    // Empty now, whatever the fsync below says: appends (O_APPEND) land at 0 and count from there.
    this.#size = 0;
    this.#broken = undefined;
    await handle.datasync();
  }

  /** Bytes in the spool file (published or not). */
  async size(): Promise<number> {
    return (await stat(this.file)).size;
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }

  #open(): FileHandle {
    if (this.#handle === undefined)
      throw new LogError('GH_ERR_LOG_CLOSED', `the outcome spool ${this.file} is closed`);
    return this.#handle;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw cause;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is then as durable as they allow.
  } finally {
    await handle.close();
  }
}
