/**
 * Kafka end to end: ingress-style events (session.started, tools.listed, then call.attempted +
 * call.completed per call, sealed on per-session hash chains) appended the way the ingress's
 * recorder appends them — one event per `append`, each awaited (acks=-1), many sessions at once so
 * the adapter coalesces them — through a Kafka topic into ClickHouse (chDB) by the real projector
 * (`createProjector`, default batch settings, as `startStack` and the projector's main run it).
 *
 * The production topology on one machine: the producer (standing in for the ingress: sealing and
 * appends) and the projector (consumer, chDB) are separate processes, as `services/ingress` and
 * `services/projector` are, beside the broker. This file is all three parts: the parent
 * (`run`, which orchestrates the phases and relays messages) and the two children
 * (`KAFKA_E2E_PRODUCER=1`, `KAFKA_E2E_PROJECTOR=1`), talking over Node's IPC channel.
 *
 * Measures, per phase:
 * - end-to-end events/s: events appended ÷ time from the first append to the projector having
 *   inserted and committed the last one (`drain`), i.e. until everything is queryable;
 * - event-to-queryable latency: for every Nth event, from its append acknowledgement (in the
 *   producer) to the first store query that returns it (in the projector process, which asks
 *   ClickHouse for the pending sampled ids every 50 ms, so figures include up to 50 ms of polling
 *   granularity); both processes time with `performance.timeOrigin + performance.now()`;
 * - append acknowledgement latency (what the ingress waits for before forwarding a call);
 * - CPU per event of the producer, the projector (with chDB's threads) and the broker JVM.
 *
 * Phases: `paced` offers the target rate (20,000 events/s; quick: 5,000/s) for a fixed time — the
 * latency that matters; `saturation` appends as fast as the sessions can — the throughput ceiling
 * (its latency includes the backlog the projector works through).
 *
 * Uses KAFKA_BROKERS when set, else starts a local broker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KafkaLogOptions } from '@gatehouse/eventlog';
import { startBroker, type StartedBroker } from '../test/support/kafka.js';
import { cpuMsOfPid, onLines, runIfChild, type Bench, type BenchResult } from './bench-types.js';

const TARGET_PER_S = 20_000;
const TARGET_P99_MS = 2_000;
const here = fileURLToPath(import.meta.url);

interface PhasePlan {
  phase: string;
  /** Producer processes (ingress instances) appending at once; sessions and events are split between them. */
  producers: number;
  sessions: number;
  /** Offered rate in events/s, or 0 for as fast as possible. */
  offeredPerS: number;
  events: number;
}

/** A sampled event: id, its append acknowledgement (epoch ms), its `ts` (epoch ms). */
type Sample = [id: string, ackAt: number, tsMs: number];

/** What a producer reports when its share of a phase's appends are all acknowledged. */
interface Appended {
  startedAt: number;
  endedAt: number;
  /** Every 10th append acknowledgement latency (ms), sorted. */
  ackSamplesMs: number[];
}

/** What the projector reports when a phase is drained into ClickHouse. */
interface Drained {
  drainedAt: number;
  queryableP50Ms: number;
  queryableP99Ms: number;
  queryableMaxMs: number;
  samples: number;
  /** Distinct events of this phase in ClickHouse (count FINAL) after the drain. */
  stored: number;
}

/** What each child reports when it is done. */
interface ChildTotals {
  cpuMs: number;
  peakRssMiB: number;
  batches?: number;
}

/** Messages between the parent and the children (both directions). */
type Message =
  | { type: 'ready' }
  | { type: 'phase'; index: number; plan: PhasePlan; producer: number }
  | { type: 'samples'; index: number; samples: Sample[] }
  | { type: 'appended'; index: number; appended: Appended }
  | { type: 'drain'; index: number; events: number }
  | { type: 'drained'; index: number; drained: Drained }
  | { type: 'finish' }
  | { type: 'done'; totals: ChildTotals };

