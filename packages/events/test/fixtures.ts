import {
  ChainRegistry,
  events,
  sha256Hex,
  type CallSubject,
  type Decision,
  type EventContext,
  type EventDraft,
  type GatehouseEvent,
  type Outcome,
} from '../src/index.js';

/** Test fixtures: a session context, a call and one draft of every event type. */
export const ctx: EventContext = {
  session_id: 'sess-1',
  agent: 'support-bot',
  user: 'alice',
  scopes: ['mcp:tools'],
  client_ip: '127.0.0.1',
  user_agent: 'vitest',
};

export const call: CallSubject = {
  server: 'support',
  tool: 'support__read_ticket',
  request_id: '7',
  args: { ticket: 42 },
  args_sha256: sha256Hex('{"ticket":42}'),
};

export const allow: Decision = {
  allowed: true,
  rule: 'allow agent:support-bot support__read_ticket',
  policy_version: 'a'.repeat(64),
};
export const deny: Decision = { allowed: false, rule: 'default-deny', policy_version: 'a'.repeat(64) };
export const ok: Outcome = {
  status: 'ok',
  latency_ms: 12.5,
  result_sha256: 'b'.repeat(64),
  result_bytes: 120,
  error: null,
};
export const failed: Outcome = {
  status: 'timeout',
  latency_ms: 30_000,
  result_sha256: null,
  result_bytes: null,
  error: 'upstream timed out',
};

/** One draft of every event type, keyed by type. */
export function draftsByType(context: EventContext = ctx): Record<GatehouseEvent['type'], EventDraft> {
  return {
    'session.started': events.sessionStarted(context, {
      protocol_version: '2025-06-18',
      client_name: 'c',
      client_version: '1',
    }),
    'session.ended': events.sessionEnded(context, 'client closed'),
    'tools.listed': events.toolsListed(context, ['support__read_ticket'], 'a'.repeat(64)),
    'call.attempted': events.callAttempted(context, call, allow),
    'call.denied': events.callDenied(context, call, deny),
    'call.completed': events.callCompleted(context, call, allow, ok),
    'call.failed': events.callFailed(context, call, allow, failed),
    'auth.rejected': events.authRejected(context, {
      http_status: 401,
      reason: 'token_expired',
      method: 'POST',
      path: '/mcp',
    }),
    'policy.published': events.policyPublished({
      version: 'c'.repeat(64),
      model: '[request_definition]',
      rules: [['p', 'a', 'b']],
      source: 'gatehouse.yaml',
    }),
    'catalog.published': events.catalogPublished('support', {
      version: 'd'.repeat(64),
      tools: [{ name: 'support__read_ticket', description: null, input_schema_sha256: 'e'.repeat(64) }],
    }),
    'checkpoint.signed': events.checkpointSigned('checkpoints', {
      jws: 'x.y.z',
      kid: 'k1',
      heads: [{ session_id: 'sess-1', seq: 3, hash: 'f'.repeat(64) }],
    }),
    'query.executed': events.queryExecuted(context, {
      endpoint: '/v1/sessions',
      params: { agent: 'support-bot' },
      status: 200,
    }),
  };
}

/** A sealed chain of `length` events of one session: session.started, then call events. */
export function buildChain(length: number, sessionId = 'sess-1'): GatehouseEvent[] {
  const registry = new ChainRegistry();
  const context = { ...ctx, session_id: sessionId };
  const out: GatehouseEvent[] = [];
  for (let i = 0; i < length; i++) {
    const draft =
      i === 0
        ? events.sessionStarted(context, {
            protocol_version: '2025-06-18',
            client_name: 'c',
            client_version: '1',
          })
        : events.callAttempted(context, { ...call, request_id: String(i) }, allow);
    out.push(registry.seal(draft));
  }
  return out;
}
