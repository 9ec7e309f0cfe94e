/**
 * Projector throughput: events/s from a pre-filled embedded log into chDB (insert + dedup token +
 * checkpoint commit per batch), for a few batch sizes. Target ≥ 50,000 events/s.
 *
 * chDB binds one data dir per process (and `--only projector-throughput` runs in `bench/run.ts`'s
 * own process), so each configuration runs in a child process (this same file, `PROJECTOR_BENCH_CHILD=1`) with its own
 * temp data dir; the child prints one JSON line with its figures and peak RSS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChild, runIfChild, type Bench, type BenchResult } from './bench-types.js';

interface ChildResult {
  events: number;
  batchEvents: number;
  fillMs: number;
  projectMs: number;
  rows: number;
  batches: number;
  /** CPU time of the whole child (JS and chDB threads) during the projection, per event. */
  cpuMicrosPerEvent: number;
  peakRssMiB: number;
}

const TARGET_PER_S = 50_000;
/** The projector's default `maxBatchEvents` (services/projector): what `npm start` and the services run. */
const DEFAULT_BATCH = 20_000;
const here = fileURLToPath(import.meta.url);

export const run: Bench = async ({ quick, progress }) => {
  const events = quick ? 20_000 : 300_000;
  const batchSizes = quick ? [5_000] : [1_000, 5_000, DEFAULT_BATCH];
  const rows: BenchResult['rows'] = [];
  const notes: string[] = [];
  let peakRssMiB = 0;
  for (const batchEvents of batchSizes) {
    progress(
      `${events} events, batches of ${batchEvents}: filling the log and projecting in a child process`,
    );
    const result = await runChild<ChildResult>(here, 'PROJECTOR_BENCH_CHILD', 'projector bench child', {
      BENCH_EVENTS: String(events),
      BENCH_BATCH: String(batchEvents),
    });
    peakRssMiB = Math.max(peakRssMiB, result.peakRssMiB);
    const perSecond = result.events / (result.projectMs / 1000);
    rows.push({
      events: result.events,
      'batch events': batchEvents === DEFAULT_BATCH ? `${batchEvents} (default)` : batchEvents,
      batches: result.batches,
      'projection s': (result.projectMs / 1000).toFixed(2),
      'events/s': Math.round(perSecond),
      'CPU µs/event': result.cpuMicrosPerEvent.toFixed(1),
      'rows in ClickHouse': result.rows,
      'log fill s': (result.fillMs / 1000).toFixed(2),
    });
    notes.push(
      `target ≥ ${TARGET_PER_S.toLocaleString('en')}/s at batches of ${batchEvents}${batchEvents === DEFAULT_BATCH ? ' (the default maxBatchEvents)' : ''}: ${perSecond >= TARGET_PER_S ? 'met' : 'NOT met'} (${Math.round(perSecond).toLocaleString('en')}/s)`,
    );
    if (result.rows !== result.events)
      notes.push(`rows in ClickHouse (${result.rows}) differ from events appended (${result.events})!`);
  }
  notes.push(
    'each configuration: fresh data dir, chDB in-process (max_threads 2), log pre-filled in appends of 5,000 events',
  );
  notes.push(
    'CPU µs/event counts every thread of the projector process (JS and chDB); events/s ≈ cores available / CPU per event when the machine is busy',
  );
  return { title: 'Projector: embedded log → chDB throughput', rows, peakRssMiB, notes };
};

/** The measured part, in a process of its own. */
async function child(): Promise<void> {
  const [
    { ChainRegistry, createEvent, sha256Hex },
    { openEmbeddedLog },
    { openAuditStore },
    { createProjector },
    { pino },
  ] = await Promise.all([
    import('@gatehouse/events'),
    import('@gatehouse/eventlog'),
    import('@gatehouse/store'),
    import('@gatehouse/projector'),
    import('pino'),
  ]);
  const total = Number(process.env.BENCH_EVENTS);
  const batchEvents = Number(process.env.BENCH_BATCH);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-bench-projector-'));
  try {
    const log = await openEmbeddedLog({ dir: path.join(dataDir, 'eventlog') });
    const chains = new ChainRegistry();
    const start = Date.UTC(2026, 10, 24, 9);
    const fillStarted = performance.now();
    for (let offset = 0; offset < total; offset += 5_000) {
      const chunk = [];
      for (let i = offset; i < Math.min(total, offset + 5_000); i++) {
        const session = i % 200;
        const ctx = {
          session_id: `bench-session-${session}`,
          agent: `agent-${session % 5}`,
          user: `user-${session % 17}`,
          scopes: ['mcp'],
          client_ip: '10.0.0.1',
          user_agent: 'bench/1.0',
        };
        const args = { ticket: i, query: 'status of my refund', limit: 20 };
        const call = {
          server: 'support',
          tool: `support__tool_${i % 6}`,
          request_id: String(i),
          args,
          args_sha256: sha256Hex(String(i)),
        };
        const decision = {
          allowed: i % 10 !== 0,
          rule: i % 10 === 0 ? 'default-deny' : 'allow agent',
          policy_version: 'a'.repeat(64),
        };
        const draft =
          i % 2 === 0
            ? createEvent('call.attempted', ctx, {}, { ...call, decision }, start + i)
            : createEvent(
                'call.completed',
                ctx,
                {},
                {
                  ...call,
                  decision,
                  outcome: {
                    status: 'ok',
                    latency_ms: 2.5,
                    result_sha256: sha256Hex(`r${i}`),
                    result_bytes: 512,
                    error: null,
                  },
                },
                start + i,
              );
        chunk.push(chains.seal(draft));
      }
      await log.append(chunk);
    }
    const fillMs = performance.now() - fillStarted;
    const store = await openAuditStore({ dataDir });
    const projector = createProjector({
      log,
      store,
      maxBatchEvents: batchEvents,
      maxBatchWaitMs: 50,
      logger: pino({ level: 'warn' }, pino.destination(2)),
    });
    const projectStarted = performance.now();
    const cpuStarted = process.cpuUsage();
    await projector.start();
    await projector.drain(600_000);
    const projectMs = performance.now() - projectStarted;
    const cpu = process.cpuUsage(cpuStarted);
    const stats = projector.stats();
    await projector.stop();
    const rows = await store.countEvents();
    await store.close();
    await log.close();
    const result: ChildResult = {
      events: total,
      batchEvents,
      fillMs,
      projectMs,
      rows,
      batches: stats.batches,
      cpuMicrosPerEvent: (cpu.user + cpu.system) / total,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

runIfChild('PROJECTOR_BENCH_CHILD', here, 'projector bench child', child);
