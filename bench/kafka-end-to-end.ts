/**
 * Kafka log end to end: 16 concurrent appenders write events (durable appends, acks=-1) while one
 * consumer-group member reads them with `next` and commits each batch. Measures delivered events
 * per second and the append-to-delivery latency (from just before `append` to the `next` that
 * returned the event). Uses KAFKA_BROKERS when set, else starts a local broker.
 */
import { ChainRegistry, events, sha256Hex, type GatehouseEvent } from '@gatehouse/events';
import { openKafkaLog } from '@gatehouse/eventlog';
import { startBroker, type StartedBroker } from '../test/support/kafka.js';
import type { Bench } from './bench-types.js';

const APPENDERS = 16;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const run: Bench = async ({ quick, progress }) => {
  const total = quick ? 5_000 : 50_000;
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
      topic: `gatehouse.bench-e2e.${Date.now()}`,
      partitions: 6,
      clientId: 'gatehouse-bench',
      logger: { warn: () => undefined, error: () => undefined },
    });
    try {
      progress(`sealing ${total} events`);
      const perAppender = Math.ceil(total / APPENDERS);
      const streams: GatehouseEvent[][] = Array.from({ length: APPENDERS }, (_, a) => {
        const registry = new ChainRegistry();
        const ctx = { session_id: `e2e-${a}`, agent: 'support-bot', user: 'alice', scopes: ['tools:call'] };
        const decision = { allowed: true, rule: 'allow', policy_version: 'd'.repeat(64) };
        return Array.from({ length: perAppender }, (_, i) => {
          const args = { ticket_id: `T-${i}` };
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
      });
      const sentAt = new Map<string, number>();
      const consumer = await log.openConsumer('bench-e2e', { fromBeginning: true });
      progress(`${APPENDERS} appenders, ${total} events, one consumer`);
      const started = performance.now();
      const appending = Promise.all(
        streams.map(async (stream) => {
          for (const event of stream) {
            sentAt.set(event.id, performance.now());
            await log.append([event]);
          }
        }),
      );
      const latencies: number[] = [];
      let received = 0;
      const expected = perAppender * APPENDERS;
      for (let idle = 0; received < expected && idle < 100;) {
        const batch = await consumer.next({ maxEvents: 1_000, maxWaitMs: 200 });
        if (batch.events.length === 0) {
          idle++;
          continue;
        }
        idle = 0;
        const now = performance.now();
        for (const event of batch.events) latencies.push(now - (sentAt.get(event.id) ?? now));
        received += batch.events.length;
        await consumer.commit(batch);
      }
      await appending;
      const seconds = (performance.now() - started) / 1000;
      const lag = await consumer.lag();
      await consumer.close();
      latencies.sort((x, y) => x - y);
      rows.push({
        appenders: APPENDERS,
        events: received,
        seconds: Number(seconds.toFixed(1)),
        'delivered/s': Math.round(received / seconds),
        'e2e p50 ms': Number(percentile(latencies, 50).toFixed(1)),
        'e2e p99 ms': Number(percentile(latencies, 99).toFixed(1)),
        'lag after': lag ?? 'n/a',
      });
    } finally {
      await log.close();
    }
  } finally {
    clearInterval(sampler);
    await broker?.destroy();
  }
  return {
    title: 'Kafka log end to end: durable append → consumer group next → commit',
    rows,
    peakRssMiB: peakRss / 2 ** 20,
    notes: [
      'single local broker sharing the 2 cores with appenders and consumer in this process; no ClickHouse (see projector-throughput)',
    ],
  };
};
