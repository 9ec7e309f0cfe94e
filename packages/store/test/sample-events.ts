import { ChainRegistry, createEvent, sha256Hex, type Decision, type GatehouseEvent } from '@gatehouse/events';

/** Sealed sample events with controlled timestamps: what an ingress would have appended. */
export class SampleEvents {
  readonly chains = new ChainRegistry();

  policy(
    atMs: number,
    rules: string[][] = [['p', 'agent:support-bot', 'support__read_ticket']],
  ): GatehouseEvent {
    const version = sha256Hex(JSON.stringify(rules));
    return this.chains.seal(
      createEvent(
        'policy.published',
        { session_id: 'policy' },
        { version, model: 'm', rules, source: 'test' },
        {},
        atMs,
      ),
    );
  }

  catalog(server: string, atMs: number, tools: string[]): GatehouseEvent {
    const data = {
      version: sha256Hex(`${server}:${tools.join(',')}`),
      tools: tools.map((name) => ({ name, description: null, input_schema_sha256: sha256Hex(name) })),
    };
    return this.chains.seal(
      createEvent('catalog.published', { session_id: `catalog:${server}` }, data, { server }, atMs),
    );
  }

  /**
   * One MCP session of `agent`: started, tools listed, then per call an attempted event followed by
   * completed (ok), denied or failed. Events are 1 ms apart from `startMs`.
   */
  session(
    sessionId: string,
    agent: string,
    startMs: number,
    calls: { tool: string; result: 'ok' | 'tool-error' | 'denied' | 'failed' }[],
    user = agent,
  ): GatehouseEvent[] {
    const ctx = {
      session_id: sessionId,
      agent,
      user,
      scopes: ['mcp'],
      client_ip: '127.0.0.1',
      user_agent: 'test-agent/1.0',
    };
    let t = startMs;
    const out: GatehouseEvent[] = [];
    const seal = (draft: Parameters<ChainRegistry['seal']>[0]) => {
      const event = this.chains.seal(draft);
      out.push(event);
      return event;
    };
    seal(
      createEvent(
        'session.started',
        ctx,
        { protocol_version: '2025-06-18', client_name: 'test', client_version: '1' },
        {},
        t++,
      ),
    );
    seal(
      createEvent(
        'tools.listed',
        ctx,
        { tools: calls.map((c) => c.tool), policy_version: 'a'.repeat(64) },
        {},
        t++,
      ),
    );
    calls.forEach((call, i) => {
      const args = {
        ticket: i,
        note: 'héllo "quoted"; SELECT 1; --\n\t\\ \'x\' \u2028 😀',
        nested: { z: 1.5, a: [true, null] },
      };
      const subject = {
        server: 'support',
        tool: call.tool,
        request_id: String(i + 1),
        args,
        args_sha256: sha256Hex(JSON.stringify(args)),
      };
      const decision: Decision = {
        allowed: call.result !== 'denied',
        rule: call.result === 'denied' ? 'default-deny' : `allow agent:${agent} ${call.tool}`,
        policy_version: 'a'.repeat(64),
      };
      // As the ingress records them: a refused call is `call.denied` alone (nothing was attempted
      // upstream); an allowed one is `call.attempted` before forwarding, then its outcome.
      if (call.result !== 'denied')
        seal(createEvent('call.attempted', ctx, {}, { ...subject, decision }, t++));
      if (call.result === 'denied') {
        seal(
          createEvent(
            'call.denied',
            ctx,
            {},
            {
              ...subject,
              decision,
              outcome: {
                status: 'denied',
                latency_ms: 0,
                result_sha256: null,
                result_bytes: null,
                error: decision.rule,
              },
            },
            t++,
          ),
        );
      } else if (call.result === 'failed') {
        seal(
          createEvent(
            'call.failed',
            ctx,
            {},
            {
              ...subject,
              decision,
              outcome: {
                status: 'timeout',
                latency_ms: 30_000.25,
                result_sha256: null,
                result_bytes: null,
                error: 'upstream timed out',
              },
            },
            t++,
          ),
        );
      } else {
        seal(
          createEvent(
            'call.completed',
            ctx,
            {},
            {
              ...subject,
              decision,
              outcome: {
                status: call.result === 'ok' ? 'ok' : 'error',
                latency_ms: 0.1 + 0.2,
                result_sha256: sha256Hex(`r${i}`),
                result_bytes: 9_007_199_254_740_991,
                error: null,
              },
            },
            t++,
          ),
        );
      }
    });
    seal(createEvent('session.ended', ctx, { reason: 'client closed' }, {}, t++));
    return out;
  }
}
