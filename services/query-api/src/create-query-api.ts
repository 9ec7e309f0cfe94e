import { randomBytes, type KeyObject } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import swagger from '@fastify/swagger';
import type { EventOf } from '@gatehouse/events';
import type { EventLog } from '@gatehouse/eventlog';
import { selfActingAgents } from '@gatehouse/policy';
import type { AuditStore } from '@gatehouse/store';
import { createBearerVerifier, type Caller, type QueryAuthOptions } from './bearer-auth.js';
import type { DecidingPolicy } from './evaluate.js';
import { QueryApiError } from './errors.js';
import { createErrorHandler } from './http-errors.js';
import type { PolicyCompiler, QueryContext } from './query-context.js';
import { PublishedHistory, type PublishedHistoryOptions } from './published-history.js';
import { QueryRecorder } from './query-recorder.js';
import { activityRoute } from './routes/activity-route.js';
import { capabilitiesRoute } from './routes/capabilities-route.js';
import { sessionRoutes } from './routes/session-routes.js';

/** Default port of the query API (DESIGN.md contract). */
export const DEFAULT_QUERY_PORT = 7421;

export interface QueryApiOptions {
  /** Where answers come from. */
  store: AuditStore;
  /** Where `query.executed` events go (stream `query:<instance>`). */
  log: EventLog;
  /**
   * The policy the gateway enforces now (`what-if?policy=current`); a function when it can be
   * reloaded while running.
   */
  policy: DecidingPolicy | (() => DecidingPolicy);
  /** Builds a deciding policy from a published one (for `at` and versions in the past). */
  compilePolicy: PolicyCompiler;
  /**
   * Bearer token checks. `audience` is the query API's own resource URI — by default
   * `http://localhost:7421` (config `query.resource`); gateway tokens are refused.
   */
  auth: QueryAuthOptions;
  /** Public keys of the checkpoint signer(s), to verify `checkpoint.signed` events. */
  checkpointKeys?: ReadonlyMap<string, KeyObject>;
  /** Request logger (pino). Default: silent. */
  logger?: FastifyBaseLogger;
  /** Names the `query:<instance>` stream. Default: 8 random hex characters (a new chain per process). */
  instance?: string;
  /**
   * `max_threads` for ClickHouse queries in embedded mode. The store is opened with it (see
   * `main.ts`); here it is only reported by `/healthz`. Default 2.
   */
  maxThreads?: number;
  /** How policies and catalogs are kept in memory (see `PublishedHistory`). */
  publishedHistory?: PublishedHistoryOptions;
  /** Clock for "now" (default `at`, relative `when`). Default `() => new Date()`. */
  clock?: () => Date;
  /**
   * The state of the projection feeding the store, for `/healthz` (e.g. the embedded stack's
   * projector): reported under `projection`, and a `failed` state makes `/healthz` answer 503.
   */
  projection?: () => ProjectionHealth;
  /**
   * The gateway's `selfActingAgents`: what-if decides a call whose user equals its agent on the
   * agent's grants alone only for these, as the ingress did. Default: every agent.
   */
  selfActingAgents?: readonly string[];
}

/** What `/healthz` reports of the projection: counts and state only (it is open to anyone). */
export interface ProjectionHealth {
  state: string;
  lag: number | undefined;
  restarts: number;
  deadLettered: number;
  lastCommitAt: string | undefined;
}

