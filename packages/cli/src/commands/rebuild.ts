import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { LogError, openEmbeddedLog, type EmbeddedEventLog, type KafkaEventLog } from '@gatehouse/eventlog';
import { CliError } from '../errors.js';
import { readSettings, type Settings } from '../settings.js';

/**
 * Consumer group of the rebuild (`rebuild.<topic>` for a non-default Kafka topic). Its committed
 * position exists only while a rebuild is unfinished: that is what makes an interrupted rebuild
 * resumable, and a finished one deletes it.
 */
export const REBUILD_GROUP = 'rebuild';

/**
 * `gatehouse rebuild`: re-projects ClickHouse from the event log, from the earliest offset. The
 * projection is disposable — the log is the record. Resumable: while it runs, the `rebuild`
 * consumer group commits its position, so an interrupted rebuild continues where it stopped
 * (`--fresh` starts over anyway); a rebuild that reached the end of the log deletes that position,
 * so the next one starts from the earliest offset again (ClickHouse may have been lost meanwhile).
 * Each run inserts under dedup tokens of its own (an earlier run's tokens would make ClickHouse drop
 * the batches as repeats and leave lost rows unrepaired); every read deduplicates on event id, so
 * a batch inserted twice is never counted twice, and copies collapse on merge. In embedded mode the stack must be stopped (one process
 * owns the log and the chDB directory), and the log must exist under `GATEHOUSE_DATA_DIR`.
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
  // The projector and the store (chDB) are loaded by the command that uses them, not with the CLI.
  const [{ createProjector, DEAD_LETTER_FILE_NAME, projectorGroup }, { openAuditStore }] = await Promise.all([
    import('@gatehouse/projector'),
    import('@gatehouse/store'),
  ]);
  const log = await openRebuildLog(settings);
  const group = projectorGroup(settings.kafkaBrokers ? settings.kafkaTopic : undefined, REBUILD_GROUP);
  try {
    // --fresh: no position at all, rather than one the consumer seeks away from. A Kafka group's
    // lag is counted from its committed offsets, so an old position at the end of the log would
    // read as "nothing left" before anything was re-read, and the rebuild would end at once.
    if (options.fresh)
      await forgetPosition(
        log,
        group,
        (problem) => `--fresh: ${problem}; nothing was rebuilt, the earlier position stands`,
      );
    const store = await openAuditStore({
      dataDir: settings.dataDir,
      ...(settings.clickhouseUrl ? { url: settings.clickhouseUrl } : {}),
    });
    try {
      const projector = createProjector({
        log,
        store,
        group,
        fromBeginning: options.fresh,
        // A token of this run's own: ClickHouse drops an insert whose token it saw among its last
        // 10,000 blocks, so the batches of an earlier rebuild's tokens would not put back rows
        // lost since (reads deduplicate by event id, so the copies this makes are never counted).
        insertTokenPrefix: `rebuild-${started.toString(36)}`,
        // Records that can never be projected are set aside, as the running projector does, in a file of
        // its own: in Kafka mode a rebuild may run beside the live projector, which appends to its file.
        deadLetterFile: path.join(settings.dataDir, 'projector', `rebuild-${DEAD_LETTER_FILE_NAME}`),
        maxBatchEvents: 20_000,
        maxBatchWaitMs: 50,
        // Logs go to stderr: stdout carries the answer (`--json`).
        logger: pino({ level: settings.logLevel ?? 'warn' }, pino.destination(2)),
      });
      await projector.start();
      const timer = setInterval(() => {
        const stats = projector.stats();
        options.onProgress?.({ done: stats.events, remaining: stats.lag, elapsedMs: Date.now() - started });
      }, 250);
      try {
        // To where the log ended as the rebuild began: in Kafka mode the gateway may go on
        // appending, and what it appends meanwhile is the live projector's to project.
        await projector.drain(24 * 3600_000, { upToNow: true });
      } finally {
        clearInterval(timer);
        await projector.stop();
      }
      const stats = projector.stats();
      await forgetPosition(
        log,
        group,
        (problem) =>
          `rebuilt ${stats.events.toLocaleString('en')} events, but ${problem}: a plain \`gatehouse rebuild\` would continue from the end of the log; use --fresh next time`,
      );
      options.onProgress?.({ done: stats.events, remaining: 0, elapsedMs: Date.now() - started });
      return { events: stats.events, rows: await store.countEvents(), ms: Date.now() - started };
    } finally {
      await store.close();
    }
  } finally {
    await log.close();
  }
}

async function openRebuildLog(settings: Settings): Promise<EmbeddedEventLog | KafkaEventLog> {
  if (settings.kafkaBrokers) {
    const { openKafkaLog } = await import('@gatehouse/eventlog');
    return openKafkaLog({
      brokers: settings.kafkaBrokers,
      topic: settings.kafkaTopic,
      clientId: 'gatehouse-rebuild',
    });
  }
  const dir = path.join(settings.dataDir, 'log');
  await assertEmbeddedLogExists(dir, settings.dataDir);
  return openEmbeddedLog({ dir });
}

/**
 * Refuses a data dir without an event log before anything is opened: opening would create an
 * empty log (and ClickHouse directory) and "rebuild" nothing from it, which hides a mistyped
 * `GATEHOUSE_DATA_DIR`.
 */
async function assertEmbeddedLogExists(logDir: string, dataDir: string): Promise<void> {
  const hint = `GATEHOUSE_DATA_DIR (${dataDir}) must be the data directory of the stack whose log to rebuild from; nothing was created`;
  let names: string[];
  try {
    names = await readdir(logDir);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT'
        ? 'the directory does not exist'
        : code === 'ENOTDIR'
          ? 'it is not a directory'
          : `cannot list it (${(cause as Error).message})`;
    throw new CliError(
      'GH_ERR_CONFIG_ENV',
      `GATEHOUSE_DATA_DIR: no event log at ${logDir}: ${problem}. ${hint}`,
      cause,
    );
  }
  if (!names.some((name) => name.endsWith('.seg'))) {
    throw new CliError(
      'GH_ERR_CONFIG_ENV',
      `GATEHOUSE_DATA_DIR: no event log at ${logDir}: it holds no log segments (*.seg). ${hint}`,
    );
  }
}

/**
 * Deletes the rebuild group's position: before a `--fresh` run, and once a rebuild reached the end
 * of the log, so that the next plain `gatehouse rebuild` starts from the earliest offset rather than
 * from there. `failure` words the error for its caller from what went wrong.
 */
async function forgetPosition(
  log: EmbeddedEventLog | KafkaEventLog,
  group: string,
  failure: (problem: string) => string,
): Promise<void> {
  try {
    await (await log.openConsumer(group)).closeAndForget();
  } catch (cause) {
    throw new LogError(
      'GH_ERR_LOG_CHECKPOINT',
      failure(`could not delete the position of consumer group ${group} (${(cause as Error).message})`),
      { cause },
    );
  }
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
