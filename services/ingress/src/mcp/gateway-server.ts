import {
  canonicalJson,
  callMembers,
  createEvent,
  events,
  GATEWAY_REFUSAL_RULES,
  sha256Hex,
  type Decision,
  type EventContext,
  type EventDraft,
  type Outcome,
  type Redactor,
} from '@gatehouse/events';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  type CallToolRequest,
  type ServerNotification,
  type ServerRequest,
  ListToolsRequestSchema,
  ErrorCode,
  McpError,
  type CallToolResult,
  type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { LogError } from '@gatehouse/eventlog';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/audit-recorder.js';
import type { ToolCatalog } from '../catalog.js';
import { GATEWAY_RPC_ERRORS } from '../errors.js';
import type { IngressPolicy } from '../policy-port.js';
import {
  classifyUpstreamError,
  upstreamFailureReason,
  type UpstreamConnection,
} from '../upstream/upstream-connection.js';

/** Longest tool name echoed in an error message or stored in an event (characters). */
const MAX_TOOL_NAME = 256;

/** Everything one session's MCP server needs; shared objects are shared across sessions. */
export interface GatewayServerDeps {
  catalog: ToolCatalog;
  upstreams: ReadonlyMap<string, UpstreamConnection>;
  policy: IngressPolicy;
  recorder: AuditRecorder;
  redact: Redactor;
  logger: Logger;
  /** Forward even when `call.attempted` could not be recorded (logged per call). */
  failOpen: boolean;
}

/** Who the session belongs to. `policyUser` is null when the agent acts for itself. */
export interface SessionIdentity {
  context: EventContext & { agent: string; user: string };
  policyUser: string | null;
}

/** One session's MCP server, and a way to wait for its calls in flight. */
export interface GatewayServer {
  readonly server: Server;
  /** Resolves when no `tools/call` is in flight and every finished call's outcome event is queued. */
  settled(): Promise<void>;
}

type CallExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * Builds the MCP server the caller talks to in one session. It advertises `tools` only: resources,
 * prompts, completion and logging requests get method-not-found, so nothing reaches an upstream
 * unchecked.
 *
 * `tools/list` answers only the tools the policy lets this caller call; `tools/call`:
 * 1. decides (unknown tool → denied); denied → `call.denied`, JSON-RPC −32003, upstream untouched;
 * 2. appends `call.attempted` durably — if the log refuses: −32004 and nothing is forwarded
 *    (unless `failOpen`);
 * 3. forwards with the shared upstream client (progress passed through, cancellation propagated);
 * 4. queues `call.completed` / `call.failed` (never lost: retried, then spooled).
 */
