import { randomUUID } from 'node:crypto';
import { events } from '@gatehouse/events';
import { LogError } from '@gatehouse/eventlog';
import { isInitializeRequest, type InitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GATEWAY_RPC_ERRORS } from '../errors.js';
import type { RejectFromRoute } from '../perimeter/perimeter-plugin.js';
import { createGatewayServer, type GatewayServerDeps, type SessionIdentity } from './gateway-server.js';
import { NodeHttpServerTransport } from './node-http-server-transport.js';
import type { GatewaySession, SessionRegistry, SessionSlot } from './session-registry.js';

export interface McpRoutesOptions {
  deps: GatewayServerDeps;
  /** Live sessions, and the limits `initialize` is held to (503 in all, 429 per caller). */
  sessions: SessionRegistry;
  /** MCP endpoint path (the resource URI's path). */
  path: string;
  /** Whether `agent` may act for itself (see `gateway.selfActingAgents`). */
  selfActing: (agent: string) => boolean;
}

/**
 * Registers the Streamable HTTP MCP endpoint (POST/GET/DELETE) inside the perimeter's scope, so
 * `request.principal` is always set here. Each session gets its own SDK `Server` and
 * `NodeHttpServerTransport`; requests are handed to the transport with Fastify's parsed body
 * (`reply.hijack()`), so the transport answers (JSON or SSE) itself.
 *
 * A session is bound to the caller that opened it: a request with another caller's token and that
 * session's id is answered 404 and recorded as `auth.rejected` (`session_principal_mismatch`).
 */
export function registerMcpRoutes(
  scope: FastifyInstance,
  reject: RejectFromRoute,
  options: McpRoutesOptions,
): void {
  const { deps, sessions } = options;

  const initialize = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> => {
    const principal = request.principal;
    const body = request.body;
    if (!principal || !isInitializeRequest(body)) {
      return rpcError(reply, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    }
    const slot = sessions.reserve(principal);
    if (slot === 'sessions') return rpcError(reply, 503, -32000, 'too many sessions');
    if (slot === 'caller')
      return rpcError(
        reply,
        429,
        -32000,
        `too many sessions for this caller (at most ${sessions.limits.maxSessionsPerCaller}); end some first`,
      );
    try {
      return await open(request, reply, principal, body, slot);
    } finally {
      sessions.release(slot);
    }
  };

  const open = async (
    request: FastifyRequest,
    reply: FastifyReply,
    principal: NonNullable<FastifyRequest['principal']>,
    body: InitializeRequest,
    slot: SessionSlot,
  ): Promise<FastifyReply | void> => {
    const sessionId = randomUUID();
    const identity: SessionIdentity = {
      context: {
        session_id: sessionId,
        agent: principal.agent,
        user: principal.user,
        scopes: principal.scopes,
        client_ip: request.ip,
        user_agent: truncate(headerString(request.headers['user-agent']), 512),
      },
      // The agent acts for itself (its grants alone) only when allowed to: otherwise a user whose
      // subject equals a client id would get that agent's grants.
      policyUser:
        principal.user === principal.agent && options.selfActing(principal.agent) ? null : principal.user,
    };
    try {
      await deps.recorder.appendDurable(
        events.sessionStarted(identity.context, {
          protocol_version: truncate(body.params.protocolVersion, 64),
          client_name: truncate(body.params.clientInfo.name, 256),
          client_version: truncate(body.params.clientInfo.version, 64),
        }),
      );
    } catch (error) {
      request.log.error({ err: error }, 'session.started not recorded; session refused');
      if (!deps.failOpen) {
        // Unless nothing was written, the refused session.started keeps its seq and is re-appended
        // (it may be in the log): close that chain so the record says the session was refused.
        if (!(error instanceof LogError && error.nothingWritten))
          void deps.recorder
            .appendOutcome(events.sessionEnded(identity.context, 'refused: audit log unavailable'))
            .then(() => deps.recorder.forget(sessionId));
        else void deps.recorder.forget(sessionId);
        return rpcError(
          reply,
          503,
          GATEWAY_RPC_ERRORS.auditUnavailable.code,
          'audit log unavailable; session refused',
          (request.body as { id?: string | number }).id ?? null,
        );
      }
    }

    const transport = new NodeHttpServerTransport({ sessionIdGenerator: () => sessionId });
    const server = createGatewayServer(deps, identity);
    const session: GatewaySession = {
      id: sessionId,
      principal,
      identity,
      transport,
      server,
      lastSeenMs: Date.now(),
      ended: false,
    };
    transport.onclose = () => void sessions.end(session, 'transport_closed');
    await server.server.connect(transport);
    sessions.add(session, slot);
    reply.hijack();
    await transport.handleRequest(request.raw, reply.raw, body);
    if (transport.sessionId === undefined) await sessions.end(session, 'initialize_failed');
  };

  const existing = async (
    request: FastifyRequest,
    reply: FastifyReply,
    sessionId: string,
  ): Promise<FastifyReply | void> => {
    const session = sessions.get(sessionId);
    if (!session) return rpcError(reply, 404, -32001, 'Session not found');
    const principal = request.principal;
    if (
      !principal ||
      principal.agent !== session.principal.agent ||
      principal.user !== session.principal.user
    ) {
      return reject(request, reply, 'session_principal_mismatch', 404);
    }
    session.lastSeenMs = Date.now();
    if (request.method === 'DELETE') {
      reply.hijack();
      await sessions.end(session, 'client_deleted');
      reply.raw.writeHead(200).end();
      return;
    }
    reply.hijack();
    await session.transport.handleRequest(request.raw, reply.raw, request.body);
  };

  const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> => {
    const sessionId = headerString(request.headers['mcp-session-id']);
    if (sessionId !== null) return existing(request, reply, sessionId);
    if (request.method === 'POST') return initialize(request, reply);
    return rpcError(reply, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
  };

  // Bodies go through Fastify's JSON parser (with its prototype-poisoning check), except that an
  // empty body of a GET or DELETE is no body (some clients send those with a JSON content type);
  // what the parser refuses is answered as a JSON-RPC error object, as MCP clients expect.
  const parseJson = scope.getDefaultJsonParser('error', 'error');
  scope.removeContentTypeParser('application/json');
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text === '' && request.method !== 'POST') done(null, undefined);
    else parseJson(request, text, done);
  });
  scope.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
      return rpcError(reply, 400, -32700, 'Parse error: the body is not JSON');
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return rpcError(reply, 413, -32600, 'Invalid Request: the body is larger than gateway.bodyLimitBytes');
    // Anything else: Fastify's own answer.
    return reply.send(error);
  });

  scope.post(options.path, handle);
  scope.get(options.path, handle);
  scope.delete(options.path, handle);
}

function rpcError(
  reply: FastifyReply,
  status: number,
  code: number,
  message: string,
  id: string | number | null = null,
): FastifyReply {
  return reply.code(status).send({ jsonrpc: '2.0', error: { code, message }, id });
}

function headerString(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}

function truncate(value: string | null | undefined, max: number): string | null {
  if (value === null || value === undefined) return null;
  return value.length > max ? value.slice(0, max) : value;
}
