import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { openEmbeddedLog, type EventLog } from '@gatehouse/eventlog';
import { createProjector, projectorGroup } from '@gatehouse/projector';
import { openAuditStore } from '@gatehouse/store';
import { readSettings, type Settings } from '../settings.js';

/** Consumer group of the rebuild (`rebuild.<topic>` for a non-default Kafka topic): its committed position is what makes a rebuild resumable. */
export const REBUILD_GROUP = 'rebuild';

/**
 * `gatehouse rebuild`: re-projects ClickHouse from the event log, from the earliest offset. The
 * projection is disposable — the log is the record. Resumable: the `rebuild` consumer group keeps
 * its position, so an interrupted rebuild continues where it stopped (`--fresh` starts over);
 * batches carry deterministic dedup tokens and every read deduplicates on event id, so a batch
 * inserted twice is never counted twice. In embedded mode the stack must be stopped (one process
 * owns the log and the chDB directory).
 */
export function registerRebuildCommand(program: Command): void {
  program
    .command('rebuild')
    .description('re-project ClickHouse from the event log, from the earliest offset (resumable)')
    .option('--fresh', 'start from the earliest offset even if an earlier rebuild stopped part-way')
    .option('--json', 'print the final figures as JSON')
    .action(async (flags: { fresh?: boolean; json?: boolean }) => {
      const settings = readSettings();
      const result = await rebuild(settings, {
        fresh: flags.fresh === true,
        onProgress: flags.json ? undefined : drawProgress,
      });
      if (flags.json) console.log(JSON.stringify(result));
      else
        process.stderr.write(
          `\nrebuilt: ${result.events.toLocaleString('en')} events in ${(result.ms / 1000).toFixed(1)} s; ${result.rows.toLocaleString('en')} rows in ClickHouse\n`,
        );
    });
}

export interface RebuildProgress {
  done: number;
  remaining: number | undefined;
  elapsedMs: number;
}

/** Runs a rebuild to the end of the log as it is now; exported for tests. */
export async function rebuild(
  settings: Settings,
  options: { fresh: boolean; onProgress?: ((p: RebuildProgress) => void) | undefined },
): Promise<{ events: number; rows: number; ms: number }> {
  const started = Date.now();
  const log = await openRebuildLog(settings);
  try {
    const store = await openAuditStore({
      dataDir: settings.dataDir,
      ...(settings.clickhouseUrl ? { url: settings.clickhouseUrl } : {}),
    });
    try {
      const projector = createProjector({
        log,
        store,
        group: projectorGroup(settings.kafkaBrokers ? settings.kafkaTopic : undefined, REBUILD_GROUP),
        fromBeginning: options.fresh,
        maxBatchEvents: 20_000,
        maxBatchWaitMs: 50,
        logger: pino({ level: process.env.LOG_LEVEL ?? 'warn' }),
      });
      await projector.start();
      const timer = setInterval(() => {
        const stats = projector.stats();
        options.onProgress?.({ done: stats.events, remaining: stats.lag, elapsedMs: Date.now() - started });
      }, 250);
      try {
        await projector.drain(24 * 3600_000);
      } finally {
        clearInterval(timer);
        await projector.stop();
      }
      const stats = projector.stats();
      options.onProgress?.({ done: stats.events, remaining: 0, elapsedMs: Date.now() - started });
      return { events: stats.events, rows: await store.countEvents(), ms: Date.now() - started };
    } finally {
      await store.close();
    }
  } finally {
    await log.close();
  }
}

async function openRebuildLog(settings: Settings): Promise<EventLog> {
  if (settings.kafkaBrokers) {
    const { openKafkaLog } = await import('@gatehouse/eventlog');
    return openKafkaLog({
      brokers: settings.kafkaBrokers,
      topic: settings.kafkaTopic,
      clientId: 'gatehouse-rebuild',
    });
  }
  return openEmbeddedLog({ dir: path.join(settings.dataDir, 'log') });
}

function drawProgress(p: RebuildProgress): void {
  const total = p.remaining === undefined ? undefined : p.done + p.remaining;
  const rate = p.elapsedMs > 0 ? Math.round((p.done * 1000) / p.elapsedMs) : 0;
  const width = 30;
  const filled = total ? Math.round((p.done / Math.max(total, 1)) * width) : 0;
  const bar = total
    ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${((p.done / Math.max(total, 1)) * 100).toFixed(0).padStart(3)}% `
    : '';
  const counts = total
    ? `${p.done.toLocaleString('en')}/${total.toLocaleString('en')}`
    : p.done.toLocaleString('en');
  process.stderr.write(`\r${bar}${counts} events, ${rate.toLocaleString('en')} events/s   `);
}
