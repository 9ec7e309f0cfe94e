/**
 * `node --import tsx services/projector/src/main.ts`: the projector as its own process (scale-out,
 * or a rebuild of the store from the embedded log while the rest of the stack is stopped).
 *
 * Environment:
 *   GATEHOUSE_DATA_DIR   data dir (default ./data): embedded log in <dir>/log, chDB in
 *                        <dir>/clickhouse, pending-batch journal (embedded) and dead-letter file
 *                        (<dir>/projector/dead-letter.jsonl, both logs) in <dir>/projector/
 *   CLICKHOUSE_URL       ClickHouse over HTTP instead of chDB
 *   KAFKA_BROKERS        the Kafka log instead of the embedded one
 *   GATEHOUSE_KAFKA_TOPIC  its topic (default gatehouse.audit); consumer group `projector`, or
 *                        `projector.<topic>` for another topic (see `projectorGroup`)
 *   GATEHOUSE_KAFKA_PARTITIONS, GATEHOUSE_KAFKA_REPLICATION_FACTOR  how the topic is created if
 *                        this is the first service to open it (default 6 and 1)
 *   LOG_LEVEL            pino level (default info)
 *
 * Exits 0 on SIGINT/SIGTERM after the batch in flight, 1 if the projector fails (a supervisor
 * restarts it; nothing is lost, nothing is counted twice). A record it can never project (not a
 * valid event, or refused by the store for good) is set aside in the dead-letter file, logged at
 * error level with its partition and offset, and the projection goes on past it.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  DEFAULT_KAFKA_TOPIC,
  kafkaTopicLayoutFromEnv,
  logLevelFromEnv,
  openEmbeddedLog,
  openKafkaLog,
  type EventLog,
} from '@gatehouse/eventlog';
import { openAuditStore } from '@gatehouse/store';
import { pino, type Logger } from 'pino';
import { ProjectorError } from './errors.js';
import { DEAD_LETTER_FILE_NAME, createProjector, projectorGroup } from './projector.js';

/** The embedded log's directory under the data dir. */
export const EMBEDDED_LOG_SUBDIR = 'log';
/** The projector's own files (batch journal, dead-letter file) under the data dir. */
export const PROJECTOR_SUBDIR = 'projector';

async function openLog(
  env: NodeJS.ProcessEnv,
  dataDir: string,
  logger: Logger,
): Promise<{ log: EventLog; journalFile: string | undefined; group: string }> {
  if (env.KAFKA_BROKERS) {
    const brokers = env.KAFKA_BROKERS.split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    if (brokers.length === 0) {
      throw new ProjectorError(
        'GH_ERR_PROJECTOR_CONFIG',
        `KAFKA_BROKERS: "${env.KAFKA_BROKERS}" names no broker`,
      );
    }
    // Kafka batches come per partition with offsets of their own: no single-partition journal.
    const topic = env.GATEHOUSE_KAFKA_TOPIC || DEFAULT_KAFKA_TOPIC;
    const log = await openKafkaLog({
      brokers,
      topic,
      clientId: 'gatehouse-projector',
      ...kafkaTopicLayoutFromEnv(env),
    });
    return { log, journalFile: undefined, group: projectorGroup(topic) };
  }
  const log = await openEmbeddedLog({ dir: path.join(dataDir, EMBEDDED_LOG_SUBDIR), logger });
  return {
    log,
    journalFile: path.join(dataDir, PROJECTOR_SUBDIR, 'projector.pending.json'),
    group: projectorGroup(undefined),
  };
}

/** Runs the projector until a signal or a failure; resolves with the exit code. */
export async function runProjector(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const logger = pino({ name: 'projector', level: logLevelFromEnv(env) ?? 'info' });
  const dataDir = path.resolve(env.GATEHOUSE_DATA_DIR || './data');
  const { log, journalFile, group } = await openLog(env, dataDir, logger);
  const store = await openAuditStore({ dataDir, url: env.CLICKHOUSE_URL || undefined }).catch(
    async (error: unknown) => {
      await log.close();
      throw error;
    },
  );
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const projector = createProjector({
    log,
    store,
    logger,
    group,
    journalFile,
    deadLetterFile: path.join(dataDir, PROJECTOR_SUBDIR, DEAD_LETTER_FILE_NAME),
    onFailure: () => finish(1),
  });
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping');
    finish(0);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  await projector.start();
  const code = await finished;
  await projector.stop();
  await store.close();
  await log.close();
  return code;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runProjector().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(
        `gatehouse projector: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
