import { ChainRegistry, events, sha256Hex, type GatehouseEvent } from '@gatehouse/events';

/**
 * Realistic sealed `call.attempted` events for log tests: `count` calls of one session, chained
 * with `registry` (pass the same registry to continue a session across calls).
 */
export function sessionCalls(
  sessionId: string,
  count: number,
  registry = new ChainRegistry(),
): GatehouseEvent[] {
  const out: GatehouseEvent[] = [];
  for (let i = 0; i < count; i++) {
    const args = { ticket_id: `T-${1000 + i}`, include_history: i % 2 === 0 };
    out.push(
      registry.seal(
        events.callAttempted(
          {
            session_id: sessionId,
            agent: 'support-bot',
            user: 'alice',
            scopes: ['tools:call'],
            client_ip: '10.0.0.7',
            user_agent: 'agent/1.0',
          },
          {
            server: 'support',
            tool: 'support__read_ticket',
            request_id: String(i),
            args,
            args_sha256: sha256Hex(JSON.stringify(args)),
          },
          {
            allowed: true,
            rule: 'allow agent:support-bot support__read_ticket',
            policy_version: 'a'.repeat(64),
          },
        ),
      ),
    );
  }
  return out;
}
