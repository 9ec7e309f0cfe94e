import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeEvent, type GatehouseEvent } from '@gatehouse/events';
import { openEmbeddedLog, readEmbeddedLog, type EventLog } from '../src/index.js';
import { FRAME_HEADER_BYTES } from '../src/embedded/record-frame.js';
import { sessionCalls } from './support/sample-events.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');
const quiet = { warn: () => undefined };
const SEGMENT = '00000000000000000000.seg';

interface Child {
  process: ChildProcess;
  lines: string[];
  /** Resolves once `count` lines after "ready" were printed (or the child exited). */
  waitForLines(count: number): Promise<void>;
  exited: Promise<void>;
}

/** Starts `node --import tsx <fixture> ...args` and collects its stdout lines. */
function startFixture(fixture: string, args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', fixture), ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  const watchers: { count: number; resolve: () => void }[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    for (const line of parts) if (line !== 'ready') lines.push(line);
    for (const watcher of watchers.splice(0)) {
      if (lines.length >= watcher.count) watcher.resolve();
      else watchers.push(watcher);
    }
  });
  return {
    process: child,
    lines,
    exited,
    waitForLines: (count) =>
      Promise.race([
        new Promise<void>((resolve) =>
          lines.length >= count ? resolve() : watchers.push({ count, resolve }),
        ),
        exited.then(() => {
          if (lines.length < count) throw new Error(`fixture ${fixture} exited early: ${stderr}`);
        }),
      ]),
  };
}

async function readAll(dir: string): Promise<GatehouseEvent[]> {
  const out: GatehouseEvent[] = [];
  for await (const batch of readEmbeddedLog({ dir })) out.push(...batch.events);
  return out;
}

/** Byte position of record `index` in a segment written from `events` (one frame each). */
function framePosition(events: readonly GatehouseEvent[], index: number): number {
  return events
    .slice(0, index)
    .reduce((sum, event) => sum + FRAME_HEADER_BYTES + encodeEvent(event).length, 0);
}

