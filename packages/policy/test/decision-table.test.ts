import { describe, expect, it } from 'vitest';
import { DecisionTable, MAX_MEMOIZED_TOOL_NAME, type ResolvedPolicy } from '../src/decision-table.js';

const RESOLVED: ResolvedPolicy = {
  version: 'v1',
  rules: [
    { index: 0, subject: 'agent:bot', pattern: 'x__*', effect: 'allow' },
    { index: 1, subject: 'role:staff', pattern: '*', effect: 'allow' },
    { index: 2, subject: '*', pattern: 'x__drop*', effect: 'deny' },
  ],
  rolesOf: new Map([['user:ann', ['role:staff']]]),
};

describe('decision table caches', () => {
  it('stay within their caps however many distinct tools, users and agents are asked about', () => {
    const table = new DecisionTable(RESOLVED, { subjects: 8, pairs: 4, toolsPerPair: 16 });
    const reference = new DecisionTable(RESOLVED);
    for (let i = 0; i < 2000; i++) {
      const agent = i % 3 === 0 ? 'bot' : `agent-${i % 50}`;
      const user = i % 2 === 0 ? 'ann' : `user-${i % 30}`;
      const tool = i % 5 === 0 ? `x__drop_${i}` : `x__tool_${i}`;
      expect(table.decide(agent, user, tool)).toEqual(reference.decide(agent, user, tool));
    }
    const stats = table.stats();
    expect(stats.subjects).toBeLessThanOrEqual(8);
    expect(stats.pairs).toBeLessThanOrEqual(4);
    expect(stats.memoized).toBeLessThanOrEqual(4 * 16);
  });

  it('decides but does not memoize very long tool names', () => {
    const table = new DecisionTable(RESOLVED);
    const long = `x__${'a'.repeat(MAX_MEMOIZED_TOOL_NAME)}`;
    expect(table.decide('bot', null, long)).toEqual({
      allowed: true,
      rule: `allow agent:bot x__*`,
      policy_version: 'v1',
    });
    expect(table.stats().memoized).toBe(0);
  });

  it('returns the same frozen decision for a repeated question', () => {
    const table = new DecisionTable(RESOLVED);
    const first = table.decide('bot', 'ann', 'x__read');
    expect(table.decide('bot', 'ann', 'x__read')).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(first).toEqual({
      allowed: true,
      rule: 'allow agent:bot x__* + allow role:staff * (user:ann)',
      policy_version: 'v1',
    });
  });

  it('keeps (agent, user) pairs apart whatever characters the names contain', () => {
    const table = new DecisionTable({
      version: 'v',
      rules: [
        { index: 0, subject: 'agent:a', pattern: '*', effect: 'allow' },
        { index: 1, subject: 'agent:a\u0000b', pattern: '*', effect: 'allow' },
        { index: 2, subject: 'user:b\u0000c', pattern: '*', effect: 'allow' },
      ],
      rolesOf: new Map(),
    });
    expect(table.decide('a', 'b\u0000c', 't').allowed).toBe(true);
    expect(table.decide('a\u0000b', 'c', 't').allowed).toBe(false);
  });
});
