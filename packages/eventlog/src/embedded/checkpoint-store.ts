import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { LogError } from '../errors.js';

/**
 * Consumer-group checkpoints: one JSON file per group, `<dir>/checkpoints/<group>.json`:
 *
 *   { "group": "projector", "next_offset": "1200", "committed_at": "2026-11-28T17:16:12.123Z" }
 *
 * `next_offset` is the first offset not yet processed (the committed batch's last offset + 1).
 * A write is atomic: the new content goes to a temp file in the same directory, which is fsync'd,
 * renamed over the old file, and the directory is fsync'd. A crash at any point leaves either the
 * old or the new checkpoint, never a mix; left-over temp files are removed on the next open.
 */
export const CHECKPOINT_DIR_NAME = 'checkpoints';
const GROUP_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const TEMP_MARKER = '.tmp-';

export interface Checkpoint {
  readonly group: string;
  readonly nextOffset: number;
}

/** Throws `GH_ERR_LOG_CONFIG` unless `group` is usable as a file name (letters, digits, `._-`, ≤ 128). */
export function assertGroupName(group: string): void {
  if (!GROUP_NAME.test(group)) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `consumer group ${JSON.stringify(group)} is not valid: use 1–128 letters, digits, '.', '_' or '-', not starting with '.'`,
    );
  }
}

export function checkpointFile(logDir: string, group: string): string {
  return path.join(logDir, CHECKPOINT_DIR_NAME, `${group}.json`);
}

/** fsyncs a directory so that a rename or a new file in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates the checkpoint directory and removes temp files of interrupted writes. */
export async function prepareCheckpointDir(logDir: string): Promise<void> {
  const dir = path.join(logDir, CHECKPOINT_DIR_NAME);
  if ((await mkdir(dir, { recursive: true })) !== undefined) await syncDir(logDir); // created: its name too must survive a crash
  for (const name of await readdir(dir)) {
    if (name.includes(TEMP_MARKER)) await unlink(path.join(dir, name)).catch(() => undefined);
  }
}

/** The group's checkpoint, or undefined when it never committed. */
export async function readCheckpoint(logDir: string, group: string): Promise<Checkpoint | undefined> {
  const file = checkpointFile(logDir, group);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LogError('GH_ERR_LOG_CHECKPOINT', `cannot read checkpoint ${file}: ${String(error)}`, {
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new LogError('GH_ERR_LOG_CHECKPOINT', `checkpoint ${file} is not valid JSON`, { cause });
  }
  const next = (value as { next_offset?: unknown } | null)?.next_offset;
  if (typeof next !== 'string' || !/^\d+$/.test(next) || !Number.isSafeInteger(Number(next))) {
    throw new LogError(
      'GH_ERR_LOG_CHECKPOINT',
      `checkpoint ${file}: next_offset must be a decimal offset string, got ${JSON.stringify(next)}`,
    );
  }
  return { group, nextOffset: Number(next) };
}

/** Atomically replaces the group's checkpoint (temp file, fsync, rename, fsync dir). */
export async function writeCheckpoint(logDir: string, checkpoint: Checkpoint): Promise<void> {
  const file = checkpointFile(logDir, checkpoint.group);
  const temp = `${file}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`;
  const body = `${JSON.stringify({
    group: checkpoint.group,
    next_offset: String(checkpoint.nextOffset),
    committed_at: new Date().toISOString(),
  })}\n`;
  try {
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    await syncDir(path.dirname(file));
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw new LogError('GH_ERR_LOG_CHECKPOINT', `cannot write checkpoint ${file}: ${String(error)}`, {
      cause: error,
      retryable: true,
    });
  }
}

/**
 * Deletes the group's checkpoint (and fsyncs the directory), so that the group's next consumer
 * starts at offset 0 as a group that never committed does. A group without one is left as it is.
 */
export async function deleteCheckpoint(logDir: string, group: string): Promise<void> {
  const file = checkpointFile(logDir, group);
  try {
    await unlink(file);
    await syncDir(path.dirname(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new LogError('GH_ERR_LOG_CHECKPOINT', `cannot delete checkpoint ${file}: ${String(error)}`, {
      cause: error,
      retryable: true,
    });
  }
}
