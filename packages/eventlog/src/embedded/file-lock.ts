import { randomUUID } from 'node:crypto';
import { link, open, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { LogError } from '../errors.js';

/** Name of the lock file inside the log directory; it holds the owner's pid and a newline. */
export const LOCK_FILE_NAME = 'LOCK';

/** A held directory lock. */
export interface DirLock {
  readonly file: string;
  /** Removes the lock file if it still names this process. */
  release(): Promise<void>;
}

/** Lock files this process holds right now (absolute paths). */
const heldByThisProcess = new Set<string>();

/**
 * Whether the lock `file` naming `pid` belongs to a running holder. Our own pid counts only if this
 * process really holds the lock: after a container restart the new process often gets the same
 * pid as the one that crashed (pid 1), and its leftover lock must not lock it out.
 */
export function isLockHolderAlive(file: string, pid: number): boolean {
  if (pid === process.pid) return heldByThisProcess.has(file);
  return isProcessAlive(pid);
}

/** Whether a process with `pid` exists (EPERM means it exists but belongs to someone else). */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid in a lock file, or undefined when there is no lock file or it holds no pid. */
export async function readLockOwner(file: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LogError('GH_ERR_LOG_CONFIG', `cannot read the event log lock file ${file}: ${String(error)}`, {
      cause: error,
    });
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function lockedError(file: string, pid: number): LogError {
  return new LogError(
    'GH_ERR_LOG_LOCKED',
    `the event log ${path.dirname(file)} is in use by process ${pid} (lock file ${file}); ` +
      'stop that process first, or delete the lock file if that pid belongs to something else',
  );
}

/**
 * An empty or unreadable lock file younger than this (ms) is being written by an opener of an older
 * version, which created `LOCK` first and wrote its pid after: left alone, not taken over.
 */
export const UNNAMED_LOCK_GRACE_MS = 10_000;

/**
 * Creates `file` holding our pid, atomically: the pid is written to a file of our own, which is
 * then hard-linked to `file` (failing with EEXIST if it exists). `LOCK` is therefore never seen
 * empty — with create-then-write, a second opener could read it in between, take it for stale and
 * take it over while the first went on holding it.
 */
async function createLockFile(file: string): Promise<void> {
  const own = `${file}.${process.pid}.${randomUUID()}`;
  const handle = await open(own, 'wx');
  try {
    await handle.writeFile(`${process.pid}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  try {
    await link(own, file);
  } finally {
    await unlink(own).catch(() => undefined);
  }
}

/** Whether the lock file (present, naming no pid) is older than `UNNAMED_LOCK_GRACE_MS`. */
async function isOldUnnamedLock(file: string): Promise<boolean> {
  try {
    return Date.now() - (await stat(file)).mtimeMs > UNNAMED_LOCK_GRACE_MS;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Takes the exclusive lock on a log directory: creates `LOCK` holding our pid, atomically
 * (`createLockFile`). A lock left by a dead process is taken over; one that names no pid only once
 * it is older than `UNNAMED_LOCK_GRACE_MS`. Two processes racing to take over the same stale lock
 * both re-read the file after creating it; only the one whose pid is there keeps the lock.
 */
export async function acquireDirLock(dir: string): Promise<DirLock> {
  const file = path.join(dir, LOCK_FILE_NAME);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await createLockFile(file);
      if ((await readLockOwner(file)) !== process.pid) continue;
      heldByThisProcess.add(file);
      return {
        file,
        release: async () => {
          if (!heldByThisProcess.delete(file)) return;
          if ((await readLockOwner(file)) === process.pid) await unlink(file).catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new LogError(
          'GH_ERR_LOG_CONFIG',
          `cannot create the event log lock file ${file}: ${String(error)}`,
          { cause: error },
        );
      }
    }
    const owner = await readLockOwner(file);
    if (owner !== undefined && isLockHolderAlive(file, owner)) throw lockedError(file, owner);
    if (owner === undefined && !(await isOldUnnamedLock(file)))
      throw new LogError(
        'GH_ERR_LOG_LOCKED',
        `the event log ${dir} is being opened by another process (lock file ${file} names no pid yet); ` +
          `try again, or delete the lock file if it is still empty after ${UNNAMED_LOCK_GRACE_MS / 1000} s`,
      );
    // Stale (dead owner, our pid left by an earlier incarnation, or an old empty file): remove, retry.
    await unlink(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT')
        throw new LogError(
          'GH_ERR_LOG_CONFIG',
          `cannot remove the stale lock file ${file}: ${String(error)}`,
          { cause: error },
        );
    });
  }
  const owner = await readLockOwner(file);
  throw lockedError(file, owner ?? 0);
}
