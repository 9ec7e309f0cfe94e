import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { LogError } from '../errors.js';
import { syncDir } from './checkpoint-store.js';

/**
 * The on-disk format of an embedded log directory, recorded in `<dir>/FORMAT` as
 * `gatehouse-log <version>`:
 *
 *   1  frames without flags (before the file existed: a directory with segments and no FORMAT)
 *   2  frames may carry FRAME_FLAG_SCHEMA_CHECKED (`record-frame.ts`)
 *
 * A version reads every format up to its own and refuses a newer one before touching anything: an
 * older reader would take a newer frame for a torn tail and truncate acknowledged records.
 */
export const LOG_FORMAT_VERSION = 2;
const FORMAT_FILE = 'FORMAT';
const PATTERN = /^gatehouse-log (\d+)\n?$/;

/**
 * The format recorded in `<dir>/FORMAT` (undefined when there is none), refusing a format newer
 * than this version reads. Reads only.
 */
export async function checkLogFormat(dir: string): Promise<number | undefined> {
  const file = path.join(dir, FORMAT_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LogError('GH_ERR_LOG_CONFIG', `cannot read ${file}: ${String(cause)}`, { cause });
  }
  const match = PATTERN.exec(text);
  if (!match)
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `${file} holds ${JSON.stringify(text.slice(0, 80))}, not "gatehouse-log <version>"; it names the format of the event log in ${dir}`,
    );
  const version = Number(match[1]);
  if (version > LOG_FORMAT_VERSION)
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `the event log in ${dir} is in format ${version}, written by a newer Gatehouse; this version reads formats up to ${LOG_FORMAT_VERSION}. Nothing was changed: open it with that newer version`,
    );
  return version;
}

/**
 * `checkLogFormat`, then records this version's format when the directory has none or an older
 * one, so that frames written from now on are never read by an older version. Call it with the
 * directory's lock held, before recovery (which truncates a torn tail).
 */
export async function claimLogFormat(dir: string): Promise<void> {
  if ((await checkLogFormat(dir)) === LOG_FORMAT_VERSION) return;
  const file = path.join(dir, FORMAT_FILE);
  const temp = `${file}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(`gatehouse-log ${LOG_FORMAT_VERSION}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  await syncDir(dir);
}
