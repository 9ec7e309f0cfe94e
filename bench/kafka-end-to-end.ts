/**
 * Kafka end to end: ingress-style events (session.started, tools.listed, then call.attempted +
 * call.completed per call, sealed on per-session hash chains) appended the way the ingress's
 * recorder appends them — one event per `append`, each awaited (acks=-1), many sessions at once so
 * the adapter coalesces them — through a Kafka topic into ClickHouse (chDB) by the real projector
 * (`createProjector`, default batch settings, as `startStack` and the projector's main run it).
 *
 * Measures, per phase:
 * - end-to-end events/s: events appended ÷ time from the first append to the projector having
 *   inserted and committed the last one (`drain`), i.e. until everything is queryable;
 * - event-to-queryable latency: for every Nth event, from its append acknowledgement to the first
 *   store query that returns it (a poller asks ClickHouse for the pending sampled ids every 50 ms,
 *   so figures include up to 50 ms of polling granularity);
 * - append acknowledgement latency (what the ingress waits for before forwarding a call).
 *
 * Phases: `paced` offers the target rate (20,000 events/s; quick: 5,000/s) for a fixed time — the
 * latency that matters; `saturation` appends as fast as the sessions can — the throughput ceiling
 * (its latency includes the backlog the projector works through).
 *
 * chDB binds one data dir per process and `bench/run.ts` runs every suite in one process, so the
 * measured part runs in a child process (this file, `KAFKA_E2E_BENCH_CHILD=1`) with its own temp
 * data dir and topic. Uses KAFKA_BROKERS when set, else starts a local broker.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBroker, type StartedBroker } from '../test/support/kafka.js';
import { runChild, runIfChild, type Bench, type BenchResult } from './bench-types.js';

const TARGET_PER_S = 20_000;
const TARGET_P99_MS = 2_000;
const here = fileURLToPath(import.meta.url);

/** One phase of the child, as it reports it. */
interface PhaseResult {
  phase: string;
  sessions: number;
  /** Offered rate in events/s, or 0 for as fast as possible. */
  offeredPerS: number;
  events: number;
  /** First append → last event committed by the projector (ms). */
  endToEndMs: number;
  /** First append → last append acknowledged (ms). */
  appendMs: number;
  ackP50Ms: number;
  ackP99Ms: number;
  queryableP50Ms: number;
  queryableP99Ms: number;
  queryableMaxMs: number;
  samples: number;
  /** Distinct events of this phase in ClickHouse (count FINAL) after the drain. */
  stored: number;
}

interface ChildResult {
  phases: PhaseResult[];
  batches: number;
  cpuMicrosPerEvent: number;
  peakRssMiB: number;
}

interface PhasePlan {
  phase: string;
  sessions: number;
  offeredPerS: number;
  events: number;
}

