import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import {
  kafkaTopicLayoutFromEnv,
  openEmbeddedLog,
  openKafkaLog,
  parseKafkaBrokers,
  type EventLog,
} from '@gatehouse/eventlog';
import { loadPolicy, policyFromPublished, type PolicyConfigInput } from '@gatehouse/policy';
import { openAuditStore, type AuditStore } from '@gatehouse/store';
import { loadCheckpointKey } from './checkpoint-key.js';
import { startCheckpointer, storeHeadsSince, type Checkpointer } from './checkpointer.js';
import { createQueryApi, DEFAULT_QUERY_PORT, type QueryApi } from './create-query-api.js';
import { QueryApiError } from './errors.js';

/** Options of {@link runQueryApi}: the parts of `gatehouse.yaml` it needs, already read by the CLI. */
export interface RunQueryApiOptions {
  /** Issuer of access tokens (`gateway.issuer`). */
  issuer: string;
  /** This API's resource URI (`query.resource`, default `http://localhost:7421`): the required `aud`. */
  resource: string;
  /** `query.requiredScopes`, default `['audit:read']`. */
  requiredScopes?: readonly string[];
  /** `gateway.algorithms`. */
  algorithms?: readonly string[];
  /** `gateway.selfActingAgents`: what-if decides as the ingress does (unset: every agent). */
  selfActingAgents?: readonly string[];
  /** The `policy:` section: the policy `what-if?policy=current` uses. */
  policy: PolicyConfigInput;
  /** Where the policy came from, e.g. the config file path. */
  policySource?: string;
  /**
   * Publish signed checkpoints from this process every so many ms (`audit.checkpointIntervalMs`),
   * over the heads ClickHouse holds of the sessions with events in the last hour that moved since
   * they were signed (`storeHeadsSince`). Leave unset when another process runs the checkpointer.
   */
  checkpointIntervalMs?: number;
  /** Environment to read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  logger?: FastifyBaseLogger;
  /** Close on SIGINT/SIGTERM. Default true. */
  handleSignals?: boolean;
}

/** A running standalone query API. */
export interface RunningQueryApi {
  readonly api: QueryApi;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The query API's process entry for scale-out runs (`gatehouse start` composes `createQueryApi`
 * directly in embedded mode, sharing the one chDB connection and log). Reads:
 *
 * - `GATEHOUSE_QUERY_PORT` (default 7421), `GATEHOUSE_HOST` (default `127.0.0.1`);
 * - `GATEHOUSE_DATA_DIR` (default `./data`): chDB under `<dir>/clickhouse` when `CLICKHOUSE_URL` is
 *   unset, the embedded log under `<dir>/log` when `KAFKA_BROKERS` is unset, the checkpoint key
 *   under `<dir>/checkpoint/key.json` (or `GATEHOUSE_CHECKPOINT_KEY`: a private JWK or PEM);
 * - `KAFKA_BROKERS`, `GATEHOUSE_KAFKA_TOPIC` (default gatehouse.audit), `GATEHOUSE_KAFKA_PARTITIONS`
 *   and `GATEHOUSE_KAFKA_REPLICATION_FACTOR` (for a topic this service creates), `CLICKHOUSE_URL`;
 * - `GATEHOUSE_QUERY_MAX_THREADS` (default 2): `max_threads` of every query.
 *
 * The embedded log and chDB each allow one process: run this standalone only in scale-out, or
 * while the embedded stack is stopped.
 */
export async function runQueryApi(options: RunQueryApiOptions): Promise<RunningQueryApi> {
  const env = options.env ?? process.env;
  const port = integerEnv(env, 'GATEHOUSE_QUERY_PORT', DEFAULT_QUERY_PORT, 0, 65_535);
  const maxThreads = integerEnv(env, 'GATEHOUSE_QUERY_MAX_THREADS', 2, 1, 1024);
  const host = env.GATEHOUSE_HOST || '127.0.0.1';
  const dataDir = path.resolve(env.GATEHOUSE_DATA_DIR || './data');
  const policy = await loadPolicy(options.policy, { source: options.policySource ?? 'gatehouse.yaml' });
  const key = await loadCheckpointKey({
    dataDir,
    ...(env.GATEHOUSE_CHECKPOINT_KEY ? { key: env.GATEHOUSE_CHECKPOINT_KEY } : {}),
  });

  let store: AuditStore | undefined;
  let log: EventLog | undefined;
  let checkpointer: Checkpointer | undefined;
  let api: QueryApi | undefined;
  try {
    store = await openAuditStore({
      dataDir,
      maxThreads,
      ...(env.CLICKHOUSE_URL ? { url: env.CLICKHOUSE_URL } : {}),
    });
    log = env.KAFKA_BROKERS
      ? await openKafkaLog({
          brokers: parseKafkaBrokers(env.KAFKA_BROKERS),
          ...(env.GATEHOUSE_KAFKA_TOPIC ? { topic: env.GATEHOUSE_KAFKA_TOPIC } : {}),
          ...kafkaTopicLayoutFromEnv(env),
        })
      : await openEmbeddedLog({ dir: path.join(dataDir, 'log') });
    api = await createQueryApi({
      store,
      log,
      policy,
      compilePolicy: (data) => policyFromPublished(data),
      auth: {
        issuer: options.issuer,
        audience: options.resource,
        requiredScopes: options.requiredScopes ?? ['audit:read'],
        ...(options.algorithms === undefined ? {} : { algorithms: options.algorithms }),
      },
      checkpointKeys: new Map([[key.kid, key.publicKey]]),
      ...(options.selfActingAgents === undefined ? {} : { selfActingAgents: options.selfActingAgents }),
      maxThreads,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    const url = await api.listen({ port, host });
    // Only once it serves: a start that fails publishes no checkpoint.
    const intervalMs = options.checkpointIntervalMs;
    if (intervalMs !== undefined) {
      const heads = store;
      checkpointer = startCheckpointer({
        log,
        // The sessions with events in the last hour (a late projection included), not every
        // session ever: a head that did not move is not signed again.
        heads: () => heads.latestHeads({ since: storeHeadsSince(Date.now(), intervalMs) }),
        key,
        intervalMs,
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      });
    }
    const openApi = api;
    const openStore = store;
    const openLog = log;
    const close = async () => {
      await checkpointer?.stop();
      await openApi.close();
      await openLog.close();
      await openStore.close();
    };
    if (options.handleSignals ?? true) {
      const stop = () => void close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }
    return { api: openApi, url, close };
  } catch (error) {
    await checkpointer?.stop().catch(() => undefined);
    await api?.close().catch(() => undefined);
    await log?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    throw error;
  }
}

function integerEnv(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new QueryApiError('GH_ERR_QUERY_CONFIG', `${name} must be an integer ${min}..${max}, got "${raw}"`);
  }
  return value;
}
