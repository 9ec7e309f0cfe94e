/**
 * Embedded log: durable appends. N concurrent appenders (1, 16, 256) each append one sealed
 * `call.attempted` event at a time and wait for it to be fsync'd before the next, as ingress
 * sessions do; then one appender paced at 200 appends/s, as a gateway's durable `call.attempted`
 * at 200 calls/s (a quiet log: each commit inline, on a CPU that was idle in between). Reports
 * appends/s (wall clock over all appenders), p50/p90/p99 latency of one append (call to resolve,
 * so it includes waiting for the group commit in flight), and peak RSS.
 *
 * Every load runs twice, side by side: with the default preallocation (4 MiB of zero-filled,
 * fsync'd space ahead of the data, `EmbeddedLogOptions.preallocateBytes`) and without it; the
 * paced appender writes to both logs by turns.
 *
 * Events are built with `events.callAttempted` and sealed with a `ChainRegistry` before timing
 * starts (a pool of at most 50,000, reused round-robin for longer runs); the log still validates,
 * encodes, frames and checksums every append.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ChainRegistry, events, sha256Hex, type GatehouseEvent } from '@gatehouse/events';
import { DEFAULT_PREALLOCATE_BYTES, openEmbeddedLog } from '@gatehouse/eventlog';
import type { Bench, BenchResult } from './bench-types.js';

const TARGET_AT_256 = 50_000;
const POOL_MAX = 50_000;

function buildPool(count: number, sessions: number): GatehouseEvent[] {
  const registry = new ChainRegistry();
  const pool: GatehouseEvent[] = [];
  for (let i = 0; i < count; i++) {
    const args = {
      ticket_id: `T-${10_000 + i}`,
      include_history: i % 3 === 0,
      reason: 'customer asked for an update',
    };
    pool.push(
      registry.seal(
        events.callAttempted(
          {
            session_id: `bench-session-${i % sessions}`,
            agent: 'support-bot',
            user: 'alice',
            scopes: ['tools:call', 'tickets:read'],
            client_ip: '10.1.2.3',
            user_agent: 'claude-code/2.1 (bench)',
          },
          {
            server: 'support',
            tool: 'support__read_ticket',
            request_id: String(i),
            args,
            args_sha256: sha256Hex(JSON.stringify(args)),
          },
          {
            allowed: true,
            rule: 'allow agent:support-bot support__read_ticket',
            policy_version: 'c'.repeat(64),
          },
        ),
      ),
    );
  }
  return pool;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One load: `appenders` in parallel, `total` appends in all. */
interface Load {
  appenders: number;
  total: number;
}

function latencyFigures(latencies: Float64Array): Record<string, number> {
  latencies.sort();
  return {
    'p50 ms': Number(percentile(latencies, 50).toFixed(3)),
    'p90 ms': Number(percentile(latencies, 90).toFixed(3)),
    'p99 ms': Number(percentile(latencies, 99).toFixed(3)),
  };
}

const preallocationName = (bytes: number): string => (bytes === 0 ? 'off' : `${bytes / 2 ** 20} MiB`);

/**
 * One appender at `rate` appends/s on each of two logs, with and without preallocation, taking
 * turns append by append, so that the machine's drift from minute to minute falls on both alike.
 */
async function runPacedPair(
  rate: number,
  total: number,
  pool: readonly GatehouseEvent[],
): Promise<Record<string, string | number>[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-bench-eventlog-'));
  const sides = [DEFAULT_PREALLOCATE_BYTES, 0].map((preallocateBytes) => ({
    preallocateBytes,
    latencies: new Float64Array(total),
  }));
  const logs = await Promise.all(
    sides.map((side) =>
      openEmbeddedLog({
        dir: path.join(dir, preallocationName(side.preallocateBytes)),
        preallocateBytes: side.preallocateBytes,
      }),
    ),
  );
  const paceMs = 1000 / rate / sides.length;
  const started = performance.now();
  try {
    for (let index = 0; index < total * sides.length; index++) {
      const wait = started + index * paceMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      // Alternate which log goes first in each pair.
      const which = (index + Math.floor(index / sides.length)) % sides.length;
      const t0 = performance.now();
      await logs[which]!.append([pool[index % pool.length]!]);
      sides[which]!.latencies[Math.floor(index / sides.length)] = performance.now() - t0;
    }
  } finally {
    await Promise.all(logs.map((log) => log.close()));
    await rm(dir, { recursive: true, force: true });
  }
  return sides.map((side) => ({
    appenders: `1, paced ${rate}/s`,
    preallocation: preallocationName(side.preallocateBytes),
    appends: total,
    'appends/s': rate,
    ...latencyFigures(side.latencies),
  }));
}

