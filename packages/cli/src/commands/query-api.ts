import type { Command } from 'commander';
import { gatewayWithSelfActingAgents, loadConfig } from '../config.js';
import { readSettings } from '../settings.js';

/**
 * `gatehouse query-api`: the query API in a process of its own, for scale-out (`KAFKA_BROKERS`,
 * `CLICKHOUSE_URL`), with the config's `gateway`, `query`, `policy` and `audit` sections. It also
 * signs checkpoints every `audit.checkpointIntervalMs`, on a stream of its own, over the sessions
 * active since the interval before last. Runs until SIGINT/SIGTERM.
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
      const { runQueryApi } = await import('@gatehouse/query-api');
      const { selfActingAgents } = gatewayWithSelfActingAgents(config);
      const running = await runQueryApi({
        issuer: config.gateway.issuer,
        resource: config.query.resource,
        requiredScopes: config.query.requiredScopes,
        algorithms: config.gateway.algorithms,
        ...(selfActingAgents === undefined ? {} : { selfActingAgents }),
        policy: config.policy,
        policySource: settings.configPath,
        checkpointIntervalMs: config.audit.checkpointIntervalMs,
      });
      console.error(`gatehouse: query API listening on ${running.url}`);
    });
}
