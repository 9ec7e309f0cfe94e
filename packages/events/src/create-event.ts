import type { EventDraft } from './hash-chain.js';
import type { Decision, EventOf, EventType, Outcome } from './schema.js';
import { EVENT_SCHEMA_VERSION } from './schema.js';
import { uuidv7 } from './uuidv7.js';

/** Who and where: the fields every event of one MCP session shares. */
export interface EventContext {
  session_id: string;
  agent?: string | null;
  user?: string | null;
  scopes?: readonly string[];
  client_ip?: string | null;
  user_agent?: string | null;
}

/** What a tool call is about: the fields shared by the call.* events of one request. */
export interface CallSubject {
  server: string;
  tool: string;
  request_id: string;
  /** Arguments after redaction. */
  args: unknown;
  /**
   * SHA-256 of the canonical JSON of the arguments before redaction; null where they have none (a
   * call refused because its arguments cannot be encoded).
   */
  args_sha256: string | null;
}

export type Extra = {
  server?: string | null;
  tool?: string | null;
  request_id?: string | null;
  args?: unknown;
  args_sha256?: string | null;
  decision?: Decision | null;
  outcome?: Outcome | null;
};

/**
 * Builds an unsealed event of `type`: a fresh UUIDv7 id, `ts` = now (ms, UTC), every optional
 * column null unless given. Seal it onto its chain with `sealEvent` / `ChainRegistry.seal`.
 *
 * Every string but `args` (stored as JSON text, escapes and all) is made well-formed UTF-16: a lone
 * surrogate (a JSON-RPC id of `"\ud800"`, a token claim, a tool name an upstream sends) becomes
 * U+FFFD. A string column in ClickHouse holds UTF-8, where a lone surrogate cannot be, so the row
 * read back would differ from what was sealed and verification would call an untouched record
 * edited — a way for a caller to hide later tampering behind a false alarm.
 */
export function createEvent<T extends EventType>(
  type: T,
  context: EventContext,
  data: EventOf<T>['data'],
  extra: Extra = {},
  nowMs: number = Date.now(),
): EventDraft {
  return {
    id: uuidv7(nowMs),
    type,
    v: EVENT_SCHEMA_VERSION,
    ts: new Date(nowMs).toISOString(),
    session_id: wellFormed(context.session_id),
    agent: wellFormed(context.agent ?? null),
    user: wellFormed(context.user ?? null),
    scopes: (context.scopes ?? []).map(wellFormed),
    client_ip: wellFormed(context.client_ip ?? null),
    user_agent: wellFormed(context.user_agent ?? null),
    server: wellFormed(extra.server ?? null),
    tool: wellFormed(extra.tool ?? null),
    request_id: wellFormed(extra.request_id ?? null),
    args: extra.args ?? null,
    args_sha256: extra.args_sha256 ?? null,
    decision: extra.decision ? wellFormedMembers(extra.decision) : null,
    outcome: extra.outcome ? wellFormedMembers(extra.outcome) : null,
    data: wellFormedMembers(data),
  } as EventDraft;
}

/** `text` with every lone surrogate replaced by U+FFFD (the same string when there is none). */
export function wellFormed<S extends string | null>(text: S): S {
  return text === null || text.isWellFormed() ? text : (text.toWellFormed() as S);
}

/** `value` with `wellFormed` applied to every string in it, copied only where something changed. */
function wellFormedMembers<V>(value: V): V {
  if (typeof value === 'string') return wellFormed(value) as V;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((item: unknown, i) => {
      const fixed = wellFormedMembers(item);
      if (fixed !== item) (out ??= [...value])[i] = fixed;
    });
    return (out ?? value) as V;
  }
  let out: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const fixed = wellFormedMembers(item);
    const fixedKey = wellFormed(key);
    if (fixed !== item || fixedKey !== key) {
      out ??= { ...(value as Record<string, unknown>) };
      if (fixedKey !== key) delete out[key];
      out[fixedKey] = fixed;
    }
  }
  return (out ?? value) as V;
}

/**
 * The members of a call.* event beyond its context: the call, its decision and (once known) its
 * outcome, as one literal. `{ ...call, decision }` would do the same, but V8 takes a slow path to add
 * members to a spread copy, and this runs for every call the gateway sees.
 */
export function callMembers(
  call: Omit<CallSubject, 'server'> & { server: string | null },
  decision: Decision | null,
  outcome: Outcome | null = null,
): Extra {
  return {
    server: call.server,
    tool: call.tool,
    request_id: call.request_id,
    args: call.args,
    args_sha256: call.args_sha256,
    decision,
    outcome,
  };
}

/** One constructor per event type, each naming exactly what that type must carry. */
export const events = {
  sessionStarted: (ctx: EventContext, data: EventOf<'session.started'>['data']) =>
    createEvent('session.started', ctx, data),
  sessionEnded: (ctx: EventContext, reason: string) => createEvent('session.ended', ctx, { reason }),
  toolsListed: (ctx: EventContext, tools: string[], policyVersion: string) =>
    createEvent('tools.listed', ctx, { tools, policy_version: policyVersion }),
  callAttempted: (ctx: EventContext, call: CallSubject, decision: Decision) =>
    createEvent('call.attempted', ctx, {}, callMembers(call, decision)),
  callDenied: (ctx: EventContext, call: CallSubject, decision: Decision) =>
    createEvent(
      'call.denied',
      ctx,
      {},
      callMembers(call, decision, {
        status: 'denied',
        latency_ms: 0,
        result_sha256: null,
        result_bytes: null,
        error: decision.rule,
      }),
    ),
  callCompleted: (ctx: EventContext, call: CallSubject, decision: Decision, outcome: Outcome) =>
    createEvent('call.completed', ctx, {}, callMembers(call, decision, outcome)),
  callFailed: (ctx: EventContext, call: CallSubject, decision: Decision | null, outcome: Outcome) =>
    createEvent('call.failed', ctx, {}, callMembers(call, decision, outcome)),
  authRejected: (ctx: EventContext, data: EventOf<'auth.rejected'>['data']) =>
    createEvent('auth.rejected', ctx, data),
  /** On the `policy` stream, or `stream` (a process that cannot continue that chain: see the ingress option `runId`). */
  policyPublished: (data: EventOf<'policy.published'>['data'], stream = 'policy') =>
    createEvent('policy.published', { session_id: stream }, data),
  /** On the `catalog:<server>` stream, or `stream`. */
  catalogPublished: (
    server: string,
    data: EventOf<'catalog.published'>['data'],
    stream = `catalog:${server}`,
  ) => createEvent('catalog.published', { session_id: stream }, data, { server }),
  checkpointSigned: (stream: string, data: EventOf<'checkpoint.signed'>['data']) =>
    createEvent('checkpoint.signed', { session_id: stream }, data),
  queryExecuted: (ctx: EventContext, data: EventOf<'query.executed'>['data']) =>
    createEvent('query.executed', ctx, data),
};