/** A child process of this file with its IPC channel: `next` waits for a message of one type. */
class Child {
  readonly #process: ChildProcess;
  readonly #inbox: Message[] = [];
  readonly #waiters: Array<{ type: Message['type']; resolve: (m: Message) => void }> = [];
  readonly #exited: Promise<never>;
  /** Called for every `samples` message (relayed, never queued). */
  onSamples: ((message: Extract<Message, { type: 'samples' }>) => void) | undefined;

  constructor(
    envVar: string,
    readonly label: string,
    env: Record<string, string>,
    progress: (m: string) => void,
  ) {
    this.#process = spawn(process.execPath, ['--import', 'tsx', here], {
      env: { ...process.env, [envVar]: '1', ...env },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    onLines(this.#process.stdout!, (line) => {
      if (line.startsWith('progress ')) progress(line.slice('progress '.length));
    });
    this.#process.on('message', (message: Message) => {
      if (message.type === 'samples') return this.onSamples?.(message);
      const waiter = this.#waiters.findIndex((w) => w.type === message.type);
      if (waiter < 0) this.#inbox.push(message);
      else this.#waiters.splice(waiter, 1)[0]!.resolve(message);
    });
    this.#exited = new Promise<never>((_, reject) => {
      this.#process.on('error', reject);
      this.#process.on('exit', (code) => reject(new Error(`${label} exited with ${code}`)));
    });
    this.#exited.catch(() => undefined);
  }

  send(message: Message): void {
    this.#process.send(message);
  }

  /** The next message of `type`; rejects if the child exits first. */
  next<T extends Message['type']>(type: T): Promise<Extract<Message, { type: T }>> {
    const queued = this.#inbox.findIndex((m) => m.type === type);
    if (queued >= 0)
      return Promise.resolve(this.#inbox.splice(queued, 1)[0] as Extract<Message, { type: T }>);
    return Promise.race([
      new Promise<Extract<Message, { type: T }>>((resolve) =>
        this.#waiters.push({ type, resolve: resolve as (m: Message) => void }),
      ),
      this.#exited,
    ]);
  }

  /** Waits for the child to exit (after `finish`); kills it if it has not within 60 s. */
  async exit(): Promise<void> {
    if (this.#process.exitCode !== null) return;
    const timer = setTimeout(() => this.#process.kill('SIGKILL'), 60_000);
    await this.#exited.catch(() => undefined);
    clearTimeout(timer);
  }

  get pid(): string {
    return String(this.#process.pid);
  }

  kill(): void {
    if (this.#process.exitCode === null) this.#process.kill('SIGKILL');
  }
}

export const run: Bench = async ({ quick, progress }) => {
  const plans: PhasePlan[] = quick
    ? [
        { phase: 'paced', producers: 1, sessions: 256, offeredPerS: 5_000, events: 10_000 },
        { phase: 'saturation', producers: 1, sessions: 256, offeredPerS: 0, events: 20_000 },
        { phase: 'saturation', producers: 2, sessions: 256, offeredPerS: 0, events: 20_000 },
      ]
    : [
        { phase: 'paced', producers: 1, sessions: 1_024, offeredPerS: 5_000, events: 15 * 5_000 },
        {
          phase: 'paced',
          producers: 1,
          sessions: 1_024,
          offeredPerS: TARGET_PER_S,
          events: 15 * TARGET_PER_S,
        },
        { phase: 'saturation', producers: 1, sessions: 1_024, offeredPerS: 0, events: 200_000 },
        {
          phase: 'paced',
          producers: 2,
          sessions: 1_024,
          offeredPerS: TARGET_PER_S,
          events: 15 * TARGET_PER_S,
        },
        { phase: 'saturation', producers: 2, sessions: 1_024, offeredPerS: 0, events: 200_000 },
      ];
  const producerCount = Math.max(...plans.map((plan) => plan.producers));
  let broker: StartedBroker | undefined;
  let brokerPeakRssMiB: number | undefined;
  let brokerCpuMs: number | undefined;
  const children: Child[] = [];
  /** Per phase: CPU µs per event of the producer, the projector (with chDB) and the broker. */
  type PhaseCpu = { producer: number; projector: number; broker: number | undefined };
  const phases: Array<
    PhasePlan & Drained & { startedAt: number; endedAt: number; acksMs: number[]; cpu: PhaseCpu }
  > = [];
  let producerTotals: ChildTotals[];
  let projectorTotals: ChildTotals;
  try {
    let brokers = process.env.KAFKA_BROKERS;
    if (!brokers) {
      progress('starting a local Kafka broker (infra/kafka/start.sh)');
      broker = await startBroker();
      brokers = broker.brokers;
    }
    const brokerPid = broker ? await pidOf(path.join(broker.dataDir, 'kafka.pid')) : undefined;
    const env = { BENCH_BROKERS: brokers, BENCH_TOPIC: `gatehouse.bench-e2e.${Date.now()}` };
    progress(
      `phases ${plans.map((p) => `${p.phase} ${p.events.toLocaleString('en')} events (${p.producers} producer${p.producers > 1 ? 's' : ''})`).join(', ')}: producers and projector in processes of their own`,
    );
    const projector = new Child('KAFKA_E2E_PROJECTOR', 'kafka end-to-end projector', env, progress);
    children.push(projector);
    await projector.next('ready');
    const producers: Child[] = [];
    for (let i = 0; i < producerCount; i++) {
      const producer = new Child('KAFKA_E2E_PRODUCER', `kafka end-to-end producer ${i}`, env, progress);
      children.push(producer);
      producers.push(producer);
      producer.onSamples = (message) => projector.send(message);
      await producer.next('ready');
    }
    const cpuNow = async () => {
      let producer = 0;
      for (const child of producers) producer += await cpuMsOfPid(child.pid);
      return {
        producer,
        projector: await cpuMsOfPid(projector.pid),
        broker: brokerPid === undefined ? undefined : await cpuMsOfPid(brokerPid),
      };
    };
    const cpuAtStart = await cpuNow();
    for (const [index, plan] of plans.entries()) {
      const before = await cpuNow();
      const active = producers.slice(0, plan.producers);
      active.forEach((producer, i) => producer.send({ type: 'phase', index, plan, producer: i }));
      const appended = await Promise.all(
        active.map(async (producer) => (await producer.next('appended')).appended),
      );
      projector.send({ type: 'drain', index, events: plan.events });
      const { drained } = await projector.next('drained');
      const after = await cpuNow();
      const per = (a: number | undefined, b: number | undefined) =>
        a === undefined || b === undefined ? undefined : ((b - a) * 1000) / plan.events;
      phases.push({
        ...plan,
        ...drained,
        startedAt: Math.min(...appended.map((a) => a.startedAt)),
        endedAt: Math.max(...appended.map((a) => a.endedAt)),
        acksMs: appended.flatMap((a) => a.ackSamplesMs).sort((a, b) => a - b),
        cpu: {
          producer: per(before.producer, after.producer)!,
          projector: per(before.projector, after.projector)!,
          broker: per(before.broker, after.broker),
        },
      });
    }
    if (brokerPid !== undefined && cpuAtStart.broker !== undefined)
      brokerCpuMs = (await cpuMsOfPid(brokerPid)) - cpuAtStart.broker;
    for (const child of children) child.send({ type: 'finish' });
    producerTotals = await Promise.all(
      producers.map(async (producer) => (await producer.next('done')).totals),
    );
    projectorTotals = (await projector.next('done')).totals;
    await Promise.all(children.map((child) => child.exit()));
    if (broker) brokerPeakRssMiB = await peakRssOfPidFile(path.join(broker.dataDir, 'kafka.pid'));
  } finally {
    for (const child of children) child.kill();
    await broker?.destroy();
  }
  const totalEvents = plans.reduce((sum, plan) => sum + plan.events, 0);
  const perEvent = (ms: number | undefined) => (ms === undefined ? undefined : (ms * 1000) / totalEvents);
  const cpu = {
    producer: perEvent(producerTotals.reduce((sum, totals) => sum + totals.cpuMs, 0))!,
    projector: perEvent(projectorTotals.cpuMs)!,
    broker: perEvent(brokerCpuMs),
  };
  const rows: BenchResult['rows'] = [];
  const notes: string[] = [];
  for (const phase of phases) {
    const endToEndMs = phase.drainedAt - phase.startedAt;
    const perSecond = phase.events / (endToEndMs / 1000);
    rows.push({
      phase: phase.offeredPerS > 0 ? `${phase.phase} ${phase.offeredPerS / 1000}k/s` : phase.phase,
      producers: phase.producers,
      sessions: phase.sessions,
      'offered events/s': phase.offeredPerS === 0 ? 'max' : phase.offeredPerS,
      events: phase.events,
      'end-to-end s': (endToEndMs / 1000).toFixed(1),
      'end-to-end events/s': Math.round(perSecond),
      'append ack p50 ms': percentile(phase.acksMs, 50).toFixed(1),
      'append ack p99 ms': percentile(phase.acksMs, 99).toFixed(1),
      'queryable p50 ms': phase.queryableP50Ms.toFixed(0),
      'queryable p99 ms': phase.queryableP99Ms.toFixed(0),
      'queryable max ms': phase.queryableMaxMs.toFixed(0),
      samples: phase.samples,
      'in ClickHouse': phase.stored,
      'CPU µs/event producer / projector / broker': [
        phase.cpu.producer,
        phase.cpu.projector,
        phase.cpu.broker,
      ]
        .map((v) => (v === undefined ? '?' : v.toFixed(0)))
        .join(' / '),
    });
    const appendedPerS = phase.events / ((phase.endedAt - phase.startedAt) / 1000);
    if (phase.offeredPerS > 0) {
      const kept = appendedPerS >= 0.95 * phase.offeredPerS && phase.queryableP99Ms <= TARGET_P99_MS;
      notes.push(
        `${phase.phase} ${phase.offeredPerS.toLocaleString('en')}/s, ${phase.producers} producer(s): ${kept ? 'kept up' : 'did NOT keep up'} (appended at ${Math.round(appendedPerS).toLocaleString('en')}/s, ${Math.round(perSecond).toLocaleString('en')}/s end to end including the last event's way into ClickHouse); ` +
          `p99 event-to-queryable ${phase.queryableP99Ms.toFixed(0)} ms, target ≤ ${TARGET_P99_MS} ms: ${phase.queryableP99Ms <= TARGET_P99_MS ? 'met' : 'NOT met'}`,
      );
    } else {
      notes.push(
        `${phase.phase}, ${phase.producers} producer(s): ${Math.round(perSecond).toLocaleString('en')} events/s end to end, target ≥ ${TARGET_PER_S.toLocaleString('en')}/s: ${perSecond >= TARGET_PER_S ? 'met' : 'NOT met'} ` +
          `(appends alone: ${Math.round(appendedPerS).toLocaleString('en')}/s; its latency includes the backlog)`,
      );
    }
    if (phase.stored !== phase.events)
      notes.push(
        `${phase.phase}: ClickHouse holds ${phase.stored} distinct events of ${phase.events} appended!`,
      );
  }
  notes.push(
    `CPU per event over all phases: producers ${cpu.producer.toFixed(0)} µs (sealing + appends), projector ${cpu.projector.toFixed(0)} µs (consumer, decoding, chDB with its threads; ${projectorTotals.batches ?? '?'} batches)` +
      (cpu.broker === undefined ? '' : `, broker JVM ${cpu.broker.toFixed(0)} µs`) +
      `; total ${(cpu.producer + cpu.projector + (cpu.broker ?? 0)).toFixed(0)} µs on 2 cores`,
  );
  notes.push(
    `each producer (an ingress instance) and the projector are processes of their own, beside a single local broker (6 partitions, acks=-1)${brokerPeakRssMiB === undefined ? '' : ` whose JVM peaked at ${brokerPeakRssMiB.toFixed(0)} MiB RSS`}; peak RSS: producers ${producerTotals.map((t) => t.peakRssMiB.toFixed(0)).join(' / ')} MiB, projector ${projectorTotals.peakRssMiB.toFixed(0)} MiB (the figure above is the largest)`,
  );
  return {
    title:
      'Kafka end to end: ingress-style events → Kafka → projector → ClickHouse (chDB), events/s and event-to-queryable latency',
    rows,
    peakRssMiB: Math.max(...producerTotals.map((t) => t.peakRssMiB), projectorTotals.peakRssMiB),
    notes,
  };
};

async function pidOf(pidFile: string): Promise<string | undefined> {
  try {
    return (await readFile(pidFile, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** VmHWM (peak RSS) of the process named by a pid file, in MiB, when /proc tells. */
async function peakRssOfPidFile(pidFile: string): Promise<number | undefined> {
  try {
    const pid = await pidOf(pidFile);
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

/** Epoch ms with sub-ms resolution, comparable across the processes of one machine. */
const now = (): number => performance.timeOrigin + performance.now();
const say = (message: string): boolean => process.stdout.write(`progress ${message}\n`);

/** The Kafka log both children open: the parent's broker and topic, quiet client logging. */
function benchLogOptions(clientId: string): KafkaLogOptions {
  return {
    brokers: process.env.BENCH_BROKERS!.split(','),
    topic: process.env.BENCH_TOPIC!,
    partitions: 6,
    clientId,
    logger: { warn: () => undefined, error: () => undefined },
  };
}

/** A child whose parent went away (its IPC channel closed) exits instead of running on. */
function exitWithParent(): void {
  process.once('disconnect', () => process.exit(1));
}

/** The next message of `type` from the parent. */
function fromParent<T extends Message['type']>(type: T): Promise<Extract<Message, { type: T }>> {
  return new Promise((resolve) => {
    const listener = (message: Message) => {
      if (message.type !== type) return;
      process.off('message', listener);
      resolve(message as Extract<Message, { type: T }>);
    };
    process.on('message', listener);
  });
}

/** Sends to the parent; resolves once the message is handed to the channel. */
function toParent(message: Message): Promise<void> {
  return new Promise((resolve, reject) =>
    process.send!(message, undefined, {}, (error) => (error ? reject(error) : resolve())),
  );
}

/** CPU since `since` (taken when the child is ready, so start-up is not counted) and peak RSS. */
function totals(since: NodeJS.CpuUsage, extra: Partial<ChildTotals> = {}): ChildTotals {
  const cpu = process.cpuUsage(since);
  return {
    cpuMs: (cpu.user + cpu.system) / 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    ...extra,
  };
}

/** The ingress's side: seals events on per-session chains and appends them, one per `append`. */
async function producerChild(): Promise<void> {
  const [{ ChainRegistry, events, sha256Hex }, { openKafkaLog }] = await Promise.all([
    import('@gatehouse/events'),
    import('@gatehouse/eventlog'),
  ]);
  type GatehouseEvent = import('@gatehouse/events').GatehouseEvent;
  const log = await openKafkaLog(benchLogOptions('gatehouse-bench-producer'));
  const finished = fromParent('finish');
  const cpuAtReady = process.cpuUsage();
  await toParent({ type: 'ready' });
  const decision = {
    allowed: true,
    rule: 'allow agent:support-bot support__read_ticket',
    policy_version: 'd'.repeat(64),
  };
  try {
    for (;;) {
      const next = await Promise.race([fromParent('phase'), finished]);
      if (next.type === 'finish') break;
      const { index, producer } = next;
      // This producer's share: sessions, events and offered rate split evenly between the producers.
      const share = (total: number) =>
        Math.floor(total / next.plan.producers) + (producer < total % next.plan.producers ? 1 : 0);
      const plan = {
        ...next.plan,
        sessions: share(next.plan.sessions),
        events: share(next.plan.events),
        offeredPerS: next.plan.offeredPerS / next.plan.producers,
      };
      const chains = new ChainRegistry();
      const sampleEvery = Math.max(1, Math.floor(next.plan.events / 2_000));
      const acks: number[] = [];
      let samples: Sample[] = [];
      let k = 0;
      let acked = 0;
      /** Ingress-style: session.started, tools.listed, then call.attempted / call.completed pairs. */
      const nextEvent = (session: number, n: number): GatehouseEvent => {
        const ctx = {
          session_id: `bench-${index}-${producer}-${session}`,
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
        const args = { ticket_id: `T-${n}`, include_history: true };
        const call = {
          server: 'support',
          tool: 'support__read_ticket',
          request_id: String(seq >> 1),
          args,
          args_sha256: sha256Hex(`${n}`),
        };
        return chains.seal(
          seq % 2 === 0
            ? events.callAttempted(ctx, call, decision)
            : events.callCompleted(ctx, call, decision, {
                status: 'ok',
                latency_ms: 2.4,
                result_sha256: sha256Hex(`r${n}`),
                result_bytes: 812,
                error: null,
              }),
        );
      };
      say(
        `${plan.phase} (producer ${producer + 1} of ${plan.producers}): ${plan.events.toLocaleString('en')} events from ${plan.sessions} sessions, ${plan.offeredPerS > 0 ? `offered at ${plan.offeredPerS.toLocaleString('en')}/s` : 'as fast as possible'}`,
      );
      const flushSamples = () => {
        if (samples.length === 0) return;
        void toParent({ type: 'samples', index, samples });
        samples = [];
      };
      const started = performance.now();
      const startedAt = now();
      const pacer = plan.offeredPerS > 0 ? startPacer(plan.offeredPerS, started) : undefined;
      const session = async (s: number) => {
        for (;;) {
          const n = k++;
          if (n >= plan.events) return;
          if (pacer !== undefined) await pacer.ticket(n);
          const event = nextEvent(s, n);
          const before = performance.now();
          await log.append([event]);
          const ackAt = performance.now();
          acks.push(ackAt - before);
          acked++;
          if (n % sampleEvery === 0)
            samples.push([event.id, performance.timeOrigin + ackAt, Date.parse(event.ts)]);
        }
      };
      const ticker = setInterval(() => {
        flushSamples();
        say(
          `  ${plan.phase} +${((performance.now() - started) / 1000).toFixed(0)}s: producer ${producer + 1} appended ${acked.toLocaleString('en')}`,
        );
      }, 3_000);
      const relay = setInterval(flushSamples, 25);
      try {
        await Promise.all(Array.from({ length: plan.sessions }, (_, s) => session(s)));
      } finally {
        clearInterval(ticker);
        clearInterval(relay);
        pacer?.stop();
      }
      const endedAt = now();
      flushSamples();
      acks.sort((a, b) => a - b);
      await toParent({
        type: 'appended',
        index,
        appended: { startedAt, endedAt, ackSamplesMs: acks.filter((_, i) => i % 10 === 0) },
      });
    }
  } finally {
    await log.close().catch(() => undefined);
  }
  await toParent({ type: 'done', totals: totals(cpuAtReady) });
}

/**
 * Offers events at `perS`: the nth may go at `started + n / perS`. One timer every millisecond lets
 * the events whose time has come go, instead of a timer per event (20,000 a second at the target
 * rate, whose cost in the producer would be the load generator's, not the ingress's).
 */
function startPacer(perS: number, started: number): { ticket(n: number): Promise<void>; stop(): void } {
  // Tickets are asked for in the order of n (sessions take n from one counter, then wait at once).
  let waiting: Array<{ n: number; go: () => void }> = [];
  let next = 0;
  let due = 0;
  const release = () => {
    due = Math.floor(((performance.now() - started) * perS) / 1000);
    while (next < waiting.length && waiting[next]!.n <= due) waiting[next++]!.go();
    if (next > 4_096) {
      waiting = waiting.slice(next);
      next = 0;
    }
  };
  const timer = setInterval(release, 1);
  return {
    ticket: (n) => (n <= due ? Promise.resolve() : new Promise<void>((go) => void waiting.push({ n, go }))),
    stop: () => {
      clearInterval(timer);
      for (; next < waiting.length; next++) waiting[next]!.go();
    },
  };
}

/** The projector service's side: the real projector into chDB, and the visibility poller. */
async function projectorChild(): Promise<void> {
  const [{ openKafkaLog }, { openAuditStore }, { createProjector }, { pino }, clickhouse, chdb] =
    await Promise.all([
      import('@gatehouse/eventlog'),
      import('@gatehouse/store'),
      import('@gatehouse/projector'),
      import('pino'),
      import('@clickhouse/client'),
      import('chdb/connection'),
    ]);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-bench-kafka-e2e-'));
  const log = await openKafkaLog(benchLogOptions('gatehouse-bench-projector'));
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
  /**
   * Sampled events whose append was acknowledged and that no query returned yet, in sampling
   * (≈ ts) order: id → ack time and event ts (epoch ms; ts prunes the query by the (agent, ts, id) key).
   */
  const pending = new Map<string, { index: number; ackAt: number; tsMs: number }>();
  /** Phase index → event-to-queryable latencies (ms). */
  const queryable = new Map<number, number[]>();
  process.on('message', (message: Message) => {
    if (message.type !== 'samples') return;
    for (const [id, ackAt, tsMs] of message.samples) pending.set(id, { index: message.index, ackAt, tsMs });
  });
  let polling = true;
  const poller = (async () => {
    while (polling) {
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
      const at = now();
      for (const { id } of rows) {
        const sample = pending.get(id);
        if (sample === undefined) continue;
        const into = queryable.get(sample.index) ?? [];
        queryable.set(sample.index, into);
        into.push(at - sample.ackAt);
        pending.delete(id);
      }
    }
  })();
  let projected = 0;
  const ticker = setInterval(() => {
    const stats = projector.stats();
    say(
      `  projected ${(stats.events - projected).toLocaleString('en')} of this phase (lag ${String(stats.lag)}), ${pending.size} samples not yet queryable`,
    );
  }, 3_000);
  try {
    await projector.start();
    const finished = fromParent('finish');
    const cpuAtReady = process.cpuUsage();
    await toParent({ type: 'ready' });
    for (;;) {
      const next = await Promise.race([fromParent('drain'), finished]);
      if (next.type === 'finish') break;
      await projector.drain(600_000);
      const drainedAt = now();
      projected = projector.stats().events;
      // Every sample is in ClickHouse now; the poller needs at most a round or two to see them.
      for (let waited = 0; pending.size > 0 && waited < 30_000; waited += 50)
        await new Promise((resolve) => setTimeout(resolve, 50));
      const [stored] = await (
        await raw.query({
          query: `SELECT count() AS n FROM ${store.database}.events FINAL WHERE startsWith(session_id, 'bench-${next.index}-')`,
          format: 'JSONEachRow',
        })
      ).json<{ n: string | number }>();
      const latencies = (queryable.get(next.index) ?? []).sort((a, b) => a - b);
      await toParent({
        type: 'drained',
        index: next.index,
        drained: {
          drainedAt,
          queryableP50Ms: percentile(latencies, 50),
          queryableP99Ms: percentile(latencies, 99),
          queryableMaxMs: latencies.at(-1) ?? 0,
          samples: latencies.length,
          stored: Number(stored?.n ?? 0),
        },
      });
    }
    const batches = projector.stats().batches;
    await projector.stop();
    await toParent({ type: 'done', totals: totals(cpuAtReady, { batches }) });
  } finally {
    clearInterval(ticker);
    polling = false;
    await poller.catch(() => undefined);
    await projector.stop().catch(() => undefined);
    await raw.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    await log.close().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

runIfChild('KAFKA_E2E_PRODUCER', here, 'kafka end-to-end producer', async () => {
  exitWithParent();
  await producerChild();
});
runIfChild('KAFKA_E2E_PROJECTOR', here, 'kafka end-to-end projector', async () => {
  exitWithParent();
  await projectorChild();
});
