/**
 * Kafka event log: durable appends per second (each append = one event, resolved only after the
 * broker acknowledged it with acks=-1) with 1, 16 and 256 concurrent appenders, each its own
 * session. Uses KAFKA_BROKERS when set, else starts a single-node broker (infra/kafka/start.sh) in
 * a temp dir and stops it afterwards.
 */
import { ChainRegistry, events, sha256Hex, type GatehouseEvent } from '@gatehouse/events';
import { openKafkaLog } from '@gatehouse/eventlog';
import { startBroker, type StartedBroker } from '../test/support/kafka.js';
import type { Bench } from './bench-types.js';

const CONCURRENCY = [1, 16, 256] as const;

function sessionEvents(sessionId: string, count: number): GatehouseEvent[] {
  const registry = new ChainRegistry();
  const ctx = { session_id: sessionId, agent: 'support-bot', user: 'alice', scopes: ['tools:call'] };
  const decision = {
    allowed: true,
    rule: 'allow agent:support-bot support__read_ticket',
    policy_version: 'c'.repeat(64),
  };
  return Array.from({ length: count }, (_, i) => {
    const args = { ticket_id: `T-${i}`, include_history: true };
    return registry.seal(
      events.callAttempted(
        ctx,
        {
          server: 'support',
          tool: 'support__read_ticket',
          request_id: String(i),
          args,
          args_sha256: sha256Hex(JSON.stringify(args)),
        },
        decision,
      ),
    );
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const run: Bench = async ({ quick, progress }) => {
  const durationMs = quick ? 2_000 : 10_000;
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
  let broker: StartedBroker | undefined;
  const rows: Record<string, string | number>[] = [];
  try {
    let brokers = process.env.KAFKA_BROKERS;
    if (!brokers) {
      progress('starting a local Kafka broker (infra/kafka/start.sh)');
      broker = await startBroker();
      brokers = broker.brokers;
    }
    const log = await openKafkaLog({
      brokers: brokers.split(','),
      topic: `gatehouse.bench.${Date.now()}`,
      partitions: 6,
      clientId: 'gatehouse-bench',
      logger: { warn: () => undefined, error: () => undefined },
    });
    try {
      const perSession = 64;
      const pool = Array.from({ length: 256 }, (_, i) => sessionEvents(`bench-${i}`, perSession));
      await log.append([pool[0]![0]!]); // connect the producer before measuring
      for (const appenders of CONCURRENCY) {
        progress(`${appenders} concurrent appender(s) for ${durationMs / 1000}s`);
        const latencies: number[] = [];
        const started = performance.now();
        const deadline = started + durationMs;
        await Promise.all(
          Array.from({ length: appenders }, async (_, a) => {
            const own = pool[a % pool.length]!;
            for (let i = 0; performance.now() < deadline; i++) {
              const t0 = performance.now();
              await log.append([own[i % own.length]!]);
              latencies.push(performance.now() - t0);
            }
          }),
        );
        const seconds = (performance.now() - started) / 1000;
        latencies.sort((x, y) => x - y);
        rows.push({
          appenders,
          appends: latencies.length,
          seconds: Number(seconds.toFixed(1)),
          'appends/s': Math.round(latencies.length / seconds),
          'p50 ms': Number(percentile(latencies, 50).toFixed(2)),
          'p99 ms': Number(percentile(latencies, 99).toFixed(2)),
        });
      }
    } finally {
      await log.close();
    }
  } finally {
    clearInterval(sampler);
    await broker?.destroy();
  }
  return {
    title: 'Kafka log: durable appends (acks=-1, idempotent producer, one event per append)',
    rows,
    peakRssMiB: peakRss / 2 ** 20,
    notes: [
      'single local broker (replication factor 1) sharing the 2 cores with this process; concurrent appends are coalesced into one produce request while one is in flight',
      'peak RSS is the Node process only (the broker JVM runs with -Xmx512m)',
    ],
  };
};
