import { mkdir, open, readFile, rename, stat, truncate, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { decodeEvent, encodeEvent, type GatehouseEvent } from '@gatehouse/events';
import { LogError } from '../errors.js';

/**
 * One spooled event as the spooling log keeps it in memory: where its line is in the spool file
 * (`start`, and `end` just past its `\n`) and what it needs without reading the line again. The
 * event itself stays on disk until it is republished (`read`): a spool of a long outage may hold
 * far more than the heap would.
 */
export interface SpooledRecord {
  start: number;
  end: number;
  id: string;
  sessionId: string;
}

/** Bytes read at a time when the spool is scanned on open. */
const RECOVERY_CHUNK_BYTES = 1 << 20;

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
  ): Promise<{ spool: SpoolFile; pending: SpooledRecord[] }> {
    const spool = new SpoolFile(dir, maxBytes);
    try {
      await mkdir(spool.dir, { recursive: true });
      const pending = await spool.#recover();
      spool.#handle = await open(spool.file, 'a');
      // A new file's name is made durable before anything is spooled in it.
      if (pending === undefined) await syncDir(spool.dir);
      return { spool, pending: pending ?? [] };
    } catch (cause) {
      if (cause instanceof LogError) throw cause;
      throw new LogError(
        'GH_ERR_LOG_CONFIG',
        `cannot open the outcome spool in ${spool.dir}: ${String(cause)}`,
        { cause },
      );
    }
  }

  /**
   * Scans the spool from the recorded offset, a chunk at a time: checks every line not yet
   * republished and returns where each is; cuts a torn last line off. Undefined: there is no
   * spool file yet.
   */
  async #recover(): Promise<SpooledRecord[] | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.file, 'r');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw cause;
    }
    const pending: SpooledRecord[] = [];
    let complete: number;
    let size: number;
    try {
      size = (await handle.stat()).size;
      let offset = await this.#readOffset();
      if (offset > size) offset = 0;
      const chunk = Buffer.allocUnsafe(RECOVERY_CHUNK_BYTES);
      let carry = Buffer.alloc(0); // the start of a line that continues in the next chunk
      let carryAt = offset; // its position in the file
      let line = 0;
      for (let at = offset; at < size;) {
        const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, size - at), at);
        if (bytesRead === 0) break;
        at += bytesRead;
        const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk;
        const length = carry.length > 0 ? data.length : bytesRead;
        let start = 0;
        for (let newline = data.indexOf(0x0a, start); newline >= 0 && newline < length;) {
          line++;
          const event = this.#decodeLine(data.subarray(start, newline), line, offset, carryAt + start);
          pending.push({
            start: carryAt + start,
            end: carryAt + newline + 1,
            id: event.id,
            sessionId: event.session_id,
          });
          start = newline + 1;
          newline = data.indexOf(0x0a, start);
        }
        carry = Buffer.from(data.subarray(start, length)); // a copy: `chunk` is read into again
        carryAt += start;
      }
      complete = carryAt;
    } finally {
      await handle.close();
    }
    if (complete < size) await truncate(this.file, complete);
    this.#size = complete;
    return pending;
  }

  #decodeLine(bytes: Buffer, line: number, offset: number, at: number): GatehouseEvent {
    try {
      return decodeEvent(bytes);
    } catch (cause) {
      throw new LogError(
        'GH_ERR_LOG_CORRUPT_SEGMENT',
        `outcome spool ${this.file}: line ${line} after byte ${offset} (bytes ${at}-${at + bytes.length}) is not a valid event; move the file aside to start without it`,
        { cause },
      );
    }
  }

  /**
   * The events of `records` — consecutive lines of the spool, in order, as `append` and `open`
   * returned them — read back from the file. Rejects naming the file when a line is no longer
   * the event recorded there.
   */
  async read(records: readonly SpooledRecord[]): Promise<GatehouseEvent[]> {
    const first = records[0];
    const last = records[records.length - 1];
    if (first === undefined || last === undefined) return [];
    const bytes = Buffer.allocUnsafe(last.end - first.start);
    const handle = await open(this.file, 'r');
    try {
      let got = 0;
      while (got < bytes.length) {
        const { bytesRead } = await handle.read(bytes, got, bytes.length - got, first.start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < bytes.length)
        throw new LogError(
          'GH_ERR_LOG_CORRUPT_SEGMENT',
          `outcome spool ${this.file} ends at byte ${first.start + got}, before the spooled events it should hold (to byte ${last.end})`,
        );
    } finally {
      await handle.close();
    }
    return records.map((record, i) => {
      const event = this.#decodeLine(
        bytes.subarray(record.start - first.start, record.end - first.start - 1),
        i + 1,
        first.start,
        record.start,
      );
      if (event.id !== record.id)
        throw new LogError(
          'GH_ERR_LOG_CORRUPT_SEGMENT',
          `outcome spool ${this.file}: bytes ${record.start}-${record.end - 1} hold event ${event.id}, not the spooled ${record.id}`,
        );
      return event;
    });
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

  /** Appends `events` durably (fdatasync) and returns where each one's line is. */
  async append(events: readonly GatehouseEvent[]): Promise<SpooledRecord[]> {
    const handle = this.#open();
    if (this.#broken) throw this.#broken;
    const lines = events.map((event) => Buffer.concat([encodeEvent(event), Buffer.from('\n')]));
    const spooled: SpooledRecord[] = [];
    let end = this.#size;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const start = end;
      end += lines[i]!.length;
      spooled.push({ start, end, id: event.id, sessionId: event.session_id });
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
