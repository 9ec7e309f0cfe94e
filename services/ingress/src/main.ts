/**
 * `node --import tsx services/ingress/src/main.ts`: the ingress as its own process (scale-out).
 * `gatehouse start` composes the same factory into the embedded stack instead.
 *
 * Environment:
 *   GATEHOUSE_CONFIG        gatehouse.yaml (default examples/support-desk/gatehouse.yaml); the
 *                           `gateway:`, `upstreams:`, `policy:` and `audit.redactKeys` sections are read
 *   GATEHOUSE_INGRESS_PORT  port (default 7420)
 *   GATEHOUSE_HOST          interface (default 127.0.0.1)
 *   KAFKA_BROKERS           Kafka event log (comma-separated host:port); otherwise the embedded log
 *   GATEHOUSE_KAFKA_TOPIC   its topic (default gatehouse.audit)
 *   GATEHOUSE_KAFKA_PARTITIONS, GATEHOUSE_KAFKA_REPLICATION_FACTOR
 *                           how the topic is created if this is the first service to open it
 *                           (default 6 and 1; an existing topic is left as it is)
 *                           under GATEHOUSE_DATA_DIR/log (default ./data/log) — one process only
 *   GATEHOUSE_DATA_DIR      also holds the outcome spool, <dir>/spool/<instance> (default ./data)
 *   GATEHOUSE_INSTANCE      this node's id: its spool directory, and (with the start time as run id)
 *                           its `policy:<id>:<run>`, `catalog:<server>:<id>:<run>` and
 *                           `perimeter:<id>:<run>` streams
 *                           (default `ingress`; set a distinct one per node sharing a data dir)
 *   GATEHOUSE_SPOOL_MAX_BYTES  bound on the outcome spool file (default 1 GiB, at least 1024)
 *   LOG_LEVEL               pino level (default info)
 *
 * Exits 0 on SIGINT/SIGTERM after ending every session; 1 if start-up fails (the message names
 * the config key, upstream or variable at fault).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createSpoolingLog,
  inlineCommitWhenQuietMsFromEnv,
  kafkaTopicLayoutFromEnv,
  logLevelFromEnv,
  openEmbeddedLog,
  openKafkaLog,
  parseKafkaBrokers,
  spoolMaxBytesFromEnv,
  type EventLog,
} from '@gatehouse/eventlog';
import { loadPolicy, type PolicyConfigInput } from '@gatehouse/policy';
import { pino, type Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { INGRESS_SPOOLABLE_TYPES } from './audit/audit-recorder.js';
import { parseIngressConfig } from './config.js';
import { createIngress } from './create-ingress.js';
import { IngressError } from './errors.js';

async function readConfig(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new IngressError(
      'GH_ERR_INGRESS_CONFIG',
      `GATEHOUSE_CONFIG: cannot read ${file} (${(cause as Error).message})`,
      { cause },
    );
  }
  try {
    const value: unknown = parseYaml(text);
    if (value === null || typeof value !== 'object') throw new TypeError('not a mapping');
    return value as Record<string, unknown>;
  } catch (cause) {
    throw new IngressError('GH_ERR_INGRESS_CONFIG', `${file}: not valid YAML (${(cause as Error).message})`, {
      cause,
    });
  }
}

function port(env: NodeJS.ProcessEnv): number {
  const raw = env.GATEHOUSE_INGRESS_PORT;
  if (raw === undefined || raw === '') return 7420;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    throw new IngressError(
      'GH_ERR_INGRESS_CONFIG',
      'GATEHOUSE_INGRESS_PORT: expected an integer port between 0 and 65535',
    );
  }
  return value;
}

/**
 * The event log, wrapped so outcomes the log refuses are spooled to local disk, never lost.
 * `close` closes the spool, then the log (the spooling wrapper leaves the log open).
 */
async function openLog(
  env: NodeJS.ProcessEnv,
  instanceId: string,
  logger: Logger,
): Promise<{ log: EventLog; close: () => Promise<void> }> {
  const dataDir = path.resolve(env.GATEHOUSE_DATA_DIR || './data');
  const maxSpoolBytes = spoolMaxBytesFromEnv(env);
  const inlineCommitWhenQuietMs = inlineCommitWhenQuietMsFromEnv(env);
  const log = env.KAFKA_BROKERS
    ? await openKafkaLog({
        brokers: parseKafkaBrokers(env.KAFKA_BROKERS),
        ...(env.GATEHOUSE_KAFKA_TOPIC ? { topic: env.GATEHOUSE_KAFKA_TOPIC } : {}),
        ...kafkaTopicLayoutFromEnv(env),
      })
    : await openEmbeddedLog({
        dir: path.join(dataDir, 'log'),
        ...(inlineCommitWhenQuietMs === undefined ? {} : { inlineCommitWhenQuietMs }),
      });
  try {
    const spooling = await createSpoolingLog({
      log,
      dir: path.join(dataDir, 'spool', instanceId),
      logger,
      spoolableTypes: INGRESS_SPOOLABLE_TYPES,
      ...(maxSpoolBytes === undefined ? {} : { maxSpoolBytes }),
    });
    return {
      log: spooling,
      close: async () => {
        await spooling.close();
        await log.close();
      },
    };
  } catch (error) {
    await log.close();
    throw error;
  }
}

/** Runs the ingress until a signal; resolves with the exit code. */
export async function runIngress(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const logger = pino({ name: 'gatehouse-ingress', level: logLevelFromEnv(env) ?? 'info' });
  const file = path.resolve(env.GATEHOUSE_CONFIG || 'examples/support-desk/gatehouse.yaml');
  const raw = await readConfig(file);
  const config = parseIngressConfig(raw, file);
  const policy = await loadPolicy(raw.policy as PolicyConfigInput, { source: file });
  const audit = raw.audit as { redactKeys?: unknown } | undefined;
  const redactKeys = Array.isArray(audit?.redactKeys)
    ? audit.redactKeys.filter((k): k is string => typeof k === 'string')
    : [];
  const listenPort = port(env);
  const instanceId = env.GATEHOUSE_INSTANCE || 'ingress';
  const { log, close: closeLog } = await openLog(env, instanceId, logger);
  let ingress;
  try {
    ingress = await createIngress({
      config,
      log,
      policy,
      logger,
      redactKeys,
      instanceId,
      // A node cannot read back the heads of its named streams from Kafka at start: each run
      // publishes and records refusals on chains of its own instead of forking the shared ones.
      runId: new Date().toISOString().replace(/[-:.]/g, ''),
    });
  } catch (error) {
    await closeLog();
    throw error;
  }
  const url = await ingress.listen(listenPort, env.GATEHOUSE_HOST || '127.0.0.1');
  logger.info(
    {
      url: `${url}${new URL(config.gateway.resource).pathname}`,
      policy_version: policy.version,
      log: log.kind,
    },
    'ingress listening',
  );

  // Listeners stay installed during shutdown: a second signal must not kill the process mid-close.
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.on('SIGINT', resolve);
    process.on('SIGTERM', resolve);
  });
  logger.info({ signal }, 'stopping');
  await ingress.close();
  await closeLog();
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runIngress().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`gatehouse ingress: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
