import path from 'node:path';
import {
  kafkaTopicLayoutFromEnv,
  logLevelFromEnv,
  spoolMaxBytesFromEnv,
  type LogLevel,
} from '@gatehouse/eventlog';
import { CliError } from './errors.js';

/**
 * Process settings from the environment (the contract table of DESIGN.md). Defaults live here and
 * nowhere else.
 */
export interface Settings {
  /** `GATEHOUSE_CONFIG`, default `examples/support-desk/gatehouse.yaml` (relative to the cwd). */
  configPath: string;
  /** `GATEHOUSE_DATA_DIR`, default `./data`. */
  dataDir: string;
  /** `GATEHOUSE_INGRESS_PORT`, default 7420. */
  ingressPort: number;
  /** `GATEHOUSE_QUERY_PORT`, default 7421. */
  queryPort: number;
  /** `GATEHOUSE_AUTH_PORT`, default 7422; must be the port of `authserver.issuer` (checked at start). */
  authPort: number;
  /**
   * `GATEHOUSE_HOST`, default 127.0.0.1: the interface the gateway and the query API bind. The
   * development authserver ignores it and always binds 127.0.0.1 (its login takes no password).
   */
  host: string;
  /** `KAFKA_BROKERS` (comma-separated host:port); unset → the embedded segment log. */
  kafkaBrokers: string[] | undefined;
  /** `GATEHOUSE_KAFKA_TOPIC`, default `gatehouse.audit`: the audit topic in Kafka mode. */
  kafkaTopic: string;
  /**
   * `GATEHOUSE_KAFKA_PARTITIONS`, `GATEHOUSE_KAFKA_REPLICATION_FACTOR`: how the topic is created when
   * it does not exist yet (default 6 and 1).
   */
  kafkaTopicLayout: { partitions?: number; replicationFactor?: number };
  /** `CLICKHOUSE_URL`; unset → chDB in-process under `<dataDir>/clickhouse`. */
  clickhouseUrl: string | undefined;
  /** `GATEHOUSE_SPOOL_MAX_BYTES`: bound on the outcome spool file; undefined → 1 GiB. */
  spoolMaxBytes: number | undefined;
  /** `LOG_LEVEL`, a pino level; undefined → each command's default. */
  logLevel: LogLevel | undefined;
}

export const DEFAULT_CONFIG_PATH = 'examples/support-desk/gatehouse.yaml';

function port(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > 65535) {
    throw new CliError('GH_ERR_CONFIG_ENV', `${name}: "${raw}" is not a TCP port (${min}-65535)`);
  }
  return value;
}

/** Reads and validates the settings; throws `CliError` naming the variable at fault. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const brokers = env.KAFKA_BROKERS?.split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (brokers?.some((b) => !/^[^\s:]+:\d+$/.test(b))) {
    throw new CliError(
      'GH_ERR_CONFIG_ENV',
      `KAFKA_BROKERS: "${env.KAFKA_BROKERS}" must be host:port[,host:port…]`,
    );
  }
  const clickhouseUrl = env.CLICKHOUSE_URL || undefined;
  if (clickhouseUrl !== undefined && !URL.canParse(clickhouseUrl)) {
    throw new CliError('GH_ERR_CONFIG_ENV', `CLICKHOUSE_URL: "${clickhouseUrl}" is not a URL`);
  }
  return {
    configPath: path.resolve(env.GATEHOUSE_CONFIG || DEFAULT_CONFIG_PATH),
    dataDir: path.resolve(env.GATEHOUSE_DATA_DIR || './data'),
    ingressPort: port(env, 'GATEHOUSE_INGRESS_PORT', 7420),
    queryPort: port(env, 'GATEHOUSE_QUERY_PORT', 7421),
    // Not 0: the issuer (and so every token's `iss`, which the gateway checks) names a fixed port.
    authPort: port(env, 'GATEHOUSE_AUTH_PORT', 7422, 1),
    host: env.GATEHOUSE_HOST || '127.0.0.1',
    kafkaBrokers: brokers && brokers.length > 0 ? brokers : undefined,
    kafkaTopic: env.GATEHOUSE_KAFKA_TOPIC || 'gatehouse.audit',
    kafkaTopicLayout: kafkaTopicLayoutFromEnv(env),
    clickhouseUrl,
    spoolMaxBytes: spoolMaxBytesFromEnv(env),
    logLevel: logLevelFromEnv(env),
  };
}
