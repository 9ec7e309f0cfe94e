import { ChainRegistry, createEvent, sha256Hex, type GatehouseEvent } from '@gatehouse/events';

/** `count` sealed events spread over sessions of a few agents: call.attempted + call.completed pairs. */
export function sampleEvents(
  count: number,
  options: { sessions?: number; startMs?: number; chains?: ChainRegistry } = {},
): GatehouseEvent[] {
  const chains = options.chains ?? new ChainRegistry();
  const sessions = options.sessions ?? 10;
  const start = options.startMs ?? Date.UTC(2026, 10, 24, 9);
  const out: GatehouseEvent[] = [];
  for (let i = 0; i < count; i++) {
    const session = i % sessions;
    const ctx = {
      session_id: `sess-${session}`,
      agent: `agent-${session % 3}`,
      user: `user-${session % 2}`,
      scopes: ['mcp'],
    };
    const call = {
      server: 'support',
      tool: `support__tool_${i % 6}`,
      request_id: String(i),
      args: { ticket: i },
      args_sha256: sha256Hex(String(i)),
    };
    const decision = { allowed: true, rule: 'allow', policy_version: 'a'.repeat(64) };
    const draft =
      i % 2 === 0
        ? createEvent('call.attempted', ctx, {}, { ...call, decision }, start + i)
        : createEvent(
            'call.completed',
            ctx,
            {},
            {
              ...call,
              decision,
              outcome: {
                status: 'ok',
                latency_ms: 3,
                result_sha256: sha256Hex(`r${i}`),
                result_bytes: 42,
                error: null,
              },
            },
            start + i,
          );
    out.push(chains.seal(draft));
  }
  return out;
}