async function runOne(
  load: Load,
  preallocateBytes: number,
  pool: readonly GatehouseEvent[],
): Promise<Record<string, string | number>> {
  const { appenders, total } = load;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-bench-eventlog-'));
  const log = await openEmbeddedLog({ dir, preallocateBytes });
  const latencies = new Float64Array(total);
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: appenders }, async () => {
      for (;;) {
        const index = issued++;
        if (index >= total) return;
        const event = pool[index % pool.length]!;
        const t0 = performance.now();
        await log.append([event]);
        latencies[index] = performance.now() - t0;
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  await log.close();
  await rm(dir, { recursive: true, force: true });
  return {
    appenders,
    preallocation: preallocationName(preallocateBytes),
    appends: total,
    'appends/s': Math.round(total / (elapsedMs / 1000)),
    ...latencyFigures(latencies),
  };
}

export const run: Bench = async ({ quick, progress }): Promise<BenchResult> => {
  const plan: Load[] = quick
    ? [
        { appenders: 1, total: 300 },
        { appenders: 16, total: 3_000 },
        { appenders: 256, total: 20_000 },
      ]
    : [
        { appenders: 1, total: 3_000 },
        { appenders: 16, total: 30_000 },
        { appenders: 256, total: 200_000 },
      ];
  const paced = quick ? 400 : 4_000;
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
  try {
    const poolSize = Math.min(POOL_MAX, Math.max(...plan.map((load) => load.total)));
    progress(`building ${poolSize} sealed call.attempted events`);
    const pool = buildPool(poolSize, 256);
    const rows: Record<string, string | number>[] = [];
    for (const load of plan) {
      // Side by side, the order swapped from one load to the next.
      const sides =
        plan.indexOf(load) % 2 === 0 ? [DEFAULT_PREALLOCATE_BYTES, 0] : [0, DEFAULT_PREALLOCATE_BYTES];
      for (const preallocateBytes of sides) {
        progress(
          `${load.appenders} appender(s), ${load.total} appends, preallocation ${preallocationName(preallocateBytes)}`,
        );
        rows.push(await runOne(load, preallocateBytes, pool));
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
      }
    }
    progress(
      `1 appender at 200/s on two logs taking turns, ${paced} appends each, preallocation 4 MiB / off`,
    );
    rows.push(...(await runPacedPair(200, paced, pool)));
    const at256 = Math.min(
      ...rows
        .filter((row) => row.appenders === 256 && row.preallocation !== 'off')
        .map((row) => Number(row['appends/s'])),
    );
    return {
      title: 'Embedded log: durable appends (fdatasync group commit, one event per append)',
      rows,
      peakRssMiB: peakRss / 2 ** 20,
      notes: [
        `target ≥ ${TARGET_AT_256.toLocaleString('en-US')}/s at 256 appenders (default options): ${at256 >= TARGET_AT_256 ? 'met' : 'NOT met'} (${at256.toLocaleString('en-US')}/s)`,
        'preallocation: commits overwrite zero-filled, fsync’d space instead of growing the file, so an fdatasync need not commit a new file size to the journal',
        'each append resolves only after the fdatasync covering it; appends in flight together share one write+fdatasync',
        'validateOnAppend on (schema check per event); events pre-built and sealed, reused round-robin past 50,000',
        ...(quick ? ['quick run: small workloads, figures indicative only'] : []),
      ],
    };
  } finally {
    clearInterval(sampler);
  }
};
