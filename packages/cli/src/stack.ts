import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import {
  createAuthServer,
  LOOPBACK_BIND_ADDRESSES,
  LOOPBACK_HOSTNAMES,
  urlPort,
  type AuthServer,
} from '@gatehouse/authserver';
import { ChainRegistry } from '@gatehouse/events';
import {
  createSpoolingLog,
  inlineCommitWhenQuietMsFromEnv,
  openEmbeddedLog,
  type EventLog,
} from '@gatehouse/eventlog';
import { createIngress, INGRESS_SPOOLABLE_TYPES, type Ingress } from '@gatehouse/ingress';
import { loadPolicy, policyFromPublished } from '@gatehouse/policy';
import { createProjector, DEAD_LETTER_FILE_NAME, projectorGroup } from '@gatehouse/projector';
import {
  createQueryApi,
  loadCheckpointKey,
  startCheckpointer,
  storeHeadsSince,
  type Checkpointer,
  type QueryApi,
} from '@gatehouse/query-api';
import { openAuditStore, type AuditStore } from '@gatehouse/store';
import { gatewayWithSelfActingAgents, type GatehouseConfig } from './config.js';
import { superviseProjector, type SupervisedProjector } from './projector-supervisor.js';
import { CliError } from './errors.js';
import { listening } from './listening.js';
import type { Settings } from './settings.js';

/** A running Gatehouse: every service of the embedded mode in this process. */
export interface Stack {
  readonly log: EventLog;
  readonly store: AuditStore;
  readonly ingress: Ingress;
  /** Started again when it fails (see `superviseProjector`). */
  readonly projector: SupervisedProjector;
  readonly queryApi: QueryApi;
  readonly checkpointer: Checkpointer;
  /** Undefined when `gateway.issuer` is an external provider (no `authserver:` section). */
  readonly authServer: AuthServer | undefined;
  readonly urls: { ingress: string; mcp: string; query: string; auth: string | undefined };
  /** Stops everything in reverse order of start; safe to call twice. */
  close(): Promise<void>;
}

export interface StartStackOptions {
  settings: Settings;
  config: GatehouseConfig;
  logger?: Logger;
  /** Receives one line per phase ("event log: embedded at data/log"). */
  progress?: (message: string) => void;
}

/**
 * Starts the embedded mode (DESIGN.md "Modes"): authserver (when configured; on 127.0.0.1 only, at
 * the port of `authserver.issuer`, which must equal `GATEHOUSE_AUTH_PORT`), event log (embedded
 * segment files, or Kafka when `KAFKA_BROKERS` is set), ClickHouse store (chDB under the data dir,
 * or `CLICKHOUSE_URL`), projector, ingress and query API, plus the checkpoint signer. If any part
 * fails to start, the parts already started are stopped before the error is rethrown.
 */
