import fs from 'node:fs';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeEvent, type GatehouseEvent } from '@gatehouse/events';
import {
  inlineCommitWhenQuietMsFromEnv,
  openEmbeddedLog,
  readEmbeddedLog,
  type EmbeddedEventLog,
  type EventLog,
  type LogBatch,
} from '../src/index.js';
import { UNNAMED_LOCK_GRACE_MS } from '../src/embedded/file-lock.js';
import { INLINE_SLOW_MS } from '../src/embedded/inline-pause.js';
import { FRAME_FLAG_SCHEMA_CHECKED, FRAME_HEADER_BYTES, writeFrame } from '../src/embedded/record-frame.js';
import { describeEventLogContract } from './event-log-contract.js';
import { sessionCalls } from './support/sample-events.js';

const quiet = { warn: () => undefined };

describeEventLogContract('embedded', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-eventlog-contract-'));
  const opened: EventLog[] = [];
  const open = async () => {
    const log = await openEmbeddedLog({ dir, logger: quiet });
    opened.push(log);
    return log;
  };
  return {
    log: await open(),
    reopen: open,
    cleanup: async () => {
      await Promise.all(opened.map((log) => log.close()));
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('embedded event log', () => {
  let dir: string;
  const logs: EventLog[] = [];
  const open = async (
    options: Partial<Parameters<typeof openEmbeddedLog>[0]> = {},
  ): Promise<EmbeddedEventLog> => {
    const log = await openEmbeddedLog({ dir, logger: quiet, ...options });
    logs.push(log);
    return log;
  };
  const readAll = async (): Promise<GatehouseEvent[]> => {
    const out: GatehouseEvent[] = [];
    for await (const batch of readEmbeddedLog({ dir })) out.push(...batch.events);
    return out;
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gh-eventlog-'));
  });
  /**
   * Moves this test's log to tmpfs where there is one: the inline-commit tests count which path each
   * commit takes, and a disk stall over INLINE_SLOW_MS would pause inline commits under them.
   */
  const onTmpfs = async (): Promise<void> => {
    if (!fs.existsSync('/dev/shm')) return;
    await rm(dir, { recursive: true, force: true });
    dir = await mkdtemp('/dev/shm/gh-eventlog-');
  };
  /** The FileHandle prototype, reached through a handle of our own: spying on its `datasync` counts pooled commits. */
  const fileHandlePrototype = async (): Promise<{ datasync: () => Promise<void> }> => {
    const { open: openFile } = await import('node:fs/promises');
    const probe = await openFile(path.join(dir, 'probe'), 'w');
    await probe.close();
    return Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
  };
  /**
   * Counts the commits that take each path: `pooled` (FileHandle.datasync) and `inline`
   * (fdatasyncSync, patched into the ESM exports too); `restore` undoes the patch.
   */
  const spyOnCommitPaths = async () => {
    const pooled = vi.spyOn(await fileHandlePrototype(), 'datasync');
    const inline = vi.spyOn(fs, 'fdatasyncSync');
    syncBuiltinESMExports();
    const restore = (): void => {
      inline.mockRestore();
      syncBuiltinESMExports();
    };
    return { pooled, inline, restore };
  };
  /**
   * An idle wait that finds the log quiet and the event loop idle: an inline commit needs the loop at
   * least half idle since the last commit, and 30 ms leaves room for a GC on this thread.
   */
  const QUIET_WAIT_MS = 30;

  afterEach(async () => {
    await Promise.all(logs.splice(0).map((log) => log.close()));
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it('coalesces concurrent appends into shared fsyncs and resolves each only after the fsync covering it', async () => {
    const log = await open({ inlineCommitWhenQuietMs: 0 }); // every commit through the pool
    const proto = await fileHandlePrototype();
    const original = proto.datasync;
    let completedSyncs = 0;
    vi.spyOn(proto, 'datasync').mockImplementation(async function (this: unknown) {
      await original.call(this);
      completedSyncs++;
    });

    const calls = sessionCalls('s-group', 100);
    const syncsSeenAtResolve: number[] = [];
    await Promise.all(
      calls.map((call) => log.append([call]).then(() => syncsSeenAtResolve.push(completedSyncs))),
    );

    expect(completedSyncs).toBeLessThanOrEqual(2);
    expect(syncsSeenAtResolve.every((syncs) => syncs >= 1)).toBe(true);
    expect(
      (await log.openConsumer('g').then((c) => c.next({ maxEvents: 200, maxWaitMs: 0 }))).events,
    ).toHaveLength(100);
  });

  // A tiny quiet window makes every lone append a quiet one: each commit inline.
  it.each([
    ['through the pool', 0],
    ['inline', 1e-6],
  ])(
    'rolls to a new segment, named by its first offset, when a write would pass segmentMaxBytes (commits %s)',
    async (_path, inlineCommitWhenQuietMs) => {
      const calls = sessionCalls('s-roll', 30);
      // Sizes differ by a few bytes (request ids 0–29); 10 of the largest fit, 11 of the smallest do not.
      const recordBytes = Math.max(...calls.map((call) => FRAME_HEADER_BYTES + encodeEvent(call).length));
      const log = await open({ segmentMaxBytes: recordBytes * 10 + 5, inlineCommitWhenQuietMs });
      for (const call of calls) await log.append([call]);
      await log.close();

      const segments = (await readdir(dir)).filter((name) => name.endsWith('.seg')).sort();
      expect(segments).toEqual([
        '00000000000000000000.seg',
        '00000000000000000010.seg',
        '00000000000000000020.seg',
      ]);
      expect((await readAll()).map((e) => e.id)).toEqual(calls.map((e) => e.id));

      const reopened = await open({ segmentMaxBytes: recordBytes * 10 + 5 });
      expect(reopened.endOffset()).toBe('30');
      const consumer = await reopened.openConsumer('from-middle');
      await consumer.commit({
        partition: 0,
        firstOffset: '0',
        lastOffset: '14',
        events: calls.slice(0, 15),
        token: 'embedded/0/0-14',
      });
      await consumer.close();
      const resumed = await reopened.openConsumer('from-middle');
      const batch = await resumed.next({ maxEvents: 100, maxWaitMs: 0 });
      expect(batch.firstOffset).toBe('15');
      expect(batch.events.map((e) => e.id)).toEqual(calls.slice(15).map((e) => e.id));
    },
  );

  it('refuses an append holding an event over maxRecordBytes with GH_ERR_LOG_RECORD_TOO_LARGE and writes none of it', async () => {
    const log = await open({ maxRecordBytes: 2000 });
    const [small] = sessionCalls('s-small', 1);
    const [big] = sessionCalls('s-big', 1).map(
      (e) => ({ ...e, args: { blob: 'x'.repeat(5000) } }) as GatehouseEvent,
    );

    await expect(log.append([small!, big!])).rejects.toMatchObject({
      code: 'GH_ERR_LOG_RECORD_TOO_LARGE',
      nothingWritten: true,
    });
    expect(log.endOffset()).toBe('0');
    await log.close();
    expect(await readAll()).toEqual([]);
  });

  it('refuses an event that does not match the schema with GH_ERR_LOG_INVALID_RECORD and writes nothing', async () => {
    const log = await open();
    const [event] = sessionCalls('s-bad', 1);

    await expect(log.append([{ ...event!, seq: -1 }])).rejects.toMatchObject({
      code: 'GH_ERR_LOG_INVALID_RECORD',
    });
    expect(log.endOffset()).toBe('0');
  });

  it('writes the checkpoint of a group to checkpoints/<group>.json as the next offset to read', async () => {
    const log = await open();
    await log.append(sessionCalls('s-cp', 4));
    const consumer = await log.openConsumer('projector', { fromBeginning: true });
    const batch = await consumer.next({ maxEvents: 3, maxWaitMs: 0 });
    await consumer.commit(batch);

    const stored = JSON.parse(
      await readFile(path.join(dir, 'checkpoints', 'projector.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(stored).toMatchObject({ group: 'projector', next_offset: '3' });
    expect(await log.committedOffset('projector')).toBe('3');
    expect(await consumer.lag()).toBe(1);
  });

  it('re-delivers exactly the recorded batch when next is given its lastOffset as untilOffset', async () => {
    const log = await open();
    await log.append(sessionCalls('s-until', 3));
    const consumer = await log.openConsumer('projector');
    const pending: LogBatch = await consumer.next({ maxEvents: 2, maxWaitMs: 0 });
    await consumer.close();
    await log.append(sessionCalls('s-more', 3));

    const again = await log.openConsumer('projector');
    const batch = await again.next({ maxEvents: 100, maxWaitMs: 0, untilOffset: pending.lastOffset });

    expect(batch.token).toBe('embedded/0/0-1');
    expect(batch.token).toBe(pending.token);
    expect(batch.events).toEqual(pending.events);
  });

  it('reads batches spanning many read chunks, and records larger than one chunk', async () => {
    const log = await open({ maxRecordBytes: 3 * 1024 * 1024 });
    const many = sessionCalls('s-many', 2500);
    const [huge] = sessionCalls('s-huge', 1).map(
      (e) => ({ ...e, args: { blob: 'x'.repeat(1_500_000) } }) as GatehouseEvent,
    );
    await log.append(many.slice(0, 1200));
    await log.append([huge!]);
    await log.append(many.slice(1200));
    const consumer = await log.openConsumer('reader', { fromBeginning: true });

    const batch = await consumer.next({ maxEvents: 5000, maxWaitMs: 0 });

    expect(batch.events.map((e) => e.id)).toEqual(
      [...many.slice(0, 1200), huge!, ...many.slice(1200)].map((e) => e.id),
    );
    expect(batch.token).toBe('embedded/0/0-2500');
  });

  it('allows one open consumer per group', async () => {
    const log = await open();
    await log.openConsumer('projector');
    await expect(log.openConsumer('projector')).rejects.toMatchObject({ code: 'GH_ERR_LOG_GROUP_BUSY' });
  });

  it('rejects a group name that is not a safe file name', async () => {
    const log = await open();
    await expect(log.openConsumer('../escape')).rejects.toMatchObject({ code: 'GH_ERR_LOG_CONFIG' });
  });

  it('lets only one opener hold the directory, naming the owning pid', async () => {
    await open();
    await expect(openEmbeddedLog({ dir, logger: quiet })).rejects.toMatchObject({
      code: 'GH_ERR_LOG_LOCKED',
      message: expect.stringContaining(String(process.pid)),
    });
  });

  it('takes over a lock left by a dead process', async () => {
    // pid 2^22+1 is above the default pid_max on Linux, so no such process exists.
    await writeFile(path.join(dir, 'LOCK'), `${2 ** 22 + 1}\n`);
    const log = await open();
    await log.append(sessionCalls('s-lock', 1));

    expect(await readFile(path.join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
  });

  it('leaves a lock file that names no pid yet to its creator, and takes it over only once it is old', async () => {
    const lock = path.join(dir, 'LOCK');
    await writeFile(lock, ''); // an opener between creating the file and writing its pid
    await expect(openEmbeddedLog({ dir, logger: quiet })).rejects.toMatchObject({
      code: 'GH_ERR_LOG_LOCKED',
      message: expect.stringMatching(/being opened by another process.*names no pid/),
    });
    const old = new Date(Date.now() - UNNAMED_LOCK_GRACE_MS - 60_000);
    await utimes(lock, old, old);
    const log = await open();
    expect(await readFile(lock, 'utf8')).toBe(`${process.pid}\n`);
    await log.close();
    expect((await readdir(dir)).filter((name) => name.startsWith('LOCK'))).toEqual([]); // no helper files left
  });

  it('takes over a lock naming its own pid that no open log of this process holds (restarted container)', async () => {
    await writeFile(path.join(dir, 'LOCK'), `${process.pid}\n`);
    const log = await open();

    await expect(openEmbeddedLog({ dir, logger: quiet })).rejects.toMatchObject({
      code: 'GH_ERR_LOG_LOCKED',
    });
    await log.close();
    await expect(readFile(path.join(dir, 'LOCK'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('when a write fails, rejects that group with a retryable GH_ERR_LOG_UNAVAILABLE, leaves no trace, and recovers', async () => {
    // Every commit through the libuv pool (FileHandle.datasync), none inline.
    const log = await open({ inlineCommitWhenQuietMs: 0 });
    const [before, failed, after] = sessionCalls('s-fail', 3);
    await log.append([before!]);
    const proto = await fileHandlePrototype();
    vi.spyOn(proto, 'datasync').mockRejectedValueOnce(
      Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }),
    );

    await expect(log.append([failed!])).rejects.toMatchObject({
      code: 'GH_ERR_LOG_UNAVAILABLE',
      retryable: true,
    });
    expect(log.endOffset()).toBe('1');
    await log.append([after!]);
    await log.close();

    expect((await readAll()).map((e) => e.id)).toEqual([before!.id, after!.id]);
  });

  it('commits an append on a quiet log inline, without the pool, and one that follows a commit closely through the pool', async () => {
    await onTmpfs();
    const { pooled, inline, restore } = await spyOnCommitPaths();
    try {
      // Quiet: QUIET_WAIT_MS between appends, 1 ms asked for.
      const quietLog = await open({ inlineCommitWhenQuietMs: 1 });
      pooled.mockClear(); // opening syncs the directory and FORMAT
      const calls = sessionCalls('s-quiet', 4);
      for (const call of calls) {
        await new Promise((resolve) => setTimeout(resolve, QUIET_WAIT_MS));
        await quietLog.append([call]);
      }
      expect(inline).toHaveBeenCalledTimes(4);
      expect(pooled).not.toHaveBeenCalled();
      await quietLog.close();
      expect((await readAll()).map((e) => e.id)).toEqual(calls.map((call) => call.id));

      // Busy: within a minute of the last commit, every commit goes through the pool.
      inline.mockClear();
      const busyLog = await open({ inlineCommitWhenQuietMs: 60_000 });
      pooled.mockClear();
      const more = sessionCalls('s-busy', 3);
      for (const call of more) await busyLog.append([call]);
      expect(inline).toHaveBeenCalledTimes(1); // the first commit of the log finds it quiet
      expect(pooled).toHaveBeenCalledTimes(2);
      await busyLog.close();
      expect((await readAll()).map((e) => e.id)).toEqual([...calls, ...more].map((call) => call.id));
    } finally {
      restore();
    }
  });

  it('commits through the pool when the log is quiet but the event loop was busy since the last commit', async () => {
    await onTmpfs();
    const { pooled, inline, restore } = await spyOnCommitPaths();
    try {
      const log = await open({ inlineCommitWhenQuietMs: 1 });
      pooled.mockClear();
      const [first, second, third] = sessionCalls('s-loaded', 3);
      await log.append([first!]); // the log's first commit finds it quiet: inline
      expect(inline).toHaveBeenCalledTimes(1);

      // 5 ms without a commit, but the event loop worked all of it (a process under load): the pool.
      const until = performance.now() + 5;
      while (performance.now() < until) {
        /* busy, as a saturated gateway's loop is between two commits */
      }
      await log.append([second!]);
      expect(inline).toHaveBeenCalledTimes(1);
      expect(pooled).toHaveBeenCalledTimes(1);

      // QUIET_WAIT_MS without a commit, and the loop idle through them: inline again.
      await new Promise((resolve) => setTimeout(resolve, QUIET_WAIT_MS));
      await log.append([third!]);
      expect(inline).toHaveBeenCalledTimes(2);
      expect(pooled).toHaveBeenCalledTimes(1);
      // The log counts the paths its commits took, and how long the inline ones held the loop.
      const counts = log.commitCounts();
      expect(counts).toMatchObject({ inline: 2, pooled: 1 });
      expect(counts.inlineHeldMs).toBeGreaterThan(0);
      await log.close();
      expect((await readAll()).map((e) => e.id)).toEqual([first, second, third].map((call) => call!.id));
    } finally {
      restore();
    }
  });

  it('when an inline commit fails, rejects it with a retryable GH_ERR_LOG_UNAVAILABLE, leaves no trace, and recovers', async () => {
    await onTmpfs();
    const log = await open({ inlineCommitWhenQuietMs: 1 });
    const [before, failed, after] = sessionCalls('s-inline-fail', 3);
    await log.append([before!]);
    const inline = vi.spyOn(fs, 'fdatasyncSync').mockImplementationOnce(() => {
      throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    });
    syncBuiltinESMExports();
    try {
      await new Promise((resolve) => setTimeout(resolve, QUIET_WAIT_MS));
      await expect(log.append([failed!])).rejects.toMatchObject({
        code: 'GH_ERR_LOG_UNAVAILABLE',
        retryable: true,
        message: expect.stringMatching(/EIO/),
      });
      expect(inline).toHaveBeenCalledTimes(1);
      expect(log.commitCounts()).toMatchObject({ inline: 2, pooled: 0 }); // the failed one counted
    } finally {
      inline.mockRestore();
      syncBuiltinESMExports();
    }
    expect(log.endOffset()).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await log.append([after!]);
    await log.close();
    expect((await readAll()).map((e) => e.id)).toEqual([before!.id, after!.id]);
  });

  it('after an inline commit slower than INLINE_SLOW_MS (a stalling disk), commits through the pool for a while', async () => {
    await onTmpfs();
    const log = await open({ inlineCommitWhenQuietMs: 1 });
    const proto = await fileHandlePrototype();
    const pooled = vi.spyOn(proto, 'datasync');
    const original = fs.fdatasyncSync;
    const inline = vi.spyOn(fs, 'fdatasyncSync').mockImplementationOnce((fd) => {
      const until = performance.now() + INLINE_SLOW_MS + 5;
      while (performance.now() < until); // the disk stalls
      original(fd);
    });
    syncBuiltinESMExports();
    try {
      const [slow, next] = sessionCalls('s-stall', 2);
      await log.append([slow!]);
      expect(inline).toHaveBeenCalledTimes(1);
      pooled.mockClear();
      await new Promise((resolve) => setTimeout(resolve, QUIET_WAIT_MS));
      await log.append([next!]); // quiet again, but inline commits are paused
      expect(inline).toHaveBeenCalledTimes(1);
      expect(pooled).toHaveBeenCalledTimes(1);
      await log.close();
      expect((await readAll()).map((e) => e.id)).toEqual([slow!.id, next!.id]);
    } finally {
      inline.mockRestore();
      syncBuiltinESMExports();
    }
  });

  it('reads inlineCommitWhenQuietMs from GATEHOUSE_LOG_INLINE_COMMIT_MS, naming the variable when it is not a number', () => {
    expect(inlineCommitWhenQuietMsFromEnv({})).toBeUndefined();
    expect(inlineCommitWhenQuietMsFromEnv({ GATEHOUSE_LOG_INLINE_COMMIT_MS: '' })).toBeUndefined();
    expect(inlineCommitWhenQuietMsFromEnv({ GATEHOUSE_LOG_INLINE_COMMIT_MS: '0' })).toBe(0);
    expect(inlineCommitWhenQuietMsFromEnv({ GATEHOUSE_LOG_INLINE_COMMIT_MS: '2.5' })).toBe(2.5);
    for (const raw of ['-1', 'off', '1e3', ' 2']) {
      expect(() => inlineCommitWhenQuietMsFromEnv({ GATEHOUSE_LOG_INLINE_COMMIT_MS: raw })).toThrow(
        /GATEHOUSE_LOG_INLINE_COMMIT_MS: ".*" is not a number of milliseconds/,
      );
    }
  });

  it('refuses a negative or non-numeric inlineCommitWhenQuietMs, naming it', async () => {
    for (const value of [-1, Number.NaN]) {
      await expect(open({ inlineCommitWhenQuietMs: value })).rejects.toMatchObject({
        code: 'GH_ERR_LOG_CONFIG',
        message: expect.stringMatching(/inlineCommitWhenQuietMs/),
      });
    }
  });

  it('releases the lock on close so the directory can be opened again', async () => {
    const first = await open();
    await first.append(sessionCalls('s-release', 2));
    await first.close();
    const second = await open();

    expect(second.endOffset()).toBe('2');
  });

  it('records its format in FORMAT, and refuses a log of a newer format before touching it', async () => {
    const log = await open();
    await log.append(sessionCalls('s-format', 2));
    await log.close();
    expect(await readFile(path.join(dir, 'FORMAT'), 'utf8')).toBe('gatehouse-log 2\n');

    const segment = path.join(dir, '00000000000000000000.seg');
    // A newer version's frames, as this version would see them: a torn-looking tail.
    await writeFile(
      segment,
      Buffer.concat([await readFile(segment), Buffer.from([0xc7, 0x47, 0x48, 0x4c, 9])]),
    );
    const before = await readFile(segment);
    await writeFile(path.join(dir, 'FORMAT'), 'gatehouse-log 3\n');
    const refused = open();
    await expect(refused).rejects.toMatchObject({ code: 'GH_ERR_LOG_CONFIG' });
    await expect(refused).rejects.toThrow(
      /in format 3, written by a newer Gatehouse; this version reads formats up to 2/,
    );
    await expect(readAll()).rejects.toThrow(/in format 3/);
    expect(await readFile(segment)).toEqual(before);

    await writeFile(path.join(dir, 'FORMAT'), 'three\n');
    await expect(open()).rejects.toThrow(/FORMAT holds "three\\n", not "gatehouse-log <version>"/);
  });

  it('opens a log written before FORMAT existed and records the format', async () => {
    const log = await open({ validateOnAppend: false });
    const calls = sessionCalls('s-legacy', 3);
    await log.append(calls);
    await log.close();
    await rm(path.join(dir, 'FORMAT'));

    const reopened = await open();
    expect(reopened.endOffset()).toBe('3');
    expect(await readFile(path.join(dir, 'FORMAT'), 'utf8')).toBe('gatehouse-log 2\n');
  });

  it('refuses offline reading while a live process holds the log', async () => {
    await open();
    await expect(readAll()).rejects.toMatchObject({ code: 'GH_ERR_LOG_LOCKED' });
  });

  it('reads offline from a given offset in batches of maxEvents, with the tokens a consumer would give', async () => {
    const log = await open();
    const calls = sessionCalls('s-offline', 7);
    await log.append(calls);
    await log.close();

    const batches: LogBatch[] = [];
    for await (const batch of readEmbeddedLog({ dir, fromOffset: '2', maxEvents: 3 })) batches.push(batch);

    expect(batches.map((b) => b.token)).toEqual(['embedded/0/2-4', 'embedded/0/5-6']);
    expect(batches.flatMap((b) => b.events)).toEqual(calls.slice(2));
  });

  it('names the segment, offset and byte of a record that is intact but not a valid event', async () => {
    const log = await open({ validateOnAppend: false });
    const calls = sessionCalls('s-schema', 3);
    await log.append([calls[0]!, { ...calls[1]!, seq: -5 }, calls[2]!]);
    const consumer = await log.openConsumer('reader', { fromBeginning: true });

    const failure = consumer.next({ maxEvents: 10, maxWaitMs: 0 });
    await expect(failure).rejects.toMatchObject({ code: 'GH_ERR_LOG_INVALID_RECORD' });
    await expect(failure).rejects.toThrow(/00000000000000000000\.seg.*offset 1 \(byte \d+\).*seq/);
  });

  it('flags the records it schema-checked at append and reads them back without the schema', async () => {
    const checked = await open();
    const calls = sessionCalls('s-flagged', 2);
    await checked.append([calls[0]!]);
    await checked.close();
    const unchecked = await open({ validateOnAppend: false });
    await unchecked.append([calls[1]!]);
    await unchecked.close();
    const segment = path.join(dir, '00000000000000000000.seg');
    const bytes = await readFile(segment);
    const second = FRAME_HEADER_BYTES + encodeEvent(calls[0]!).length;
    expect(bytes.readUInt32BE(4) & FRAME_FLAG_SCHEMA_CHECKED).not.toBe(0);
    expect(bytes.readUInt32BE(second + 4) & FRAME_FLAG_SCHEMA_CHECKED).toBe(0);
    expect(await readAll()).toEqual(calls);

    // The same record, wrong only in depth (an uppercase hash the schema refuses), framed intact
    // with and without the flag: the flagged one is read without the schema, the other is refused.
    const deep = { ...calls[0]!, args_sha256: calls[0]!.args_sha256!.toUpperCase() };
    const payload = Buffer.from(JSON.stringify(deep));
    const frameWith = async (flagged: boolean) => {
      const frame = Buffer.alloc(FRAME_HEADER_BYTES + payload.length);
      writeFrame(frame, 0, payload, flagged);
      await writeFile(segment, frame);
    };
    await frameWith(true);
    expect(await readAll()).toEqual([deep]);
    await frameWith(false);
    await expect(readAll()).rejects.toMatchObject({ code: 'GH_ERR_LOG_INVALID_RECORD' });
    await expect(readAll()).rejects.toThrow(/args_sha256/);
  });

  it('ends a pending next with an empty batch when the log closes', async () => {
    const log = await open();
    const consumer = await log.openConsumer('reader');
    const pending = consumer.next({ maxEvents: 10, maxWaitMs: 10 * 60_000 });
    await new Promise((resolve) => setImmediate(resolve));
    await log.close();

    expect((await pending).events).toEqual([]);
    await expect(consumer.next({ maxEvents: 1, maxWaitMs: 0 })).rejects.toMatchObject({
      code: 'GH_ERR_LOG_CLOSED',
    });
  });
});