/** A query API: the Fastify app plus lifecycle. */
export interface QueryApi {
  readonly app: FastifyInstance;
  /** The `query:<instance>` stream queries are recorded on. */
  readonly stream: string;
  /** Listens on `port` (0: ephemeral) and resolves with the base URL, e.g. `http://127.0.0.1:7421`. */
  listen(options?: { port?: number; host?: string }): Promise<string>;
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

/**
 * Builds the query API (DESIGN.md contract): capabilities as of T, activity by window, sessions,
 * replay, verify and what-if under `/v1`, all behind a Bearer token with `audit:read` for this
 * API's audience; `/healthz`, `/openapi.json` and `/.well-known/oauth-protected-resource` are open.
 *
 * Every `/v1` answer — refusals included — is first recorded as a `query.executed` event (who,
 * endpoint, params, status); if that record cannot be made durable the answer is replaced by
 * `503 audit_unavailable` (fail closed: no unaudited answers).
 */
export async function createQueryApi(options: QueryApiOptions): Promise<QueryApi> {
  const verifier = createBearerVerifier(options.auth);
  const recorder = new QueryRecorder(options.log, options.instance ?? randomBytes(4).toString('hex'));
  const clock = options.clock ?? (() => new Date());
  const compiled = new Map<string, Promise<DecidingPolicy>>();
  const currentPolicy =
    typeof options.policy === 'function' ? options.policy : () => options.policy as DecidingPolicy;
  const ctx: QueryContext = {
    store: options.store,
    history: new PublishedHistory(options.store, options.publishedHistory),
    currentPolicy,
    policyOf(published: EventOf<'policy.published'>) {
      const version = published.data.version;
      let policy = compiled.get(version);
      if (policy === undefined) {
        policy = Promise.resolve(options.compilePolicy(published.data));
        policy.catch(() => compiled.delete(version));
        compiled.set(version, policy);
      }
      return policy;
    },
    checkpointKeys: options.checkpointKeys ?? new Map(),
    clock,
    selfActing: selfActingAgents(options.selfActingAgents),
  };

  const app = Fastify({
    // Path parameters up to the schemas' 256 characters (Fastify's default, 100, would answer a
    // longer session id or agent with its own 414, outside the audited /v1 scope).
    routerOptions: { maxParamLength: 256 },
    ...(options.logger === undefined ? { logger: false } : { loggerInstance: options.logger }),
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
  });
  app.setErrorHandler(createErrorHandler(verifier));
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse query API',
        version: '1',
        description:
          'Capabilities as of any time, activity, session replay, verification and what-if over the audit trail.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });

  app.get('/healthz', { schema: { hide: true } }, async (_request, reply) => {
    const store = await options.store.ping();
    const projection = options.projection?.();
    const healthy = store && projection?.state !== 'failed';
    reply.code(healthy ? 200 : 503);
    return {
      status: healthy ? 'ok' : 'degraded',
      store,
      maxThreads: options.maxThreads ?? 2,
      ...(projection === undefined ? {} : { projection }),
    };
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/.well-known/oauth-protected-resource', { schema: { hide: true } }, async () => ({
    resource: options.auth.audience,
    authorization_servers: [options.auth.issuer],
    scopes_supported: [...(options.auth.requiredScopes ?? ['audit:read'])],
    bearer_methods_supported: ['header'],
  }));

  await app.register(
    async (v1) => {
      v1.addHook('onRequest', async (request: FastifyRequest) => {
        request.caller = await verifier.verify(request.headers.authorization);
      });
      v1.addHook('preHandler', async (request: FastifyRequest) => {
        if (request.caller === undefined)
          throw new QueryApiError('GH_ERR_QUERY_UNAUTHENTICATED', 'a Bearer access token is required');
        verifier.authorize(request.caller);
      });
      v1.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
        try {
          await recorder.record({
            context: {
              agent: request.caller?.agent ?? null,
              user: request.caller?.user ?? null,
              scopes: request.caller?.scopes ?? [],
              client_ip: request.ip,
              user_agent: request.headers['user-agent'] ?? null,
            },
            endpoint: `${request.method} /v1${request.routeOptions.url?.replace(/^\/v1/, '') ?? request.url.split('?')[0]}`,
            params: stringParams(request),
            status: reply.statusCode,
          });
          return payload;
        } catch (error) {
          request.log.error({ err: error }, 'query.executed could not be recorded; answer withheld');
          if (
            payload !== null &&
            typeof payload === 'object' &&
            'destroy' in payload &&
            typeof payload.destroy === 'function'
          )
            payload.destroy();
          reply.code(503).type('application/json; charset=utf-8');
          reply.removeHeader('content-length');
          return JSON.stringify({
            error: 'audit_unavailable',
            message: 'the query could not be recorded in the audit log; no answer is given unaudited',
          });
        }
      });
      capabilitiesRoute(v1, ctx);
      activityRoute(v1, ctx);
      sessionRoutes(v1, ctx);
    },
    { prefix: '/v1' },
  );
  await app.ready();

  return {
    app,
    stream: recorder.stream,
    async listen({ port = DEFAULT_QUERY_PORT, host = '127.0.0.1' } = {}) {
      await app.listen({ port, host });
      const address = app.server.address();
      const actual = typeof address === 'object' && address !== null ? address.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
    },
    close: () => app.close(),
  };
}

/** Most parameters a `query.executed` event keeps, and the longest name and value (characters). */
const MAX_RECORDED_PARAMS = 32;
const MAX_RECORDED_NAME = 64;
const MAX_RECORDED_VALUE = 256;

/**
 * The request's path and query parameters as strings, for `query.executed`. Capped (count, name
 * and value length, the cut said in the value), because refusals are recorded too: an
 * unauthenticated caller must not be able to write kilobytes into the audit log per request.
 */
function stringParams(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  let count = 0;
  let dropped = 0;
  for (const source of [request.params, request.query]) {
    if (source === null || typeof source !== 'object') continue;
    for (const [key, value] of Object.entries(source as Record<string, unknown>)) {
      if (value === undefined) continue;
      if (count === MAX_RECORDED_PARAMS) {
        dropped++;
        continue;
      }
      count++;
      out[clip(key, MAX_RECORDED_NAME)] = clip(
        typeof value === 'string' ? value : JSON.stringify(value),
        MAX_RECORDED_VALUE,
      );
    }
  }
  if (dropped > 0) out['…'] = `${dropped} more parameters not recorded`;
  return out;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(+${text.length - max} chars)`;
}