export async function startStack(options: StartStackOptions): Promise<Stack> {
  const { settings, config } = options;
  const logger = options.logger ?? pino({ name: 'gatehouse', level: settings.logLevel ?? 'info' });
  const progress = options.progress ?? (() => undefined);
  const stops: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        logger.error({ err: error }, 'error while stopping');
      }
    }
  };

  try {
    checkLoopbackResource(
      'gateway.resource',
      config.gateway.resource,
      'gateway',
      'GATEHOUSE_INGRESS_PORT',
      settings.ingressPort,
    );
    checkLoopbackResource(
      'query.resource',
      config.query.resource,
      'query API',
      'GATEHOUSE_QUERY_PORT',
      settings.queryPort,
    );
    await mkdir(settings.dataDir, { recursive: true });

    let authServer: AuthServer | undefined;
    if (config.authserver) {
      // Always loopback, whatever GATEHOUSE_HOST says: the development login takes no password.
      // A gateway shared on the network points gateway.issuer at a real OIDC provider instead.
      const authConfig = config.authserver;
      // The loopback address the issuer names (::1 for http://[::1]:…), else 127.0.0.1.
      const authHost = new URL(authConfig.issuer).hostname === '[::1]' ? '::1' : '127.0.0.1';
      authServer = await listening(
        {
          what: 'authserver',
          port: settings.authPort,
          // The port is also the issuer's: both must change together.
          portFrom: 'GATEHOUSE_AUTH_PORT and authserver.issuer',
          host: authHost,
          hostFrom: 'authserver.issuer',
        },
        () =>
          createAuthServer({
            config: authConfig,
            resource: [config.gateway.resource, config.query.resource],
            port: settings.authPort,
            host: authHost,
            dataDir: settings.dataDir,
            logger: logger.child({ service: 'authserver' }),
          }),
      );
      stops.push(() => authServer!.close());
      progress(
        `authserver: ${authServer.issuer} (development, loopback only${
          LOOPBACK_BIND_ADDRESSES.has(settings.host)
            ? ''
            : `; GATEHOUSE_HOST ${settings.host} does not apply to it`
        })`,
      );
    }

    const log = await openLog(settings);
    stops.push(() => log.close());
    progress(
      `event log: ${log.kind}${settings.kafkaBrokers ? ` (${settings.kafkaBrokers.join(',')})` : ` at ${path.join(settings.dataDir, 'log')}`}`,
    );

    const store = await openAuditStore({
      dataDir: settings.dataDir,
      ...(settings.clickhouseUrl ? { url: settings.clickhouseUrl } : {}),
    });
    stops.push(() => store.close());
    progress(
      `store: ${settings.clickhouseUrl ? 'ClickHouse server' : `chDB at ${path.join(settings.dataDir, 'clickhouse')}`}`,
    );

    const projectorLogger = logger.child({ service: 'projector' });
    const projector = superviseProjector(
      (onFailure) =>
        createProjector({
          log,
          store,
          logger: projectorLogger,
          onFailure,
          // Records it can never project are set aside here (both modes), never stall it.
          deadLetterFile: path.join(settings.dataDir, 'projector', DEAD_LETTER_FILE_NAME),
          ...(settings.kafkaBrokers
            ? { group: projectorGroup(settings.kafkaTopic) }
            : { journalFile: path.join(settings.dataDir, 'projector', 'projector.pending.json') }),
        }),
      projectorLogger,
    );
    await projector.start();
    stops.push(() => projector.stop());

    // The `policy` and `catalog:<server>` streams outlive this process: continue their chains from
    // the heads already recorded instead of starting a second seq 0.
    await projector.drain(120_000);
    const chains = new ChainRegistry();
    for (const head of await store.latestHeads()) {
      if (head.session_id === 'policy' || head.session_id.startsWith('catalog:')) {
        chains.restore(head.session_id, { seq: head.seq, hash: head.hash });
      }
    }

    // Outcomes of calls already forwarded are never lost: if the log refuses them they wait in an
    // fsync'd local spool and are published later, in session order.
    const auditLog = await createSpoolingLog({
      log,
      dir: path.join(settings.dataDir, 'spool'),
      logger: logger.child({ service: 'spool' }),
      spoolableTypes: INGRESS_SPOOLABLE_TYPES,
      ...(settings.spoolMaxBytes === undefined ? {} : { maxSpoolBytes: settings.spoolMaxBytes }),
    });
    stops.push(() => auditLog.close());

    const policy = await loadPolicy(config.policy, { source: settings.configPath });
    const gateway = gatewayWithSelfActingAgents(config);
    const ingress = await createIngress({
      chains,
      config: { gateway, upstreams: config.upstreams },
      log: auditLog,
      policy,
      logger: logger.child({ service: 'ingress' }),
      redactKeys: config.audit.redactKeys,
    });
    stops.push(() => ingress.close());
    const ingressUrl = await listening(
      {
        what: 'gateway',
        port: settings.ingressPort,
        portFrom: 'GATEHOUSE_INGRESS_PORT (and gateway.resource, on this machine)',
        host: settings.host,
        hostFrom: 'GATEHOUSE_HOST',
      },
      () => ingress.listen(settings.ingressPort, settings.host),
    );
    progress(`ingress: ${ingressUrl}/mcp (policy ${policy.version.slice(0, 12)})`);

    const key = await loadCheckpointKey({ dataDir: settings.dataDir });
    const checkpointer = startCheckpointer({
      log,
      // Sessions with events in the last hour (a late projection included); a head that did not
      // move since it was signed is not signed again.
      heads: () =>
        store.latestHeads({ since: storeHeadsSince(Date.now(), config.audit.checkpointIntervalMs) }),
      key,
      intervalMs: config.audit.checkpointIntervalMs,
    });
    stops.push(() => checkpointer.stop());

    const queryApi = await createQueryApi({
      store,
      log,
      policy,
      compilePolicy: (published) => policyFromPublished(published),
      auth: {
        issuer: config.gateway.issuer,
        audience: config.query.resource,
        requiredScopes: config.query.requiredScopes,
      },
      checkpointKeys: new Map([[key.kid, key.publicKey]]),
      ...(gateway.selfActingAgents === undefined ? {} : { selfActingAgents: gateway.selfActingAgents }),
      projection: () => {
        const { state, lag, restarts, deadLettered, lastCommitAt } = projector.stats();
        return { state, lag, restarts, deadLettered, lastCommitAt };
      },
    });
    stops.push(() => queryApi.close());
    const queryUrl = await listening(
      {
        what: 'query API',
        port: settings.queryPort,
        portFrom: 'GATEHOUSE_QUERY_PORT (and query.resource, on this machine)',
        host: settings.host,
        hostFrom: 'GATEHOUSE_HOST',
      },
      () => queryApi.listen({ port: settings.queryPort, host: settings.host }),
    );
    progress(`query API: ${queryUrl}`);

    return {
      log,
      store,
      ingress,
      projector,
      queryApi,
      checkpointer,
      authServer,
      // Clients must use the canonical URIs: the audience of tokens and the resource of RFC 9728.
      urls: {
        ingress: ingressUrl,
        mcp: config.gateway.resource,
        query: config.query.resource,
        auth: authServer?.issuer,
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

async function openLog(settings: Settings): Promise<EventLog> {
  if (settings.kafkaBrokers) {
    const { openKafkaLog } = await import('@gatehouse/eventlog');
    return openKafkaLog({
      brokers: settings.kafkaBrokers,
      topic: settings.kafkaTopic,
      clientId: 'gatehouse',
      ...settings.kafkaTopicLayout,
    });
  }
  const inlineCommitWhenQuietMs = inlineCommitWhenQuietMsFromEnv(process.env);
  return openEmbeddedLog({
    dir: path.join(settings.dataDir, 'log'),
    ...(inlineCommitWhenQuietMs === undefined ? {} : { inlineCommitWhenQuietMs }),
  });
}

/**
 * A resource URI on a loopback name must name the port its server listens on: an MCP client checks
 * the `resource` of the protected-resource metadata (RFC 9728) against the URL it connected to, and
 * the banner and tokens name it. A resource with another host name (a gateway behind a proxy) is
 * the operator's to choose. Port 0 (any free port) is not checked.
 */
function checkLoopbackResource(
  key: string,
  resource: string,
  what: string,
  variable: string,
  port: number,
): void {
  const url = new URL(resource);
  if (port === 0 || !LOOPBACK_HOSTNAMES.has(url.hostname)) return;
  const named = urlPort(url);
  if (named !== port)
    throw new CliError(
      'GH_ERR_CONFIG_INVALID',
      `${key} "${resource}" names port ${named}, but the ${what} would listen on port ${port} (${variable}): clients check the resource against the URL they connect to; use the same port in both`,
    );
}