export const run: Bench = async ({ quick, progress }) => {
  const plans: PhasePlan[] = quick
    ? [
        { phase: 'paced', sessions: 256, offeredPerS: 5_000, events: 10_000 },
        { phase: 'saturation', sessions: 256, offeredPerS: 0, events: 20_000 },
      ]
    : [
        { phase: 'paced', sessions: 1_024, offeredPerS: 5_000, events: 15 * 5_000 },
        { phase: 'paced', sessions: 1_024, offeredPerS: TARGET_PER_S, events: 15 * TARGET_PER_S },
        { phase: 'saturation', sessions: 1_024, offeredPerS: 0, events: 200_000 },
      ];
  let broker: StartedBroker | undefined;
  let brokerPeakRssMiB: number | undefined;
  let result: ChildResult;
  try {
    let brokers = process.env.KAFKA_BROKERS;
    if (!brokers) {
      progress('starting a local Kafka broker (infra/kafka/start.sh)');
      broker = await startBroker();
      brokers = broker.brokers;
    }
    progress(
      `phases ${plans.map((p) => `${p.phase} ${p.events.toLocaleString('en')} events`).join(', ')}: in a child process`,
    );
    result = await runChild<ChildResult>(
      here,
      'KAFKA_E2E_BENCH_CHILD',
      'kafka end-to-end bench child',
      { BENCH_BROKERS: brokers, BENCH_PLANS: JSON.stringify(plans) },
      progress,
    );
    if (broker) brokerPeakRssMiB = await peakRssOfPidFile(path.join(broker.dataDir, 'kafka.pid'));
  } finally {
    await broker?.destroy();
  }
  const rows: BenchResult['rows'] = [];
  const notes: string[] = [];
  for (const phase of result.phases) {
    const perSecond = phase.events / (phase.endToEndMs / 1000);
    rows.push({
      phase: phase.offeredPerS > 0 ? `${phase.phase} ${phase.offeredPerS / 1000}k/s` : phase.phase,
      sessions: phase.sessions,
      'offered events/s': phase.offeredPerS === 0 ? 'max' : phase.offeredPerS,
      events: phase.events,
      'end-to-end s': (phase.endToEndMs / 1000).toFixed(1),
      'end-to-end events/s': Math.round(perSecond),
      'append ack p50 ms': phase.ackP50Ms.toFixed(1),
      'append ack p99 ms': phase.ackP99Ms.toFixed(1),
      'queryable p50 ms': phase.queryableP50Ms.toFixed(0),
      'queryable p99 ms': phase.queryableP99Ms.toFixed(0),
      'queryable max ms': phase.queryableMaxMs.toFixed(0),
      samples: phase.samples,
      'in ClickHouse': phase.stored,
    });
    if (phase.offeredPerS > 0) {
      const appendedPerS = phase.events / (phase.appendMs / 1000);
      const kept = appendedPerS >= 0.95 * phase.offeredPerS && phase.queryableP99Ms <= TARGET_P99_MS;
      notes.push(
        `${phase.phase} ${phase.offeredPerS.toLocaleString('en')}/s: ${kept ? 'kept up' : 'did NOT keep up'} (appended at ${Math.round(appendedPerS).toLocaleString('en')}/s, ${Math.round(perSecond).toLocaleString('en')}/s end to end including the last event's way into ClickHouse); ` +
          `p99 event-to-queryable ${phase.queryableP99Ms.toFixed(0)} ms, target ≤ ${TARGET_P99_MS} ms: ${phase.queryableP99Ms <= TARGET_P99_MS ? 'met' : 'NOT met'}`,
      );
    } else {
      notes.push(
        `${phase.phase}: ${Math.round(perSecond).toLocaleString('en')} events/s end to end, target ≥ ${TARGET_PER_S.toLocaleString('en')}/s: ${perSecond >= TARGET_PER_S ? 'met' : 'NOT met'} ` +
          `(appends alone took ${(phase.appendMs / 1000).toFixed(1)} s; its latency includes the backlog)`,
      );
    }
    if (phase.stored !== phase.events)
      notes.push(
        `${phase.phase}: ClickHouse holds ${phase.stored} distinct events of ${phase.events} appended!`,
      );
  }
  notes.push(
    `${result.batches} projector batches; CPU ${result.cpuMicrosPerEvent.toFixed(0)} µs/event for the child process (load generator: sealing + appends; projector; chDB with its threads)`,
  );
  notes.push(
    `one process runs the load generator, the projector and chDB, sharing the 2 cores with a single local broker (6 partitions, acks=-1)${brokerPeakRssMiB === undefined ? '' : ` whose JVM peaked at ${brokerPeakRssMiB.toFixed(0)} MiB RSS`}; peak RSS above is the child process`,
  );
  return {
    title:
      'Kafka end to end: ingress-style events → Kafka → projector → ClickHouse (chDB), events/s and event-to-queryable latency',
    rows,
    peakRssMiB: result.peakRssMiB,
    notes,
  };
};

