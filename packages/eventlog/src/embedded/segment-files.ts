import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { LogError } from '../errors.js';

/**
 * Segment files are named by the offset of their first record, zero-padded to 20 digits so that
 * lexical order is log order: `00000000000000000000.seg`, `00000000000000052113.seg`, …
 */
export const SEGMENT_SUFFIX = '.seg';
const SEGMENT_NAME = /^(\d{20})\.seg$/;

/** One segment on disk. */
export interface SegmentRef {
  /** Offset of the segment's first record. */
  readonly baseOffset: number;
  /** Absolute path of the file. */
  readonly file: string;
}

/** File name of the segment starting at `baseOffset`. */
export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}${SEGMENT_SUFFIX}`;
}

/** The segments in `dir`, in log order. Files that are not segments are ignored. */
export async function listSegments(dir: string): Promise<SegmentRef[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    throw new LogError('GH_ERR_LOG_CONFIG', `cannot list the event log directory ${dir}: ${String(cause)}`, {
      cause,
    });
  }
  const segments: SegmentRef[] = [];
  for (const name of names) {
    const match = SEGMENT_NAME.exec(name);
    if (match) segments.push({ baseOffset: Number(match[1]), file: path.join(dir, name) });
  }
  segments.sort((a, b) => a.baseOffset - b.baseOffset);
  return segments;
}
