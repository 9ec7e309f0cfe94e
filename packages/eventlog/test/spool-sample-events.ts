import { ChainRegistry, events, sha256Hex, type GatehouseEvent } from '@gatehouse/events';

/**
 * A session's call: `call.attempted` then `call.completed`, `count` times, sealed on one chain;
 * returns them in chain order. Outcome events (`call.completed`) are at odd indexes.
 */
export function sessionWithOutcomes(
  sessionId: string,
  count: number,
  registry = new ChainRegistry(),
): GatehouseEvent[] {
  const ctx = { session_id: sessionId, agent: 'support-bot', user: 'alice', scopes: ['tools:call'] };
  const decision = {
    allowed: true,
    rule: 'allow agent:support-bot support__read_ticket',
    policy_version: 'b'.repeat(64),
  };
  const out: GatehouseEvent[] = [];
  for (let i = 0; i < count; i++) {
    const args = { ticket_id: `T-${i}` };
    const call = {
      server: 'support',
      tool: 'support__read_ticket',
      request_id: String(i),
      args,
      args_sha256: sha256Hex(JSON.stringify(args)),
    };
    out.push(registry.seal(events.callAttempted(ctx, call, decision)));
    out.push(
      registry.seal(
        events.callCompleted(ctx, call, decision, {
          status: 'ok',
          latency_ms: 3,
          result_sha256: sha256Hex(`r${i}`),
          result_bytes: 42,
          error: null,
        }),
      ),
    );
  }
  return out;
}
