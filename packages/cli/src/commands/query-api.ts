import type { Command } from 'commander';
import { gatewayWithSelfActingAgents, loadConfig } from '../config.js';
import { listening } from '../listening.js';
import { readSettings } from '../settings.js';

/**
 * `gatehouse query-api`: the query API in a process of its own, for scale-out (`KAFKA_BROKERS`,
 * `CLICKHOUSE_URL`), with the config's `gateway`, `query`, `policy` and `audit` sections. It also
 * signs checkpoints every `audit.checkpointIntervalMs`, on a stream of its own, over the heads that
 * moved of the sessions with events in the last hour (`storeHeadsSince`). Logs (pino, `LOG_LEVEL`, default warn: the checkpoints it
 * could not publish) go to stderr. Runs until SIGINT/SIGTERM.
 */
export function registerQueryApiCommand(program: Command): void {
  program
    .command('query-api')
    .description(
      'run the query API alone (scale-out, with KAFKA_BROKERS and CLICKHOUSE_URL), signing checkpoints',
    )
    .action(async () => {
      const settings = readSettings();
      const config = await loadConfig(settings.configPath);
      const [{ runQueryApi }, { pino }] = await Promise.all([import('@gatehouse/query-api'), import('pino')]);
      const { selfActingAgents } = gatewayWithSelfActingAgents(config);
      const running = await listening(
        {
          what: 'query API',
          port: settings.queryPort,
          portFrom: 'GATEHOUSE_QUERY_PORT (and query.resource, on this machine)',
          host: settings.host,
          hostFrom: 'GATEHOUSE_HOST',
        },
        () =>
          runQueryApi({
            issuer: config.gateway.issuer,
            resource: config.query.resource,
            requiredScopes: config.query.requiredScopes,
            algorithms: config.gateway.algorithms,
            ...(selfActingAgents === undefined ? {} : { selfActingAgents }),
            policy: config.policy,
            policySource: settings.configPath,
            checkpointIntervalMs: config.audit.checkpointIntervalMs,
            logger: pino(
              { name: 'gatehouse-query-api', level: settings.logLevel ?? 'warn' },
              pino.destination(2),
            ),
          }),
      );
      console.error(`gatehouse: query API listening on ${running.url}`);
    });
}
