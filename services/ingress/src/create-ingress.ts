import { randomUUID } from 'node:crypto';
import { ChainRegistry, createRedactor, events, type Redactor } from '@gatehouse/events';
import type { CommitCounts, EventLog } from '@gatehouse/eventlog';
import { selfActingAgents } from '@gatehouse/policy';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { pino, type Logger } from 'pino';
import { AuditRecorder, spoolOf, type OutcomeSpool } from './audit/audit-recorder.js';
import { ToolCatalog } from './catalog.js';
import { parseIngressConfig, type IngressConfig, type IngressConfigInput } from './config.js';
import { IngressError } from './errors.js';
import { registerMcpRoutes } from './mcp/mcp-routes.js';
import { SessionRegistry } from './mcp/session-registry.js';
import { allowsHost, perimeterPlugin, type RejectionReport } from './perimeter/perimeter-plugin.js';
import { createTokenVerifier, type TokenVerifierOptions } from './perimeter/token-verifier.js';
import type { IngressPolicy } from './policy-port.js';
import { UpstreamConnection } from './upstream/upstream-connection.js';

export interface IngressOptions {
  /** The `gateway:` and `upstreams:` sections (validated here; errors name the key path). */
  config: IngressConfigInput | IngressConfig;
  /** Where audit events go. `append` must be durable (see the EventLog port). */
  log: EventLog;
  /** The loaded policy; its `version` is published and named by every decision. */
  policy: IngressPolicy;
  /** Default: pino at `info` to stdout. */
  logger?: Logger;
  /** Names this node's `perimeter:<instance>` stream. Default: a random 8-hex id. */
  instanceId?: string;
  /** Argument redaction. Default: `createRedactor({ extraKeyPatterns: redactKeys })`. */
  redactor?: Redactor;
  /** Extra key globs to redact (the `audit.redactKeys` config list), when `redactor` is not given. */
  redactKeys?: readonly string[];
  /**
   * Durable local spool for outcomes the log keeps refusing. Default: the log's own spool when `log`
   * is a `SpoolingLog` (`createSpoolingLog`), else an in-memory backlog retried in the background.
   */
  spool?: OutcomeSpool;
  /** Chain heads, seeded by the caller for named streams that outlive a process. Default: fresh. */
  chains?: ChainRegistry;
  /**
   * For a process that cannot learn the heads of its named streams at start (`chains`), e.g. an
   * ingress node in front of Kafka: its publications and refusals then go on streams of this run
   * alone — `policy:<instance>:<runId>`, `catalog:<server>:<instance>:<runId>`,
   * `perimeter:<instance>:<runId>` — each a chain from seq 0 that no other process or run writes,
   * instead of a second seq 0 on `policy`, `catalog:<server>` and `perimeter:<instance>` (a chain
   * that verification reports as broken). Default: none (those shared names).
   */
  runId?: string;
  /** JWKS caching and timeouts of the token verifier. */
  verifier?: TokenVerifierOptions;
}

/** How long `close` lets requests still in flight after the sessions ended finish, ms. */
const CLOSE_GRACE_MS = 1_000;

/** Health and load figures, as served by `/healthz`. */
export interface IngressStats {
  instance: string;
  sessions: number;
  policyVersion: string;
  /** Outcome events sealed but not yet in the log (in-memory backlog). */
  auditBacklog: number;
  /**
   * Events dropped: the in-memory backlog was full (0 unless the log was down for long), or an
   * outcome stayed over the log's record limit even without its arguments.
   */
  auditDropped: number;
  upstreams: Record<
    string,
    { connected: boolean; connects: number; inFlightHttpRequests: number; tools: number }
  >;
  /**
   * The audit log's kind; for the embedded log also how its group commits went since it opened:
   * inline on the event loop's thread or through the libuv pool, and how long the inline ones held
   * the loop (ms) — what `GATEHOUSE_LOG_INLINE_COMMIT_MS` trades.
   */
  log: { kind: EventLog['kind']; commits?: CommitCounts };
}