describe('embedded event log under crashes and damage', () => {
  let dir: string;
  const logs: EventLog[] = [];
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gh-eventlog-crash-'));
  });
  afterEach(async () => {
    for (const child of children.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(logs.splice(0).map((log) => log.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every acknowledged event, and only valid records, when the writer is SIGKILLed mid-stream', async () => {
    const child = startFixture('crash-appender.ts', [dir, '64']);
    children.push(child.process);
    await child.waitForLines(3000);
    child.process.kill('SIGKILL');
    await child.exited;
    const acknowledged = [...child.lines];

    const warnings: Record<string, unknown>[] = [];
    const log = await openEmbeddedLog({ dir, logger: { warn: (details) => warnings.push(details) } });
    const endOffset = Number(log.endOffset());
    await log.close();
    const stored = await readAll(dir);

    expect(stored).toHaveLength(endOffset);
    const storedIds = new Set(stored.map((event) => event.id));
    expect(storedIds.size).toBe(stored.length);
    expect(acknowledged.filter((id) => !storedIds.has(id))).toEqual([]);
    const seqsBySession = new Map<string, number[]>();
    for (const event of stored)
      seqsBySession.set(event.session_id, [...(seqsBySession.get(event.session_id) ?? []), event.seq]);
    for (const seqs of seqsBySession.values()) expect(seqs).toEqual(seqs.map((_, i) => i));
    expect((await readdir(dir)).filter((name) => name.endsWith('.seg')).length).toBeGreaterThan(1);
    if (log.recovery) expect(warnings).toEqual([log.recovery]);
  });

  it('truncates a final record cut short by a crash, reports it, and appends after it', async () => {
    const calls = sessionCalls('s-torn', 5);
    const first = await openEmbeddedLog({ dir, logger: quiet });
    await first.append(calls.slice(0, 4));
    await first.close();
    const file = path.join(dir, SEGMENT);
    const goodSize = (await stat(file)).size;
    const next = await openEmbeddedLog({ dir, logger: quiet });
    await next.append([calls[4]!]);
    await next.close();
    const full = await readFile(file);
    // Leave only the first 40 bytes of the fifth record, as a write cut short would.
    await writeFile(file, full.subarray(0, goodSize + 40));

    const warnings: Record<string, unknown>[] = [];
    const log = await openEmbeddedLog({ dir, logger: { warn: (details) => warnings.push(details) } });
    logs.push(log);

    expect(log.recovery).toEqual({
      file,
      position: goodSize,
      bytes: 40,
      reason: 'record cut short at end of file',
    });
    expect(warnings).toEqual([log.recovery]);
    expect((await stat(file)).size).toBe(goodSize);
    expect(log.endOffset()).toBe('4');
    const [more] = sessionCalls('s-after', 1);
    await log.append([more!]);
    await log.close();
    expect((await readAll(dir)).map((event) => event.id)).toEqual(
      [...calls.slice(0, 4), more!].map((event) => event.id),
    );
  });

  it('truncates a final record whose checksum fails', async () => {
    const calls = sessionCalls('s-crc', 4);
    const first = await openEmbeddedLog({ dir, logger: quiet });
    await first.append(calls);
    await first.close();
    const file = path.join(dir, SEGMENT);
    const bytes = await readFile(file);
    const lastStart = framePosition(calls, 3);
    bytes[lastStart + FRAME_HEADER_BYTES + 10]! ^= 0xff;
    await writeFile(file, bytes);

    const log = await openEmbeddedLog({ dir, logger: quiet });
    logs.push(log);

    expect(log.recovery).toMatchObject({ position: lastStart, reason: 'checksum mismatch' });
    expect(log.endOffset()).toBe('3');
  });

  it('truncates zero bytes left after the last record (file grown, data never written)', async () => {
    const calls = sessionCalls('s-zeros', 3);
    const first = await openEmbeddedLog({ dir, logger: quiet });
    await first.append(calls);
    await first.close();
    const file = path.join(dir, SEGMENT);
    const goodSize = (await stat(file)).size;
    await appendFile(file, Buffer.alloc(4096));

    const log = await openEmbeddedLog({ dir, logger: quiet });
    logs.push(log);

    expect(log.recovery).toMatchObject({ position: goodSize, bytes: 4096 });
    expect(log.endOffset()).toBe('3');
  });

  it('refuses to open a segment corrupted in the middle, naming the file and the byte', async () => {
    const calls = sessionCalls('s-middle', 10);
    const first = await openEmbeddedLog({ dir, logger: quiet });
    await first.append(calls);
    await first.close();
    const file = path.join(dir, SEGMENT);
    const bytes = await readFile(file);
    const badStart = framePosition(calls, 3);
    bytes[badStart + FRAME_HEADER_BYTES + 20]! ^= 0x01;
    await writeFile(file, bytes);

    const opening = openEmbeddedLog({ dir, logger: quiet });

    await expect(opening).rejects.toMatchObject({ code: 'GH_ERR_LOG_CORRUPT_SEGMENT' });
    await expect(opening).rejects.toThrow(
      `${SEGMENT} (${file}) is corrupt at byte ${badStart}: checksum mismatch`,
    );
    expect((await stat(file)).size).toBe(bytes.length);
    await expect(readAll(dir)).rejects.toMatchObject({ code: 'GH_ERR_LOG_CORRUPT_SEGMENT' });
  });

  it('refuses to open a segment whose middle record has a damaged length, rather than truncating after it', async () => {
    const calls = sessionCalls('s-length', 6);
    const first = await openEmbeddedLog({ dir, logger: quiet });
    await first.append(calls);
    await first.close();
    const file = path.join(dir, SEGMENT);
    const bytes = await readFile(file);
    const badStart = framePosition(calls, 2);
    bytes.writeUInt32BE(1_000_000, badStart + 4);
    await writeFile(file, bytes);

    await expect(openEmbeddedLog({ dir, logger: quiet })).rejects.toThrow(`is corrupt at byte ${badStart}`);
  });

  it('treats a schema-checked flag cleared or set after the fact as damage (the checksum covers it)', async () => {
    const calls = sessionCalls('s-flag', 4);
    const first = await openEmbeddedLog({ dir, logger: quiet });
    await first.append(calls);
    await first.close();
    const file = path.join(dir, SEGMENT);
    const bytes = await readFile(file);
    const badStart = framePosition(calls, 1);
    bytes[badStart + 4]! ^= 0x80;
    await writeFile(file, bytes);

    await expect(openEmbeddedLog({ dir, logger: quiet })).rejects.toThrow(`is corrupt at byte ${badStart}`);
  });

  it('reports damage in an older (sealed) segment to the consumer that reaches it', async () => {
    const calls = sessionCalls('s-sealed', 12);
    const recordBytes = Math.max(...calls.map((call) => FRAME_HEADER_BYTES + encodeEvent(call).length));
    const first = await openEmbeddedLog({ dir, logger: quiet, segmentMaxBytes: recordBytes * 6 + 5 });
    for (const call of calls) await first.append([call]);
    await first.close();
    const file = path.join(dir, SEGMENT);
    const bytes = await readFile(file);
    bytes[framePosition(calls, 4) + FRAME_HEADER_BYTES + 3]! ^= 0x01;
    await writeFile(file, bytes);

    const log = await openEmbeddedLog({ dir, logger: quiet, segmentMaxBytes: recordBytes * 6 + 5 });
    logs.push(log);
    const consumer = await log.openConsumer('reader', { fromBeginning: true });

    await expect(consumer.next({ maxEvents: 100, maxWaitMs: 0 })).rejects.toMatchObject({
      code: 'GH_ERR_LOG_CORRUPT_SEGMENT',
      message: expect.stringContaining(`${SEGMENT} (${file}) is corrupt at byte ${framePosition(calls, 4)}`),
    });
  });

  it('leaves the old or the new checkpoint, never a partial one, when the committer is SIGKILLed', async () => {
    const seed = await openEmbeddedLog({ dir, logger: quiet });
    await seed.append(sessionCalls('s-commit', 2000));
    await seed.close();
    const child = startFixture('crash-committer.ts', [dir]);
    children.push(child.process);
    await child.waitForLines(100);
    child.process.kill('SIGKILL');
    await child.exited;
    const lastAcknowledged = Number(child.lines[child.lines.length - 1]);

    const text = await readFile(path.join(dir, 'checkpoints', 'projector.json'), 'utf8');
    const checkpoint = JSON.parse(text) as { next_offset: string };
    const next = Number(checkpoint.next_offset);
    expect(next).toBeGreaterThanOrEqual(lastAcknowledged + 1);
    expect(next).toBeLessThanOrEqual(lastAcknowledged + 2);

    const log = await openEmbeddedLog({ dir, logger: quiet });
    logs.push(log);
    expect(await log.committedOffset('projector')).toBe(String(next));
    expect((await readdir(path.join(dir, 'checkpoints'))).filter((name) => name.includes('.tmp-'))).toEqual(
      [],
    );
  });

  it('ignores and removes a half-written checkpoint temp file', async () => {
    const first = await openEmbeddedLog({ dir, logger: quiet });
    await first.append(sessionCalls('s-temp', 3));
    const consumer = await first.openConsumer('projector', { fromBeginning: true });
    await consumer.commit(await consumer.next({ maxEvents: 2, maxWaitMs: 0 }));
    await first.close();
    await writeFile(path.join(dir, 'checkpoints', 'projector.json.tmp-999-abcd'), '{"group":"proj');

    const log = await openEmbeddedLog({ dir, logger: quiet });
    logs.push(log);

    expect(await log.committedOffset('projector')).toBe('2');
    expect(await readdir(path.join(dir, 'checkpoints'))).toEqual(['projector.json']);
  });
});