/** VmHWM (peak RSS) of the process named by a pid file, in MiB, when /proc tells. */
async function peakRssOfPidFile(pidFile: string): Promise<number | undefined> {
  try {
    const pid = (await readFile(pidFile, 'utf8')).trim();
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) / 1024;
  } catch {
    return undefined;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The measured part, in a process of its own. */
async function child(): Promise<void> {
  const [
    { ChainRegistry, events, sha256Hex },
    { openKafkaLog },
    { openAuditStore },
    { createProjector },
    { pino },
    clickhouse,
    chdb,
  ] = await Promise.all([
    import('@gatehouse/events'),
    import('@gatehouse/eventlog'),
    import('@gatehouse/store'),
    import('@gatehouse/projector'),
    import('pino'),
    import('@clickhouse/client'),
    import('chdb/connection'),
  ]);
  type GatehouseEvent = import('@gatehouse/events').GatehouseEvent;
  const say = (message: string) => process.stdout.write(`progress ${message}\n`);
  const plans = JSON.parse(process.env.BENCH_PLANS!) as PhasePlan[];
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-bench-kafka-e2e-'));
  const log = await openKafkaLog({
    brokers: process.env.BENCH_BROKERS!.split(','),
    topic: `gatehouse.bench-e2e.${Date.now()}`,
    partitions: 6,
    clientId: 'gatehouse-bench',
    logger: { warn: () => undefined, error: () => undefined },
  });
  const store = await openAuditStore({ dataDir });
  // A second client on the same chDB data dir (allowed within one process) for the visibility polls.
  const raw = clickhouse.createClient({
    connection: chdb.createChdbConnection({
      path: path.join(dataDir, 'clickhouse'),
    }) as unknown as NonNullable<Parameters<typeof clickhouse.createClient>[0]>['connection'],
  });
  const projector = createProjector({
    log,
    store,
    group: 'bench-e2e',
    logger: pino({ level: 'warn' }, pino.destination(2)),
  });
  const phases: PhaseResult[] = [];
  let totalEvents = 0;
  try {
    await projector.start();
    const cpuStarted = process.cpuUsage();
    const decision = {
      allowed: true,
      rule: 'allow agent:support-bot support__read_ticket',
      policy_version: 'd'.repeat(64),
    };
    for (const [planIndex, plan] of plans.entries()) {
      const chains = new ChainRegistry();
      const sampleEvery = Math.max(1, Math.floor(plan.events / 2_000));
      /**
       * Sampled events whose append was acknowledged and that no query returned yet, in sampling
       * (≈ ts) order: id → ack time and event ts (ms; prunes the query by the (agent, ts, id) key).
       */
      const pending = new Map<string, { ackAt: number; tsMs: number }>();
      const queryable: number[] = [];
      const acks: number[] = [];
      let next = 0;
      let acked = 0;
      /** Ingress-style: session.started, tools.listed, then call.attempted / call.completed pairs. */
      const nextEvent = (session: number, k: number): GatehouseEvent => {
        const ctx = {
          session_id: `bench-${planIndex}-${session}`,
          agent: `agent-${session % 8}`,
          user: `user-${session % 32}`,
          scopes: ['mcp:tools'],
          client_ip: '10.0.0.7',
          user_agent: 'bench/1.0',
        };
        const seq = (chains.head(ctx.session_id)?.seq ?? -1) + 1;
        if (seq === 0)
          return chains.seal(
            events.sessionStarted(ctx, {
              protocol_version: '2025-11-25',
              client_name: 'bench',
              client_version: '1.0',
            }),
          );
        if (seq === 1)
          return chains.seal(
            events.toolsListed(
              ctx,
              ['support__read_ticket', 'support__draft_reply'],
              decision.policy_version,
            ),
          );
        const args = { ticket_id: `T-${k}`, include_history: true };
        const call = {
          server: 'support',
          tool: 'support__read_ticket',
          request_id: String(seq >> 1),
          args,
          args_sha256: sha256Hex(`${k}`),
        };
        return chains.seal(
          seq % 2 === 0
            ? events.callAttempted(ctx, call, decision)
            : events.callCompleted(ctx, call, decision, {
                status: 'ok',
                latency_ms: 2.4,
                result_sha256: sha256Hex(`r${k}`),
                result_bytes: 812,
                error: null,
              }),
        );
      };

      say(
        `${plan.phase}: ${plan.events.toLocaleString('en')} events from ${plan.sessions} sessions, ${plan.offeredPerS > 0 ? `offered at ${plan.offeredPerS.toLocaleString('en')}/s` : 'as fast as possible'}`,
      );
      const started = performance.now();
      let appendEnded = started;
      const session = async (s: number) => {
        for (;;) {
          const k = next++;
          if (k >= plan.events) return;
          if (plan.offeredPerS > 0) {
            const wait = started + (k * 1000) / plan.offeredPerS - performance.now();
            if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
          }
          const event = nextEvent(s, k);
          const before = performance.now();
          await log.append([event]);
          const ackAt = performance.now();
          acks.push(ackAt - before);
          acked++;
          if (k % sampleEvery === 0) pending.set(event.id, { ackAt, tsMs: Date.parse(event.ts) });
        }
      };
      let polling = true;
      const poller = (async () => {
        while (polling || pending.size > 0) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          if (pending.size === 0) continue;
          const ids = [...pending.keys()].slice(0, 2_000);
          // Sealing and acknowledgement order differ a little between sessions: five seconds of slack.
          const oldestMs = Math.min(...ids.slice(0, 100).map((id) => pending.get(id)!.tsMs));
          const since = new Date(oldestMs - 5_000).toISOString().replace('T', ' ').replace('Z', '');
          const rows = await (
            await raw.query({
              query: `SELECT toString(id) AS id FROM ${store.database}.events
                      WHERE ts >= toDateTime64('${since}', 3, 'UTC') AND id IN (${ids.map((id) => `'${id}'`).join(',')})`,
              format: 'JSONEachRow',
            })
          ).json<{ id: string }>();
          const now = performance.now();
          for (const { id } of rows) {
            const sample = pending.get(id);
            if (sample === undefined) continue;
            queryable.push(now - sample.ackAt);
            pending.delete(id);
          }
        }
      })();
      const ticker = setInterval(() => {
        const stats = projector.stats();
        say(
          `  ${plan.phase} +${((performance.now() - started) / 1000).toFixed(0)}s: ${acked.toLocaleString('en')} appended, ${(stats.events - totalEvents).toLocaleString('en')} projected (lag ${String(stats.lag)}), ${pending.size} samples not yet queryable`,
        );
      }, 3_000);
      try {
        await Promise.all(Array.from({ length: plan.sessions }, (_, s) => session(s)));
        appendEnded = performance.now();
        await projector.drain(600_000);
      } finally {
        clearInterval(ticker);
      }
      const endToEndMs = performance.now() - started;
      polling = false;
      await poller;
      totalEvents += plan.events;
      const [stored] = await (
        await raw.query({
          query: `SELECT count() AS n FROM ${store.database}.events FINAL WHERE startsWith(session_id, 'bench-${planIndex}-')`,
          format: 'JSONEachRow',
        })
      ).json<{ n: string | number }>();
      queryable.sort((a, b) => a - b);
      acks.sort((a, b) => a - b);
      phases.push({
        phase: plan.phase,
        sessions: plan.sessions,
        offeredPerS: plan.offeredPerS,
        events: plan.events,
        endToEndMs,
        appendMs: appendEnded - started,
        ackP50Ms: percentile(acks, 50),
        ackP99Ms: percentile(acks, 99),
        queryableP50Ms: percentile(queryable, 50),
        queryableP99Ms: percentile(queryable, 99),
        queryableMaxMs: queryable.at(-1) ?? 0,
        samples: queryable.length,
        stored: Number(stored?.n ?? 0),
      });
    }
    const cpu = process.cpuUsage(cpuStarted);
    const result: ChildResult = {
      phases,
      batches: projector.stats().batches,
      cpuMicrosPerEvent: (cpu.user + cpu.system) / Math.max(1, totalEvents),
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
    };
    await projector.stop();
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await projector.stop().catch(() => undefined);
    await raw.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    await log.close().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

runIfChild('KAFKA_E2E_BENCH_CHILD', here, 'kafka end-to-end bench child', child);