/** `IngressStats.log` of `log`: its kind, and its commit counts when it keeps them (the embedded log). */
function logStats(log: EventLog): IngressStats['log'] {
  const counts = log.commitCounts?.();
  if (counts === undefined) return { kind: log.kind };
  return {
    kind: log.kind,
    commits: { ...counts, inlineHeldMs: Math.round(counts.inlineHeldMs * 100) / 100 },
  };
}

/** A started ingress: upstreams connected, catalog and policy published, routes registered. */
export interface Ingress {
  readonly app: FastifyInstance;
  readonly instanceId: string;
  readonly config: IngressConfig;
  readonly catalog: ToolCatalog;
  /** Binds the HTTP server; resolves with its base URL (`http://127.0.0.1:7420`). Port 0 picks one. */
  listen(port: number, host?: string): Promise<string>;
  /** Resolves when every queued audit append has been written (or parked in the spool/backlog). */
  flush(): Promise<void>;
  stats(): IngressStats;
  /** Ends every session (`session.ended`, reason `gateway_shutdown`), closes HTTP and upstreams, flushes. */
  close(): Promise<void>;
}

/**
 * Starts an ingress node: validates the config, connects every upstream and lists its tools
 * (failing fast, naming the upstream, if one cannot be reached), publishes `catalog.published`
 * per upstream and `policy.published` (durably — start-up fails if the log refuses), and builds the
 * Fastify app with the perimeter, `/mcp` and `/healthz`. Call `listen` to serve.
 */
