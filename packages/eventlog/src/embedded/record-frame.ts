import { crc32 } from 'node:zlib';

/**
 * How one record is framed inside a segment file. All integers are unsigned 32-bit big-endian.
 *
 *   offset  size  field
 *   0       4     magic    0xC7 0x47 0x48 0x4C ("\xC7GHL")
 *   4       4     length   bit 31: FRAME_FLAG_SCHEMA_CHECKED; bits 0-30: payload size in bytes,
 *                          1 ≤ size ≤ MAX_FRAME_PAYLOAD_BYTES (bits 27-30 are always 0)
 *   8       4     crc      CRC-32 (zlib.crc32) over the 4 length bytes followed by the payload
 *   12      n     payload  `encodeEvent(event)`: canonical JSON, UTF-8
 *
 * FRAME_FLAG_SCHEMA_CHECKED says the payload passed the event schema when it was appended. The CRC
 * covers the flag, so a reader may trust it as much as the payload: for a flagged frame it skips the
 * schema (about a third of the projector's read cost) and keeps only a structural check; an
 * unflagged frame (written with `validateOnAppend: false`, or by a version before the flag existed)
 * is decoded with the full schema. Versions before the flag read a flagged frame as an impossible
 * length: a log written by this version must not be opened by an older one. The directory's
 * `FORMAT` file (`log-format.ts`, format 2 since the flag) makes every version from this one on
 * refuse a newer format before it touches anything; versions before it do not read that file.
 *
 * Records follow each other with no padding; a record's offset in the log is its index (segment
 * base offset + position in the segment), so nothing offset-related is stored in the frame.
 *
 * Why a magic: it lets recovery tell a torn tail (nothing valid after the first bad byte) from a
 * corrupt record in the middle of a segment (a valid frame follows it). 0xC7 followed by 0x47 can
 * never occur in valid UTF-8 (0xC7 must be followed by a continuation byte 0x80–0xBF), so the magic
 * never appears inside a payload by accident. The CRC covers the length so that a flipped length
 * byte is caught even when the wrong length still fits in the file.
 */
export const FRAME_MAGIC = 0xc747484c;
export const FRAME_HEADER_BYTES = 12;
/** Hard ceiling on one payload (the configurable `maxRecordBytes` must stay below it). */
export const MAX_FRAME_PAYLOAD_BYTES = 64 * 1024 * 1024;
/** Bit of the length word: the payload passed the event schema at append. */
export const FRAME_FLAG_SCHEMA_CHECKED = 0x80000000;
const LENGTH_BITS = 0x7fffffff;

const MAGIC_BYTES = Buffer.from([0xc7, 0x47, 0x48, 0x4c]);

/** CRC-32 over the 4 big-endian bytes of the length word (flags included), then the payload. */
export function frameChecksum(lengthWord: number, payload: Uint8Array): number {
  const lengthBytes = Buffer.allocUnsafe(4);
  lengthBytes.writeUInt32BE(lengthWord >>> 0, 0);
  return crc32(payload, crc32(lengthBytes));
}

/**
 * Writes the frame of `payload` into `target` at `at`; returns the position after it.
 * `schemaChecked`: the payload passed the event schema (sets FRAME_FLAG_SCHEMA_CHECKED).
 */
export function writeFrame(target: Buffer, at: number, payload: Buffer, schemaChecked: boolean): number {
  const word = (schemaChecked ? FRAME_FLAG_SCHEMA_CHECKED | payload.length : payload.length) >>> 0;
  target.writeUInt32BE(FRAME_MAGIC, at);
  target.writeUInt32BE(word, at + 4);
  target.writeUInt32BE(frameChecksum(word, payload), at + 8);
  payload.copy(target, at + FRAME_HEADER_BYTES);
  return at + FRAME_HEADER_BYTES + payload.length;
}

/** Total bytes a frame of a `payloadBytes`-byte payload takes. */
export function frameBytes(payloadBytes: number): number {
  return FRAME_HEADER_BYTES + payloadBytes;
}

export type FrameRead =
  /**
   * A whole, checksum-valid frame starts at the position; `end` is where the next one starts;
   * `schemaChecked`: the frame carries FRAME_FLAG_SCHEMA_CHECKED.
   */
  | { kind: 'ok'; payload: Buffer; end: number; schemaChecked: boolean }
  /** The buffer ends before the frame does (header or payload cut short). */
  | { kind: 'incomplete'; needBytes: number }
  /** The bytes at the position are not a valid frame; `reason` says which check failed. */
  | { kind: 'invalid'; reason: string };

/**
 * Reads the frame starting at `at` in `buffer`, whose first `limit` bytes are meaningful. The
 * returned payload is a view into `buffer` (copy it if the buffer is reused).
 */
export function readFrame(buffer: Buffer, at: number, limit: number = buffer.length): FrameRead {
  const available = limit - at;
  if (available < FRAME_HEADER_BYTES) {
    // A short header can still be judged: a wrong magic prefix is invalid, not incomplete.
    for (let i = 0; i < Math.min(available, 4); i++) {
      if (buffer[at + i] !== MAGIC_BYTES[i]) return { kind: 'invalid', reason: 'bad magic' };
    }
    return { kind: 'incomplete', needBytes: FRAME_HEADER_BYTES };
  }
  if (buffer.readUInt32BE(at) !== FRAME_MAGIC) return { kind: 'invalid', reason: 'bad magic' };
  const word = buffer.readUInt32BE(at + 4);
  const length = word & LENGTH_BITS;
  if (length === 0 || length > MAX_FRAME_PAYLOAD_BYTES) {
    return { kind: 'invalid', reason: `impossible payload length ${length}` };
  }
  const end = at + FRAME_HEADER_BYTES + length;
  if (end > limit) return { kind: 'incomplete', needBytes: FRAME_HEADER_BYTES + length };
  const payload = buffer.subarray(at + FRAME_HEADER_BYTES, end);
  if (frameChecksum(word, payload) !== buffer.readUInt32BE(at + 8)) {
    return { kind: 'invalid', reason: 'checksum mismatch' };
  }
  return { kind: 'ok', payload, end, schemaChecked: word >= FRAME_FLAG_SCHEMA_CHECKED };
}

/**
 * Position of the first complete, checksum-valid frame starting after `from` within
 * `buffer[0, limit)`, or -1. Used only on the slow path (after a bad frame) to decide whether the
 * damage is a torn tail or sits in the middle of the data.
 */
export function findNextValidFrame(buffer: Buffer, from: number, limit: number = buffer.length): number {
  let at = from + 1;
  for (;;) {
    const candidate = buffer.subarray(0, limit).indexOf(MAGIC_BYTES, at);
    if (candidate < 0) return -1;
    if (readFrame(buffer, candidate, limit).kind === 'ok') return candidate;
    at = candidate + 1;
  }
}
