import { describe, expect, it } from 'vitest';
import { ChainRegistry, createEvent, sha256Hex, type Decision, type GatehouseEvent } from '@gatehouse/events';
import { csvHeader, csvLine } from '../src/export-format.js';
import { describeValidation } from '../src/http-errors.js';
import { evaluateCapabilities, whatIf, WhatIfTally, type DecidingPolicy } from '../src/index.js';

/** Allows exactly the listed tools, naming the rule after the tool. */
function allowOnly(version: string, tools: string[]): DecidingPolicy {
  return {
    version,
    decide: (_agent, _user, tool): Decision =>
      tools.includes(tool)
        ? { allowed: true, rule: `allow ${tool}`, policy_version: version }
        : { allowed: false, rule: 'default-deny', policy_version: version },
  };
}

function session(calls: [tool: string, allowed: boolean, rule: string][]): GatehouseEvent[] {
  const chains = new ChainRegistry();
  const ctx = { session_id: 's', agent: 'bot', user: 'bot' };
  const out = [
    chains.seal(
      createEvent('session.started', ctx, {
        protocol_version: null,
        client_name: null,
        client_version: null,
      }),
    ),
  ];
  calls.forEach(([tool, allowed, rule], i) => {
    const call = {
      server: 'support',
      tool,
      request_id: String(i),
      args: { note: 'a,"b"' },
      args_sha256: sha256Hex('x'),
    };
    const decision = { allowed, rule, policy_version: 'v1' };
    out.push(chains.seal(createEvent('call.attempted', ctx, {}, { ...call, decision })));
    out.push(
      chains.seal(createEvent(allowed ? 'call.completed' : 'call.denied', ctx, {}, { ...call, decision })),
    );
  });
  return out;
}

describe('whatIf', () => {
  it('re-decides each call once (from call.attempted) and reports only calls whose outcome flips', () => {
    const events = session([
      ['support__read_ticket', true, 'allow support__read_ticket'],
      ['support__draft_reply', true, 'allow support__draft_reply'],
      ['support__export_customers', false, 'default-deny'],
    ]);
    const result = whatIf(allowOnly('v2', ['support__read_ticket', 'support__export_customers']), events);
    expect(result.changes.map((c) => [c.seq, c.tool, c.would])).toEqual([
      [3, 'support__draft_reply', { allowed: false, rule: 'default-deny' }],
      [5, 'support__export_customers', { allowed: true, rule: 'allow support__export_customers' }],
    ]);
    expect(result.unchanged).toBe(1);
  });

  it('re-decides a call refused outright (call.denied without call.attempted, as the ingress records it)', () => {
    const chains = new ChainRegistry();
    const ctx = { session_id: 's', agent: 'bot', user: 'alice' };
    const call = {
      server: 'support',
      tool: 'support__issue_refund',
      request_id: '7',
      args: {},
      args_sha256: sha256Hex('{}'),
    };
    const decision = { allowed: false, rule: 'default-deny', policy_version: 'v1' };
    const denied = chains.seal(createEvent('call.denied', ctx, {}, { ...call, decision }));
    const result = whatIf(allowOnly('v2', ['support__issue_refund']), [denied]);
    expect(result.changes).toEqual([
      expect.objectContaining({
        seq: 0,
        tool: 'support__issue_refund',
        would: { allowed: true, rule: 'allow support__issue_refund' },
      }),
    ]);
  });

  it('re-decides a refusal that reuses the request id of an earlier, ended call', () => {
    const chains = new ChainRegistry();
    const ctx = { session_id: 's', agent: 'bot', user: 'alice' };
    const call = (tool: string) => ({
      server: 'support',
      tool,
      request_id: '1',
      args: {},
      args_sha256: sha256Hex('{}'),
    });
    const allowed = { allowed: true, rule: 'allow', policy_version: 'v1' };
    const refused = { allowed: false, rule: 'default-deny', policy_version: 'v1' };
    const events = [
      chains.seal(
        createEvent('call.attempted', ctx, {}, { ...call('support__read_ticket'), decision: allowed }),
      ),
      chains.seal(
        createEvent('call.completed', ctx, {}, { ...call('support__read_ticket'), decision: allowed }),
      ),
      chains.seal(
        createEvent('call.denied', ctx, {}, { ...call('support__export_customers'), decision: refused }),
      ),
    ];
    const result = whatIf(allowOnly('v2', ['support__read_ticket', 'support__export_customers']), events);
    expect(result.changes.map((c) => [c.seq, c.tool, c.would.allowed])).toEqual([
      [2, 'support__export_customers', true],
    ]);
    expect(result.unchanged).toBe(1);
  });

  it('leaves calls the gateway refused on its own (unknown tool, arguments it could not audit) unchanged', () => {
    const chains = new ChainRegistry();
    const ctx = { session_id: 's', agent: 'bot', user: 'bot' };
    const refused = (tool: string, rule: string) =>
      chains.seal(
        createEvent(
          'call.denied',
          ctx,
          {},
          {
            server: null,
            tool,
            request_id: tool,
            args: null,
            args_sha256: null,
            decision: { allowed: false, rule, policy_version: 'v1' },
          },
        ),
      );
    const result = whatIf(allowOnly('v2', ['support__no_such_tool', 'support__read_ticket']), [
      refused('support__no_such_tool', 'unknown-tool'),
      refused('support__read_ticket', 'arguments-unencodable'),
    ]);
    expect(result).toEqual({ changes: [], unchanged: 2 });
  });

  it('re-decides a call whose user equals its agent as a user’s, unless that agent may act for itself', () => {
    const chains = new ChainRegistry();
    const ctx = { session_id: 's', agent: 'ops-agent', user: 'ops-agent' };
    const call = {
      server: 'support',
      tool: 'support__export_customers',
      request_id: '1',
      args: {},
      args_sha256: sha256Hex('{}'),
    };
    // Recorded as the ingress decided it with ops-agent not self-acting: agent ∩ user:ops-agent.
    const decision = { allowed: false, rule: 'default-deny (user:ops-agent)', policy_version: 'v1' };
    const denied = chains.seal(createEvent('call.denied', ctx, {}, { ...call, decision }));
    // The candidate policy allows the agent, and a user only when named.
    const policy: DecidingPolicy = {
      version: 'v2',
      decide: (agent, user, tool): Decision =>
        user === null && agent === 'ops-agent'
          ? { allowed: true, rule: `allow agent:ops-agent ${tool}`, policy_version: 'v2' }
          : { allowed: false, rule: `default-deny (user:${user})`, policy_version: 'v2' },
    };
    expect(whatIf(policy, [denied], (agent) => agent === 'support-bot')).toEqual({
      changes: [],
      unchanged: 1,
    });
    // Every agent self-acting (the default): the same call would be allowed.
    expect(whatIf(policy, [denied]).changes).toHaveLength(1);
  });

  it('answers the same given the session a page at a time, calls straddling pages included', () => {
    const events = session(
      Array.from({ length: 9 }, (_, i): [string, boolean, string] =>
        i % 3 === 0
          ? ['support__export_customers', false, 'default-deny']
          : ['support__read_ticket', true, 'allow support__read_ticket'],
      ),
    );
    const policy = allowOnly('v2', ['support__export_customers']);
    const whole = whatIf(policy, events);
    expect(whole.changes).toHaveLength(9);
    for (const size of [1, 2, 3, 4, 5]) {
      const tally = new WhatIfTally(policy);
      for (let from = 0; from < events.length; from += size) tally.add(events.slice(from, from + size));
      expect(tally.result()).toEqual(whole);
    }
  });

  it('does not count a different deciding rule with the same outcome as a change', () => {
    const result = whatIf(
      allowOnly('v2', ['support__read_ticket']),
      session([['support__read_ticket', true, 'allow role:staff support__*']]),
    );
    expect(result).toEqual({ changes: [], unchanged: 1 });
  });
});