export async function createIngress(options: IngressOptions): Promise<Ingress> {
  const config = parseIngressConfig(options.config);
  const logger = options.logger ?? pino({ name: 'gatehouse-ingress' });
  const instanceId = options.instanceId ?? randomUUID().slice(0, 8);
  const streams = namedStreams(instanceId, options.runId);
  const chains = options.chains ?? new ChainRegistry();
  const spool = options.spool ?? spoolOf(options.log);
  const recorder = new AuditRecorder({ log: options.log, chains, logger, ...(spool ? { spool } : {}) });
  const redact = options.redactor ?? createRedactor({ extraKeyPatterns: options.redactKeys ?? [] });
  const policy = options.policy;

  const upstreams = new Map<string, UpstreamConnection>();
  for (const [name, upstreamConfig] of Object.entries(config.upstreams)) {
    upstreams.set(name, new UpstreamConnection(name, upstreamConfig, { logger }));
  }
  const closeUpstreams = () => Promise.all([...upstreams.values()].map((u) => u.close()));

  let catalog: ToolCatalog;
  try {
    const listed = await Promise.all(
      [...upstreams.values()].map(async (upstream): Promise<[string, Tool[]]> => {
        try {
          return [upstream.name, await upstream.listTools()];
        } catch (cause) {
          throw new IngressError(
            'GH_ERR_INGRESS_UPSTREAM_START',
            `upstreams.${upstream.name}: cannot list tools (${(cause as Error).message})`,
            {
              retryable: true,
              cause,
            },
          );
        }
      }),
    );
    catalog = new ToolCatalog(new Map(listed));
    for (const server of upstreams.keys()) {
      await recorder.appendDurable(
        events.catalogPublished(server, catalog.publishedData(server), streams.catalog(server)),
      );
    }
    await recorder.appendDurable(events.policyPublished(policy.publishedData(), streams.policy));
  } catch (error) {
    await closeUpstreams();
    if (error instanceof IngressError) throw error;
    throw new IngressError(
      'GH_ERR_INGRESS_UPSTREAM_START',
      `cannot publish the catalog and policy at start-up (${(error as Error).message})`,
      {
        retryable: true,
        cause: error,
      },
    );
  }
  logger.info(
    { tools: catalog.names().length, policy_version: policy.version, instance: instanceId },
    'catalog and policy published',
  );

  const sessions = new SessionRegistry(recorder, logger, config.gateway.sessionIdleTimeoutMs, config.gateway);
  const perimeterStream = streams.perimeter;
  const onReject = async (report: RejectionReport): Promise<void> => {
    await recorder.appendOutcome(
      events.authRejected(
        {
          session_id: perimeterStream,
          client_ip: report.clientIp,
          user_agent: report.userAgent?.slice(0, 512) ?? null,
        },
        {
          http_status: report.httpStatus,
          reason: report.reason,
          method: report.method,
          path: report.path.slice(0, 256),
        },
      ),
    );
  };

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.gateway.bodyLimitBytes,
    // Per-request access logs would cost more than the gateway's own hot path; audit events cover it.
    logController: new LogController({ disableRequestLogging: true }),
  });
  const stats = (): IngressStats => ({
    instance: instanceId,
    sessions: sessions.size,
    policyVersion: policy.version,
    auditBacklog: recorder.backlogSize,
    auditDropped: recorder.droppedCount,
    upstreams: Object.fromEntries(
      [...upstreams.values()].map((u) => [
        u.name,
        { ...u.stats(), tools: catalog.names().filter((n) => catalog.get(n)?.server === u.name).length },
      ]),
    ),
    log: logStats(options.log),
  });
  // Outside the perimeter, for load balancers and probes, which name the host as they like; the
  // figures (policy version, upstream names, sessions) only for a Host the gateway answers to, so
  // that a DNS-rebinding page learns no more than that it is up.
  const hostAllowed = allowsHost(config.gateway.allowedHosts);
  app.get('/healthz', async (request) =>
    hostAllowed(request.headers.host) ? { status: 'ok', ...stats() } : { status: 'ok' },
  );

  const verifier = createTokenVerifier(config.gateway, options.verifier);
  const mcpPath = new URL(config.gateway.resource).pathname;
  await app.register(
    perimeterPlugin({
      config: config.gateway,
      verifier,
      onReject,
      protectedRoutes: (scope, reject) =>
        registerMcpRoutes(scope, reject, {
          deps: { catalog, upstreams, policy, recorder, redact, logger, failOpen: config.gateway.failOpen },
          sessions,
          path: mcpPath,
          selfActing: selfActingAgents(config.gateway.selfActingAgents),
        }),
    }),
  );
  if (config.gateway.failOpen)
    logger.warn(
      'gateway.failOpen is true: calls are forwarded even when the audit log refuses call.attempted',
    );

  let closed = false;
  return {
    app,
    instanceId,
    config,
    catalog,
    async listen(port, host = '127.0.0.1') {
      return app.listen({ port, host });
    },
    flush: () => recorder.drain(),
    stats,
    async close() {
      if (closed) return;
      closed = true;
      await sessions.endAll('gateway_shutdown');
      // Every session has ended. What can keep app.close() waiting now is a connection that has
      // not sent a request (Node counts it as active, not idle) until the client drops it, e.g.
      // after undici's 4 s keep-alive: give real requests a moment, then close the rest.
      const force = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
      await app.close();
      clearTimeout(force);
      await closeUpstreams();
      await recorder.drain();
      recorder.stop();
    },
  };
}

/** The names of the ingress's streams outside MCP sessions (see `IngressOptions.runId`). */
export function namedStreams(
  instanceId: string,
  runId?: string,
): { policy: string; catalog: (server: string) => string; perimeter: string } {
  if (runId === undefined)
    return {
      policy: 'policy',
      catalog: (server) => `catalog:${server}`,
      perimeter: `perimeter:${instanceId}`,
    };
  const run = `${instanceId}:${runId}`;
  return {
    policy: `policy:${run}`,
    catalog: (server) => `catalog:${server}:${run}`,
    perimeter: `perimeter:${run}`,
  };
}
