import { appendFile, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createMemoryLog,
  createSpoolingLog,
  LogError,
  openEmbeddedLog,
  spoolMaxBytesFromEnv,
  type EventLog,
  type MemoryEventLog,
  type SpoolingLog,
} from '../src/index.js';
import { sessionWithOutcomes } from './spool-sample-events.js';

let dir: string;
let log: MemoryEventLog;
const opened: SpoolingLog[] = [];

async function spooling(
  overrides: { republishIntervalMs?: number; maxSpoolBytes?: number } = {},
  inner: EventLog = log,
): Promise<SpoolingLog> {
  const spool = await createSpoolingLog({
    log: inner,
    dir: inner === log ? dir : path.join(dir, 'spool'),
    ...(overrides.maxSpoolBytes === undefined ? {} : { maxSpoolBytes: overrides.maxSpoolBytes }),
    retry: {
      attempts: 2,
      baseDelayMs: 1,
      maxDelayMs: 1,
      republishIntervalMs: overrides.republishIntervalMs ?? 60_000,
    },
  });
  opened.push(spool);
  return spool;
}

/** Waits (bounded by the test timeout) until `check` holds, polling. */
async function eventually(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-spool-'));
  log = createMemoryLog();
});
afterEach(async () => {
  for (const spool of opened.splice(0)) await spool.close();
  await rm(dir, { recursive: true, force: true });
});