export function createGatewayServer(deps: GatewayServerDeps, identity: SessionIdentity): GatewayServer {
  const { catalog, policy, recorder, logger } = deps;
  const { context, policyUser } = identity;
  const server = new Server(
    { name: 'gatehouse', version: '0.1.0' },
    { capabilities: { tools: { listChanged: false } } },
  );

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const names = policy.visibleTools(context.agent, policyUser, catalog.names());
    await recorder.appendOutcome(events.toolsListed(context, names, policy.version));
    return { tools: catalog.tools(names) };
  });

  const inFlight = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>): void => {
    const tracked = work.catch(() => undefined);
    inFlight.add(tracked);
    void tracked.then(() => inFlight.delete(tracked));
  };
  server.setRequestHandler(CallToolRequestSchema, (request, extra): Promise<CallToolResult> => {
    const handled = handleCall(request, extra);
    track(handled);
    return handled;
  });

  const handleCall = async (request: CallToolRequest, extra: CallExtra): Promise<CallToolResult> => {
    const started = performance.now();
    const name = request.params.name;
    const args = request.params.arguments ?? {};
    const entry = catalog.get(name);
    const toolName = name.length > MAX_TOOL_NAME ? `${name.slice(0, MAX_TOOL_NAME)}…` : name;
    let redaction: ReturnType<GatewayServerDeps['redact']> | undefined;
    try {
      redaction = deps.redact(args);
    } catch (cause) {
      logger.info({ err: cause, tool: toolName }, 'tools/call refused: arguments cannot be audited');
    }
    const subject = {
      server: entry?.server ?? null,
      tool: toolName,
      request_id: String(extra.requestId),
      args: redaction?.args ?? null,
      args_sha256: redaction?.argsSha256 ?? null,
    };
    if (redaction === undefined) {
      // Arguments the audit cannot encode (nested deeper than canonical JSON recurses): refused,
      // and the refusal recorded without them, so that even this probe leaves its trace.
      const refusal: Decision = {
        allowed: false,
        rule: GATEWAY_REFUSAL_RULES.argumentsUnencodable,
        policy_version: policy.version,
      };
      await recorder.appendOutcome(
        callOutcome('call.denied', context, subject, refusal, outcome('denied', 0, null, refusal.rule)),
      );
      throw new McpError(
        ErrorCode.InvalidParams,
        `arguments of ${toolName} cannot be audited (nested too deeply); call refused`,
      );
    }
    const decision: Decision = entry
      ? policy.decide(context.agent, policyUser, name)
      : { allowed: false, rule: GATEWAY_REFUSAL_RULES.unknownTool, policy_version: policy.version };

    if (!decision.allowed) {
      await recorder.appendOutcome(
        callOutcome('call.denied', context, subject, decision, outcome('denied', 0, null, decision.rule)),
      );
      throw new McpError(
        GATEWAY_RPC_ERRORS.toolNotPermitted.code,
        GATEWAY_RPC_ERRORS.toolNotPermitted.message(toolName),
      );
    }
    const upstream = entry ? deps.upstreams.get(entry.server) : undefined;
    if (!entry || !upstream)
      throw new McpError(
        GATEWAY_RPC_ERRORS.upstreamUnavailable.code,
        GATEWAY_RPC_ERRORS.upstreamUnavailable.message(),
      );

    try {
      await recorder.appendDurable(
        createEvent('call.attempted', context, {}, callMembers(subject, decision)),
      );
    } catch (error) {
      logger.error({ err: error, session_id: context.session_id, tool: name }, 'call.attempted not recorded');
      // Arguments over the log's record limit can never be recorded: such a call is refused even
      // with failOpen, and its call.failed is kept without them (see AuditRecorder).
      const tooLarge = error instanceof LogError && error.code === 'GH_ERR_LOG_RECORD_TOO_LARGE';
      if (tooLarge || !deps.failOpen) {
        const refusal = tooLarge
          ? {
              status: 'error' as const,
              reason: 'arguments over the audit log record limit; call refused',
              rpc: GATEWAY_RPC_ERRORS.argumentsTooLarge,
            }
          : {
              status: 'audit_unavailable' as const,
              reason: 'call.attempted not recorded; call refused',
              rpc: GATEWAY_RPC_ERRORS.auditUnavailable,
            };
        void recorder.appendOutcome(
          callOutcome(
            'call.failed',
            context,
            subject,
            decision,
            outcome(refusal.status, elapsed(started), null, refusal.reason),
          ),
        );
        throw new McpError(refusal.rpc.code, refusal.rpc.message(toolName));
      }
      logger.warn(
        { session_id: context.session_id, tool: name },
        'failOpen: forwarding a call whose call.attempted was not recorded',
      );
    }

    // Progress is relayed in order, and the result waits for the relay: the response closes the
    // caller's SSE stream, and a notification still being sent would be lost.
    const progressToken = extra._meta?.progressToken;
    let relayed: Promise<void> = Promise.resolve();
    const onprogress =
      progressToken === undefined
        ? undefined
        : (progress: Progress) => {
            relayed = relayed
              .then(() =>
                extra.sendNotification({
                  method: 'notifications/progress',
                  params: { ...progress, progressToken },
                }),
              )
              .catch((error: unknown) => logger.debug({ err: error }, 'progress notification not delivered'));
          };

    let result: CallToolResult;
    try {
      result = await upstream.callTool(entry.upstreamTool, args, {
        signal: extra.signal,
        ...(onprogress ? { onprogress } : {}),
      });
    } catch (error) {
      const kind = classifyUpstreamError(error, extra.signal);
      const latency = elapsed(started);
      if (kind === 'upstream_error' && error instanceof McpError) {
        // The upstream answered with a JSON-RPC error: pass it on as it is.
        void recorder.appendOutcome(
          callOutcome(
            'call.completed',
            context,
            subject,
            decision,
            outcome('error', latency, null, `upstream error ${error.code}`),
          ),
          { linger: true },
        );
        throw error;
      }
      void recorder.appendOutcome(
        callOutcome(
          'call.failed',
          context,
          subject,
          decision,
          outcome(
            kind === 'timeout' ? 'timeout' : 'error',
            latency,
            null,
            upstreamFailureReason(error, kind),
          ),
        ),
        { linger: true },
      );
      if (kind === 'timeout')
        throw new McpError(
          GATEWAY_RPC_ERRORS.upstreamTimeout.code,
          GATEWAY_RPC_ERRORS.upstreamTimeout.message(),
        );
      throw new McpError(
        GATEWAY_RPC_ERRORS.upstreamUnavailable.code,
        GATEWAY_RPC_ERRORS.upstreamUnavailable.message(),
      );
    }

    await relayed;
    // The result digest and the outcome event are not part of the answer: they are built on the
    // next turn of the event loop, after the SDK has written the response, and the call stays
    // tracked (`settled`) until its outcome is queued, so `session.ended` still comes last.
    const latencyMs = elapsed(started);
    track(
      new Promise<void>((resolve) =>
        setImmediate(() => {
          try {
            const canonical = canonicalJson(result);
            void recorder.appendOutcome(
              callOutcome('call.completed', context, subject, decision, {
                status: result.isError === true ? 'error' : 'ok',
                latency_ms: latencyMs,
                result_sha256: sha256Hex(canonical),
                result_bytes: Buffer.byteLength(canonical),
                error: null,
              }),
              { linger: true },
            );
          } catch (error) {
            logger.error(
              { err: error, session_id: context.session_id, tool: name },
              'call.completed not built',
            );
          } finally {
            resolve();
          }
        }),
      ),
    );
    return result;
  };

  return {
    server,
    async settled() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}

function outcome(
  status: Outcome['status'],
  latencyMs: number,
  resultSha256: string | null,
  error: string | null,
): Outcome {
  return { status, latency_ms: latencyMs, result_sha256: resultSha256, result_bytes: null, error };
}

/** The event recording how a call ended: denied, completed (answered) or failed. */
function callOutcome(
  type: 'call.denied' | 'call.completed' | 'call.failed',
  context: EventContext,
  subject: {
    server: string | null;
    tool: string;
    request_id: string;
    args: unknown;
    args_sha256: string | null;
  },
  decision: Decision,
  result: Outcome,
): EventDraft {
  return createEvent(type, context, {}, callMembers(subject, decision, result));
}

/** Milliseconds since `started`, to 0.01 ms. */
function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
