import { ChainRegistry, events, verifyChain, type EventContext } from '@gatehouse/events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createMemoryLog,
  createSpoolingLog,
  LogError,
  type EventLog,
  type MemoryEventLog,
  type SpoolingLog,
} from '@gatehouse/eventlog';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ARGS_OMITTED, AuditRecorder, spoolOf } from '../src/audit/audit-recorder.js';

const ctx: EventContext = { session_id: 's-1', agent: 'support-bot', user: 'alice' };
const logger = pino({ level: 'silent' });

function setup() {
  const log = createMemoryLog();
  const chains = new ChainRegistry();
  const recorder = new AuditRecorder({ log, chains, logger, retryDelaysMs: [1, 1], backlogRetryMs: 10 });
  return { log, chains, recorder };
}

/** A memory log whose next append, once armed, writes the batch and then rejects with `error`. */
function writesThenRefuses(error: LogError) {
  const memory = createMemoryLog();
  let armed = false;
  const log: EventLog = {
    ...memory,
    append: async (batch) => {
      await memory.append(batch);
      if (armed) {
        armed = false;
        throw error;
      }
    },
  };
  return { memory, log, refuseNextAfterWriting: () => void (armed = true) };
}

describe('audit recorder', () => {
  it('appends one stream’s events in seq order even when issued concurrently', async () => {
    const { log, recorder } = setup();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2
          ? recorder.appendOutcome(events.sessionEnded(ctx, `r${i}`))
          : recorder.appendDurable(events.sessionEnded(ctx, `r${i}`)),
      ),
    );
    const stored = log.events();
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(verifyChain(stored).ok).toBe(true);
  });

  it('batches events of one stream that queue up behind an append in flight (one fsync for many calls)', async () => {
    const log = createMemoryLog();
    const batches: number[] = [];
    const counting = {
      ...log,
      kind: log.kind,
      append: async (batch: Parameters<typeof log.append>[0]) => {
        batches.push(batch.length);
        await log.append(batch);
      },
    };
    const recorder = new AuditRecorder({ log: counting, chains: new ChainRegistry(), logger });
    const first = recorder.appendDurable(events.sessionEnded(ctx, 'a'));
    await Promise.resolve();
    await Promise.resolve();
    const rest = Array.from({ length: 9 }, (_, i) =>
      recorder.appendDurable(events.sessionEnded(ctx, `b${i}`)),
    );
    await Promise.all([first, ...rest]);
    expect(batches).toEqual([1, 9]);
    expect(verifyChain(log.events()).ok).toBe(true);
  });

  it('lets a lingering outcome wait for the session’s next event so both share one append', async () => {
    const log = createMemoryLog();
    const batches: string[][] = [];
    const counting = {
      ...log,
      kind: log.kind,
      append: async (batch: Parameters<typeof log.append>[0]) => {
        batches.push(batch.map((e) => e.type));
        await log.append(batch);
      },
    };
    const recorder = new AuditRecorder({
      log: counting,
      chains: new ChainRegistry(),
      logger,
      outcomeLingerMs: 1_000,
    });
    const completed = recorder.appendOutcome(events.sessionEnded(ctx, 'previous call completed'), {
      linger: true,
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await recorder.appendDurable(events.toolsListed(ctx, [], 'v'));
    await completed;
    expect(batches).toEqual([['session.ended', 'tools.listed']]);
  });

  it('when the log refuses a durable append during an outage, rejects, keeps the seq and re-appends the same event', async () => {
    const { log, chains, recorder } = setup();
    await recorder.appendDurable(
      events.sessionStarted(ctx, { protocol_version: null, client_name: null, client_version: null }),
    );
    log.setAvailable(false);
    await expect(recorder.appendDurable(events.toolsListed(ctx, [], 'v'))).rejects.toMatchObject({
      code: 'GH_ERR_LOG_UNAVAILABLE',
    });
    // The refused event may have been written (a lost acknowledgement): its seq stays taken.
    expect(chains.head('s-1')?.seq).toBe(1);
    const next = recorder.appendOutcome(events.sessionEnded(ctx, 'client_deleted'));
    log.setAvailable(true);
    await next;
    await recorder.drain();
    expect(log.events().map((e) => [e.seq, e.type])).toEqual([
      [0, 'session.started'],
      [1, 'tools.listed'],
      [2, 'session.ended'],
    ]);
    expect(verifyChain(log.events()).ok).toBe(true);
    recorder.stop();
  });

  it('never gives one seq to two events when a refused append was in fact written', async () => {
    // A timeout after the write: what Kafka does when an acknowledgement is lost.
    const { memory, log, refuseNextAfterWriting } = writesThenRefuses(
      new LogError('GH_ERR_LOG_UNAVAILABLE', 'produce timed out', { retryable: true }),
    );
    const recorder = new AuditRecorder({ log, chains: new ChainRegistry(), logger, retryDelaysMs: [1] });
    await recorder.appendDurable(
      events.sessionStarted(ctx, { protocol_version: null, client_name: null, client_version: null }),
    );
    refuseNextAfterWriting();
    await expect(recorder.appendDurable(events.toolsListed(ctx, [], 'v'))).rejects.toMatchObject({
      code: 'GH_ERR_LOG_UNAVAILABLE',
    });
    await recorder.appendDurable(events.sessionEnded(ctx, 'client_deleted'));
    await recorder.drain();
    const written = memory.events();
    // The re-append duplicates the record (same id); deduplicated by id, the chain is intact.
    expect(written.map((e) => e.seq)).toEqual([0, 1, 1, 2]);
    expect(new Set(written.map((e) => e.id)).size).toBe(3);
    const unique = [...new Map(written.map((e) => [e.id, e])).values()];
    expect(verifyChain(unique).ok).toBe(true);
  });

  it('treats a non-retryable refusal from the send path as in doubt: another session in the same request may have been written', async () => {
    // The broker refused the produce request (a record of another session was too large for the
    // topic), after this session's record had been written to its partition.
    const { memory, log, refuseNextAfterWriting } = writesThenRefuses(
      new LogError('GH_ERR_LOG_RECORD_TOO_LARGE', 'kafka refused the produce request: MESSAGE_TOO_LARGE'),
    );
    const chains = new ChainRegistry();
    const recorder = new AuditRecorder({ log, chains, logger, retryDelaysMs: [1] });
    await recorder.appendDurable(
      events.sessionStarted(ctx, { protocol_version: null, client_name: null, client_version: null }),
    );
    refuseNextAfterWriting();
    await expect(recorder.appendDurable(events.toolsListed(ctx, [], 'v'))).rejects.toMatchObject({
      code: 'GH_ERR_LOG_RECORD_TOO_LARGE',
    });
    expect(chains.head('s-1')?.seq).toBe(1);
    await recorder.appendDurable(events.sessionEnded(ctx, 'client_deleted'));
    await recorder.drain();
    const unique = [...new Map(memory.events().map((e) => [e.id, e])).values()];
    expect(unique.map((e) => e.seq)).toEqual([0, 1, 2]);
    expect(verifyChain(unique).ok).toBe(true);
  });

  it('rewinds the head when the log refuses for good (nothing written), so the next event reuses the seq', async () => {
    const memory = createMemoryLog();
    let refuse = false;
    const log: EventLog = {
      ...memory,
      append: async (batch) => {
        if (refuse)
          throw new LogError('GH_ERR_LOG_RECORD_TOO_LARGE', 'record of 2 MiB exceeds 1 MiB', {
            nothingWritten: true,
          });
        await memory.append(batch);
      },
    };
    const chains = new ChainRegistry();
    const recorder = new AuditRecorder({ log, chains, logger, retryDelaysMs: [] });
    await recorder.appendDurable(
      events.sessionStarted(ctx, { protocol_version: null, client_name: null, client_version: null }),
    );
    refuse = true;
    await expect(recorder.appendDurable(events.toolsListed(ctx, [], 'v'))).rejects.toMatchObject({
      code: 'GH_ERR_LOG_RECORD_TOO_LARGE',
    });
    expect(chains.head('s-1')?.seq).toBe(0);
    refuse = false;
    await recorder.appendDurable(events.toolsListed(ctx, [], 'v'));
    expect(memory.events().map((e) => e.seq)).toEqual([0, 1]);
    expect(verifyChain(memory.events()).ok).toBe(true);
  });

  it('never loses an outcome: retries, keeps it while the log is down, publishes it when the log is back', async () => {
    const { log, recorder } = setup();
    log.setAvailable(false);
    const sealed = await recorder.appendOutcome(events.sessionEnded(ctx, 'client_deleted'));
    expect(recorder.backlogSize).toBe(1);
    expect(log.events()).toHaveLength(0);
    log.setAvailable(true);
    await recorder.drain();
    expect(recorder.backlogSize).toBe(0);
    expect(log.events().map((e) => e.id)).toEqual([sealed.id]);
    recorder.stop();
  });

  it('bounds the in-memory backlog: beyond maxBacklog events are dropped and counted', async () => {
    const log = createMemoryLog();
    const recorder = new AuditRecorder({
      log,
      chains: new ChainRegistry(),
      logger,
      retryDelaysMs: [],
      maxBacklog: 2,
    });
    log.setAvailable(false);
    for (let i = 0; i < 3; i++)
      await recorder.appendOutcome(events.sessionEnded({ ...ctx, session_id: `s-${i}` }, 'x'));
    expect(recorder.backlogSize).toBe(2);
    expect(recorder.droppedCount).toBe(1);
    recorder.stop();
  });

  it('hands refused outcomes to a spool when one is configured', async () => {
    const log = createMemoryLog();
    const spooled: string[] = [];
    const recorder = new AuditRecorder({
      log,
      chains: new ChainRegistry(),
      logger,
      retryDelaysMs: [],
      spool: { put: async (batch) => void spooled.push(...batch.map((e) => e.type)) },
    });
    log.setAvailable(false);
    await recorder.appendOutcome(events.sessionEnded(ctx, 'idle_timeout'));
    expect(spooled).toEqual(['session.ended']);
    expect(recorder.backlogSize).toBe(0);
  });

  /** A recorder over a spooling log (spool in a temp dir) over a memory log; cleans up after `body`. */
  async function withSpoolingRecorder(
    options: { maxSpoolBytes?: number },
    body: (parts: { memory: MemoryEventLog; log: SpoolingLog; recorder: AuditRecorder }) => Promise<void>,
  ): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-spool-'));
    const memory = createMemoryLog();
    const log = await createSpoolingLog({
      log: memory,
      dir,
      retry: { attempts: 1, republishIntervalMs: 60_000 },
      ...options,
    });
    const recorder = new AuditRecorder({
      log,
      chains: new ChainRegistry(),
      logger,
      retryDelaysMs: [],
      backlogRetryMs: 10,
      spool: spoolOf(log),
    });
    try {
      await body({ memory, log, recorder });
    } finally {
      recorder.stop();
      await log.close();
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('with a spooling log, spools refused outcomes to disk and republishes them when the log is back', async () => {
    await withSpoolingRecorder({}, async ({ memory, log, recorder }) => {
      memory.setAvailable(false);
      await recorder.appendOutcome(events.sessionEnded(ctx, 'client_deleted'));
      expect(recorder.backlogSize).toBe(0);
      expect(log.pending()).toBe(1);
      memory.setAvailable(true);
      expect(await log.flush()).toBe(0);
      expect(memory.events().map((e) => e.type)).toEqual(['session.ended']);
    });
  });

  it('with a full spool, keeps refused outcomes in the in-memory backlog and publishes them, in order, when the log is back', async () => {
    await withSpoolingRecorder({ maxSpoolBytes: 1_024 }, async ({ memory, log, recorder }) => {
      memory.setAvailable(false);
      // About 700 bytes each as a spool line: one fits in 1 KiB, two do not.
      const wide = { ...ctx, user_agent: 'x'.repeat(300) };
      const first = await recorder.appendOutcome(events.sessionEnded(wide, 'client_deleted'));
      const other = { ...wide, session_id: 's-2' };
      const second = await recorder.appendOutcome(events.sessionEnded(other, 'idle_timeout'));
      expect(log.pending()).toBe(1); // the first fitted in the 1 KiB spool
      expect(recorder.backlogSize).toBe(1); // the second did not: kept in memory, not lost
      memory.setAvailable(true);
      expect(await log.flush()).toBe(0);
      await recorder.drain();
      expect(recorder.backlogSize).toBe(0);
      expect(memory.events().map((e) => e.id)).toEqual([first.id, second.id]);
    });
  });

  describe('an event over the log record limit', () => {
    const decision = { allowed: true, rule: 'r', policy_version: 'a'.repeat(64) };
    const call = (requestId: string, args: unknown) => ({
      server: 'support',
      tool: 'support__read_ticket',
      request_id: requestId,
      args,
      args_sha256: 'b'.repeat(64),
    });
    const outcome = {
      status: 'ok' as const,
      latency_ms: 1,
      result_sha256: null,
      result_bytes: null,
      error: null,
    };
    const big = { blob: 'x'.repeat(4_000) };

    it('keeps an outcome without its arguments, and refuses only the durable event that is too large itself', async () => {
      const log = createMemoryLog({ maxRecordBytes: 3_000 });
      const recorder = new AuditRecorder({ log, chains: new ChainRegistry(), logger, retryDelaysMs: [1] });
      // The oversized outcome lingers, then shares a batch with the next call's small call.attempted.
      const completed = recorder.appendOutcome(events.callCompleted(ctx, call('1', big), decision, outcome), {
        linger: true,
      });
      const attempted = recorder.appendDurable(events.callAttempted(ctx, call('2', { id: 'T-1' }), decision));
      await expect(attempted).resolves.toMatchObject({ type: 'call.attempted', seq: 1 });
      await expect(completed).resolves.toMatchObject({
        seq: 0,
        args: ARGS_OMITTED,
        args_sha256: 'b'.repeat(64),
      });
      await expect(
        recorder.appendDurable(events.callAttempted(ctx, call('3', big), decision)),
      ).rejects.toMatchObject({ code: 'GH_ERR_LOG_RECORD_TOO_LARGE' });
      await recorder.appendOutcome(events.sessionEnded(ctx, 'client_deleted'));
      await recorder.drain();
      const stored = log.events();
      expect(stored.map((e) => [e.seq, e.type])).toEqual([
        [0, 'call.completed'],
        [1, 'call.attempted'],
        [2, 'session.ended'],
      ]);
      expect(verifyChain(stored).ok).toBe(true);
      expect(recorder.backlogSize).toBe(0);
      expect(recorder.droppedCount).toBe(0);
    });

    it('drops, logs and counts an outcome still too large without arguments, and leaves no gap', async () => {
      const log = createMemoryLog({ maxRecordBytes: 3_000 });
      const recorder = new AuditRecorder({ log, chains: new ChainRegistry(), logger, retryDelaysMs: [1] });
      const tools = Array.from({ length: 300 }, (_, i) => `support__tool_${i}`);
      await recorder.appendOutcome(events.toolsListed(ctx, tools, 'a'.repeat(64)));
      await recorder.appendOutcome(events.sessionEnded(ctx, 'client_deleted'));
      await recorder.drain();
      expect(log.events().map((e) => [e.seq, e.type])).toEqual([[0, 'session.ended']]);
      expect(recorder.droppedCount).toBe(1);
      expect(recorder.backlogSize).toBe(0);
    });
  });
});