describe('evaluateCapabilities', () => {
  it('lists every catalog tool once, namespaced and sorted, with the decision for each', () => {
    const chains = new ChainRegistry();
    const catalog = (server: string, names: string[]) =>
      chains.seal(
        createEvent(
          'catalog.published',
          { session_id: `catalog:${server}` },
          {
            version: sha256Hex(server),
            tools: names.map((name) => ({ name, description: null, input_schema_sha256: sha256Hex(name) })),
          },
          { server },
        ),
      ) as Parameters<typeof evaluateCapabilities>[1][number];
    const tools = evaluateCapabilities(
      allowOnly('v', ['b__one']),
      [catalog('b', ['b__one', 'two']), catalog('a', ['a__x'])],
      'bot',
      null,
    );
    expect(tools).toEqual([
      { name: 'a__x', allowed: false, rule: 'default-deny' },
      { name: 'b__one', allowed: true, rule: 'allow b__one' },
      { name: 'b__two', allowed: false, rule: 'default-deny' },
    ]);
  });
});

describe('CSV export', () => {
  it('quotes cells holding commas, quotes or line breaks (RFC 4180) and leaves nulls empty', () => {
    const [, attempted] = session([['support__read_ticket', false, 'deny "x", y']]);
    const line = csvLine(attempted!);
    expect(csvHeader().split(',')).toContain('rule');
    expect(line).toContain(',false,"deny ""x"", y",v1,');
    expect(line.endsWith('\r\n')).toBe(true);
  });
});

describe('describeValidation', () => {
  it('names the parameter and what it must be', () => {
    expect(
      describeValidation('querystring', {
        instancePath: '/at',
        keyword: 'format',
        params: { format: 'date-time' },
      }),
    ).toBe('querystring/at must be an ISO 8601 date-time (e.g. 2026-11-24T14:00:00Z)');
    expect(
      describeValidation('querystring', {
        instancePath: '',
        keyword: 'additionalProperties',
        params: { additionalProperty: 'agnet' },
      }),
    ).toBe('querystring/agnet is not a known parameter');
    expect(
      describeValidation('querystring', {
        instancePath: '/format',
        keyword: 'enum',
        params: { allowedValues: ['json', 'csv'] },
      }),
    ).toBe('querystring/format must be one of "json", "csv"');
  });
});