describe('outcome spool over the in-memory log', () => {
  it("passes on its inner log's commit counts: none from the memory log, the embedded log's own", async () => {
    expect((await spooling()).commitCounts()).toBeUndefined();

    const embedded = await openEmbeddedLog({ dir: path.join(dir, 'log') });
    try {
      const spool = await spooling({}, embedded);
      const [attempted] = sessionWithOutcomes('s-counts', 1);
      await spool.append([attempted!]);
      const counts = spool.commitCounts();
      expect(counts).toEqual(embedded.commitCounts());
      expect(counts).toMatchObject({ inline: expect.any(Number), pooled: expect.any(Number) });
      expect(counts!.inline + counts!.pooled).toBe(1);
    } finally {
      await embedded.close(); // the spool leaves its inner log open
    }
  });

  it('appends straight to the log while it is available and spools nothing', async () => {
    const spool = await spooling();
    const [attempted, completed] = sessionWithOutcomes('s-up', 1);
    await log.append([attempted!]);

    await expect(spool.appendOutcome([completed!])).resolves.toBe('logged');
    expect(log.events().map((event) => event.id)).toEqual([attempted!.id, completed!.id]);
    expect(spool.pending()).toBe(0);
  });

  it('spools an outcome to disk when the log stays down, and republishes it once the log is back', async () => {
    const spool = await spooling();
    const [attempted, completed] = sessionWithOutcomes('s-down', 1);
    await log.append([attempted!]);
    log.setAvailable(false);

    await expect(spool.appendOutcome([completed!])).resolves.toBe('spooled');
    expect(spool.pending()).toBe(1);
    expect(spool.hasSpooled('s-down')).toBe(true);
    expect((await readFile(path.join(dir, 'outcomes.spool'), 'utf8')).trim().split('\n')).toHaveLength(1);
    expect(await spool.flush()).toBe(1);

    log.setAvailable(true);
    expect(await spool.flush()).toBe(0);
    expect(log.events().map((event) => event.id)).toEqual([attempted!.id, completed!.id]);
    expect(spool.hasSpooled('s-down')).toBe(false);
    expect((await stat(path.join(dir, 'outcomes.spool'))).size).toBe(0);
  });

  it('refuses to spool past maxSpoolBytes, naming the spool and the bound, and takes events again once drained', async () => {
    const events = sessionWithOutcomes('s-full', 6);
    const outcomes = events.filter((event) => event.type !== 'call.attempted');
    const lineBytes = Buffer.byteLength(JSON.stringify(outcomes[0])) + 1;
    const spool = await spooling({ maxSpoolBytes: Math.floor(lineBytes * 2.5) });
    await log.append(events.filter((event) => event.type === 'call.attempted'));
    log.setAvailable(false);

    await expect(spool.appendOutcome([outcomes[0]!])).resolves.toBe('spooled');
    await expect(spool.appendOutcome([outcomes[1]!])).resolves.toBe('spooled');
    const full = spool.appendOutcome([outcomes[2]!]);
    await expect(full).rejects.toMatchObject({ code: 'GH_ERR_LOG_SPOOL_FULL', nothingWritten: true });
    await expect(full).rejects.toThrow(/outcomes\.spool is full: .* would pass maxSpoolBytes/);
    expect(spool.pending()).toBe(2);
    expect((await readFile(path.join(dir, 'outcomes.spool'), 'utf8')).trim().split('\n')).toHaveLength(2);

    log.setAvailable(true);
    expect(await spool.flush()).toBe(0);
    await expect(spool.appendOutcome([outcomes[2]!])).resolves.toBe('logged');
    log.setAvailable(false);
    await expect(spool.appendOutcome([outcomes[3]!])).resolves.toBe('spooled');
    log.setAvailable(true);
    expect(await spool.flush()).toBe(0);
    expect(
      log
        .events()
        .filter((event) => event.type !== 'call.attempted')
        .map((event) => event.id),
    ).toEqual(outcomes.slice(0, 4).map((event) => event.id));
  });

  it('reads its bound from GATEHOUSE_SPOOL_MAX_BYTES, naming the variable when it is not a byte count', () => {
    expect(spoolMaxBytesFromEnv({})).toBeUndefined();
    expect(spoolMaxBytesFromEnv({ GATEHOUSE_SPOOL_MAX_BYTES: '' })).toBeUndefined();
    expect(spoolMaxBytesFromEnv({ GATEHOUSE_SPOOL_MAX_BYTES: '5000000' })).toBe(5_000_000);
    for (const bad of ['1e9', '-5', '512', '1 GiB', '9007199254740993'])
      expect(() => spoolMaxBytesFromEnv({ GATEHOUSE_SPOOL_MAX_BYTES: bad })).toThrow(
        `GATEHOUSE_SPOOL_MAX_BYTES: "${bad}" is not a whole number of bytes ≥ 1024`,
      );
  });

  it('names a maxSpoolBytes below 1 KiB', async () => {
    await expect(spooling({ maxSpoolBytes: 10 })).rejects.toThrow(
      /maxSpoolBytes must be an integer ≥ 1024, got 10/,
    );
  });

  it("spools a session's later outcomes behind its spooled ones even when the log is back, so the chain order holds", async () => {
    const spool = await spooling();
    const chain = sessionWithOutcomes('s-order', 3);
    const outcomes = chain.filter((event) => event.type === 'call.completed');
    log.setAvailable(false);
    await spool.appendOutcome([outcomes[0]!]);
    log.setAvailable(true);

    await expect(spool.appendOutcome([outcomes[1]!])).resolves.toBe('spooled');
    await spool.flush();
    await expect(spool.appendOutcome([outcomes[2]!])).resolves.toBe('logged');

    expect(log.events().map((event) => event.seq)).toEqual(outcomes.map((event) => event.seq));
  });

  it('republishes the spool before a durable append of the same session, and refuses the append while it cannot', async () => {
    const spool = await spooling();
    const chain = sessionWithOutcomes('s-attempt', 2);
    log.setAvailable(false);
    await spool.appendOutcome([chain[1]!]);

    await expect(spool.append([chain[2]!])).rejects.toMatchObject({
      code: 'GH_ERR_LOG_UNAVAILABLE',
      retryable: true,
    });
    log.setAvailable(true);
    await spool.append([chain[2]!]);

    expect(log.events().map((event) => event.id)).toEqual([chain[1]!.id, chain[2]!.id]);
  });

  it('cuts a spool write that the disk took only part of back off, and spools the next outcome whole', async () => {
    const spool = await spooling();
    const [attempted, first, , second] = sessionWithOutcomes('s-short', 2);
    await log.append([attempted!]);
    log.setAvailable(false);
    // The disk fills: one write takes half the line, the next fails with ENOSPC.
    const probe = await open(path.join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
    await probe.close();
    const original = proto.write;
    const write = vi
      .spyOn(proto, 'write')
      .mockImplementationOnce(function (this: unknown, buffer: unknown, offset: unknown, length: unknown) {
        return original.call(this, buffer, offset, Math.floor((length as number) / 2));
      })
      .mockImplementationOnce(() =>
        Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })),
      );
    try {
      await expect(spool.appendOutcome([first!])).rejects.toMatchObject({
        code: 'GH_ERR_LOG_UNAVAILABLE',
        message: expect.stringMatching(/outcomes\.spool.*ENOSPC/),
      });
      expect(write).toHaveBeenCalledTimes(2);
    } finally {
      write.mockRestore();
    }
    expect((await stat(path.join(dir, 'outcomes.spool'))).size).toBe(0);
    await expect(spool.appendOutcome([second!])).resolves.toBe('spooled');
    const lines = (await readFile(path.join(dir, 'outcomes.spool'), 'utf8')).trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual([second!.id]);
  });

  it('frees the sessions it republished even when recording the spool position fails', async () => {
    const spool = await spooling();
    const chain = sessionWithOutcomes('s-advance', 2);
    log.setAvailable(false);
    await spool.appendOutcome([chain[1]!]);
    log.setAvailable(true);
    const probe = await open(path.join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const datasync = vi
      .spyOn(proto, 'datasync')
      .mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    try {
      await expect(spool.flush()).rejects.toThrow(/EIO/);
    } finally {
      datasync.mockRestore();
    }
    expect(spool.hasSpooled('s-advance')).toBe(false);
    await spool.append([chain[2]!]); // the session's next durable append is not refused
    expect(log.events().map((event) => event.id)).toEqual([chain[1]!.id, chain[2]!.id]);
  });

  it('keeps spooled outcomes across a restart and republishes them in the background', async () => {
    const first = await spooling();
    const outcomes = sessionWithOutcomes('s-restart', 3).filter((event) => event.type === 'call.completed');
    log.setAvailable(false);
    for (const outcome of outcomes) await first.appendOutcome([outcome]);
    await first.close();
    opened.splice(opened.indexOf(first), 1);
    log.setAvailable(true);

    const second = await spooling({ republishIntervalMs: 10 });
    expect(second.pending()).toBe(3);
    await eventually(() => second.pending() === 0);

    expect(log.events().map((event) => event.id)).toEqual(outcomes.map((event) => event.id));
  });

  it('scans a spool of megabytes on open a chunk at a time, from its recorded offset, keeping only where each event is', async () => {
    const first = await spooling();
    const outcomes = Array.from({ length: 60 }, (_, i) =>
      sessionWithOutcomes(`s-big-${i}`, 30).filter((event) => event.type === 'call.completed'),
    );
    log.setAvailable(false);
    for (const chain of outcomes) await first.appendOutcome(chain);
    expect((await stat(path.join(dir, 'outcomes.spool'))).size).toBeGreaterThan(1 << 20); // past one scan chunk
    // The log takes one republished batch (500 events), then goes away again: the offset moves once.
    log.setAvailable(true);
    const original = log.append.bind(log);
    const append = vi
      .spyOn(log, 'append')
      .mockImplementationOnce(original)
      .mockRejectedValue(new LogError('GH_ERR_LOG_UNAVAILABLE', 'down again', { retryable: true }));
    expect(await first.flush()).toBe(1_800 - 500);
    append.mockRestore();
    await first.close();
    opened.splice(opened.indexOf(first), 1);
    await appendFile(path.join(dir, 'outcomes.spool'), '{"id":"torn'); // and a torn tail

    const second = await spooling();
    expect(second.pending()).toBe(1_800 - 500);
    expect(second.hasSpooled('s-big-59')).toBe(true);
    expect(second.hasSpooled('s-big-0')).toBe(false); // its 30 were in the batch the log took
    expect(await second.flush()).toBe(0);
    expect(log.events().map((event) => event.id)).toEqual(outcomes.flat().map((event) => event.id));
  });

  it('names the spool file when a spooled line is no longer the event recorded there, and keeps it spooled', async () => {
    const spool = await spooling();
    const [, completed] = sessionWithOutcomes('s-altered', 1);
    log.setAvailable(false);
    await spool.appendOutcome([completed!]);
    const file = path.join(dir, 'outcomes.spool');
    const text = await readFile(file, 'utf8');
    await writeFile(
      file,
      text.replace(
        completed!.id,
        completed!.id.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
      ),
    );
    log.setAvailable(true);
    await expect(spool.flush()).rejects.toMatchObject({
      code: 'GH_ERR_LOG_CORRUPT_SEGMENT',
      message: expect.stringMatching(/outcomes\.spool.*not the spooled/),
    });
    expect(spool.pending()).toBe(1);
    expect(log.events()).toEqual([]);
  });

  it('drops a torn last line (a spool write cut by a crash) on open and keeps every complete one', async () => {
    const first = await spooling();
    const outcomes = sessionWithOutcomes('s-torn', 2).filter((event) => event.type === 'call.completed');
    log.setAvailable(false);
    await first.appendOutcome([outcomes[0]!]);
    await first.close();
    opened.splice(opened.indexOf(first), 1);
    await appendFile(path.join(dir, 'outcomes.spool'), '{"id":"torn');

    const second = await spooling();
    expect(second.pending()).toBe(1);
    await second.appendOutcome([outcomes[1]!]);
    log.setAvailable(true);
    await second.flush();

    expect(log.events().map((event) => event.id)).toEqual(outcomes.map((event) => event.id));
  });

  it('refuses to spool a call.attempted (a call must not be forwarded without it being durable)', async () => {
    const spool = await spooling();
    const [attempted] = sessionWithOutcomes('s-attempted', 1);
    await expect(spool.appendOutcome([attempted!])).rejects.toMatchObject({ code: 'GH_ERR_LOG_CONFIG' });
  });
});
