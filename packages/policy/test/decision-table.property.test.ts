/**
 * The compiled decision table must agree with Casbin's `enforce` on every query: random policies
 * (subjects, roles with chains, `*` patterns, allow and deny) and random (agent, user, tool)
 * queries. Casbin is the reference; the table is what the hot path uses.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  compileToolPattern,
  loadPolicy,
  type PolicyEffect,
  type PolicyRule,
  type RoleAssignment,
} from '../src/index.js';

const AGENTS = ['a1', 'a2', 'a3'];
const USERS = ['u1', 'u2', 'u3'];
const ROLES = ['role:r0', 'role:r1', 'role:r2', 'role:r3', 'role:r4', 'role:r5'];

const toolName = fc.array(fc.constantFrom('a', 'b', '_'), { maxLength: 7 }).map((cs) => cs.join(''));
const pattern = fc
  .array(fc.constantFrom('a', 'b', '_', '*'), { minLength: 1, maxLength: 6 })
  .map((cs) => cs.join(''));
const subject = fc.oneof(
  fc.constant('*'),
  fc.constantFrom(...AGENTS.map((a) => `agent:${a}`)),
  fc.constantFrom(...USERS.map((u) => `user:${u}`)),
  fc.constantFrom(...ROLES),
);
const effect = fc.constantFrom<PolicyEffect>('allow', 'deny');
const rules = fc.uniqueArray(fc.tuple(subject, pattern, effect), {
  maxLength: 24,
  selector: (r) => r.join('\u0000'),
});

/** Role edges that can only point "upwards" (r_i → r_j with i < j), so chains form but never cycles. */
const roleEdge = fc.oneof(
  fc.tuple(
    fc.constantFrom(...AGENTS.map((a) => `agent:${a}`), ...USERS.map((u) => `user:${u}`)),
    fc.constantFrom(...ROLES),
  ),
  fc
    .tuple(fc.integer({ min: 0, max: ROLES.length - 2 }), fc.integer({ min: 1, max: ROLES.length - 1 }))
    .filter(([i, j]) => i < j)
    .map(([i, j]) => [ROLES[i]!, ROLES[j]!] as [string, string]),
);
const roles = fc.uniqueArray(roleEdge, { maxLength: 12, selector: (r) => r.join('\u0000') });

const query = fc.record({
  agent: fc.constantFrom(...AGENTS, 'a9'),
  user: fc.oneof(fc.constant(null), fc.constantFrom(...USERS, 'u9'), fc.constant('same-as-agent')),
  tool: toolName,
});

describe('compiled decision table vs Casbin enforce (differential)', () => {
  it('allows exactly what enforce(agent) && enforce(user) allows, for random policies and queries', async () => {
    await fc.assert(
      fc.asyncProperty(
        rules,
        roles,
        fc.array(query, { minLength: 1, maxLength: 30 }),
        async (ruleList, roleList, queries) => {
          const policy = await loadPolicy(
            { rules: ruleList as PolicyRule[], roles: roleList as RoleAssignment[] },
            { source: 'property' },
          );
          for (const q of queries) {
            const user = q.user === 'same-as-agent' ? q.agent : q.user;
            const agentOk = await policy.enforcer.enforce(`agent:${q.agent}`, q.tool);
            // A user equal to the agent is intersected like any other; only null means "for itself".
            const userOk = user === null ? true : await policy.enforcer.enforce(`user:${user}`, q.tool);
            const decision = policy.decide(q.agent, user, q.tool);
            expect({ ...q, user, allowed: decision.allowed }).toEqual({
              ...q,
              user,
              allowed: agentOk && userOk,
            });
            expect(decision.policy_version).toBe(policy.version);
            if (decision.allowed) expect(decision.rule).toMatch(/^allow /);
            else expect(decision.rule).toMatch(/^(deny |default-deny \((agent|user):)/);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('agrees on awkward names too: separators, quotes, spaces, composed and decomposed accents, long role chains', async () => {
    // Characters Casbin's request and policy parsing could trip on, and look-alikes that must not match.
    const odd = ['a', '_', ',', ' ', '"', "'", '\\', ':', 'é', 'e\u0301', 'É'];
    const name = fc.array(fc.constantFrom(...odd), { minLength: 1, maxLength: 5 }).map((cs) => cs.join(''));
    const oddAgents = ['a,1', 'a b', 'é', 'e\u0301', 'role:x', 'user:y'];
    const oddUsers = ['u "q"', "u'1", 'u\\2', 'É', 'agent:a,1'];
    const chain = Array.from({ length: 10 }, (_, i) => `role:c${i}`);
    const oddTool = fc
      .tuple(fc.constantFrom('s', 's__x', 'e\u0301'), name)
      .map(([server, tool]) => `${server}__${tool}`);
    const oddPattern = fc.oneof(
      oddTool,
      fc.tuple(fc.constantFrom('s__', 's', 'e\u0301__', ''), name).map(([p, n]) => `${p}${n}*`),
      fc.constant('*'),
    );
    const oddSubject = fc.oneof(
      fc.constantFrom(...oddAgents.map((a) => `agent:${a}`), ...oddUsers.map((u) => `user:${u}`)),
      fc.constantFrom(...chain),
    );
    const oddRules = fc.uniqueArray(fc.tuple(oddSubject, oddPattern, effect), {
      maxLength: 20,
      selector: (r) => r.join('\u0000'),
    });
    // A chain of up to 10 hops from a subject, the depth Casbin and the validator allow: subject → c0 → … → c9.
    const chainRoles = fc
      .integer({ min: 0, max: 9 })
      .map((hops) => [
        ...oddAgents.slice(0, 3).map((a) => [`agent:${a}`, chain[0]!] as RoleAssignment),
        ...oddUsers.slice(0, 2).map((u) => [`user:${u}`, chain[0]!] as RoleAssignment),
        ...Array.from({ length: hops }, (_, i) => [chain[i]!, chain[i + 1]!] as RoleAssignment),
      ]);
    const oddQuery = fc.record({
      agent: fc.constantFrom(...oddAgents),
      user: fc.oneof(fc.constant(null), fc.constantFrom(...oddUsers, ...oddAgents)),
      tool: oddTool,
    });
    let loaded = 0;
    let allowedSeen = 0;
    await fc.assert(
      fc.asyncProperty(
        oddRules,
        chainRoles,
        fc.array(oddQuery, { minLength: 1, maxLength: 20 }),
        async (ruleList, roleList, queries) => {
          const policy = await loadPolicy(
            { rules: ruleList as PolicyRule[], roles: roleList },
            { source: 'property' },
          );
          loaded++;
          for (const q of queries) {
            const agentOk = await policy.enforcer.enforce(`agent:${q.agent}`, q.tool);
            const userOk = q.user === null ? true : await policy.enforcer.enforce(`user:${q.user}`, q.tool);
            const allowed = policy.decide(q.agent, q.user, q.tool).allowed;
            if (allowed) allowedSeen++;
            expect({ ...q, allowed }).toEqual({
              ...q,
              allowed: agentOk && userOk,
            });
          }
        },
      ),
      { numRuns: 150 },
    );
    expect(loaded).toBe(150);
    expect(allowedSeen).toBeGreaterThan(0); // not only denials: the comparison says something
  });

  it('names a deciding rule that exists in the policy and matches the tool', async () => {
    await fc.assert(
      fc.asyncProperty(rules, roles, query, async (ruleList, roleList, q) => {
        const policy = await loadPolicy(
          { rules: ruleList as PolicyRule[], roles: roleList as RoleAssignment[] },
          { source: 'property' },
        );
        const user = q.user === 'same-as-agent' ? null : q.user;
        const { rule } = policy.decide(q.agent, user, q.tool);
        for (const part of rule.split(' + ')) {
          if (part.startsWith('default-deny')) continue;
          const [eft, sub, pat] = part.replace(/ \((agent|user):[^)]*\)$/, '').split(' ');
          expect(ruleList).toContainEqual([sub, pat, eft]);
          expect(compileToolPattern(pat!)(q.tool)).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('never calls Casbin when deciding or listing', async () => {
    const policy = await loadPolicy(
      {
        rules: [
          ['role:staff', 's__*', 'allow'],
          ['*', 's__secret', 'deny'],
          ['agent:a1', '*', 'allow'],
        ],
        roles: [['user:u1', 'role:staff']],
      },
      { source: 'spy' },
    );
    const enforcer = policy.enforcer;
    const spies = [
      vi.spyOn(enforcer, 'enforce'),
      vi.spyOn(enforcer, 'enforceSync'),
      vi.spyOn(enforcer, 'enforceEx'),
      vi.spyOn(enforcer, 'enforceExSync'),
      vi.spyOn(enforcer, 'enforceWithSyncCompile'),
      vi.spyOn(enforcer, 'getImplicitRolesForUser'),
      vi.spyOn(enforcer, 'getPolicy'),
    ];
    const tools = ['s__read', 's__secret', 'x__y', 'z'];
    for (const user of [null, 'u1', 'u2', 'a1']) {
      for (const tool of tools) policy.decide('a1', user, tool);
      policy.visibleTools('a1', user, tools);
    }
    expect(policy.visibleTools('a1', 'u1', tools)).toEqual(['s__read']);
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
  });
});

describe('tool patterns', () => {
  const reference = (p: string) =>
    new RegExp(
      `^${p
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[\\s\\S]*')}$`,
    );

  it('match like an anchored glob where * is any run of characters', () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.constantFrom('a', 'b', '_', '*', '.', '\n'), { minLength: 1, maxLength: 8 })
          .map((cs) => cs.join('')),
        fc.array(fc.constantFrom('a', 'b', '_', '*', '.', '\n'), { maxLength: 10 }).map((cs) => cs.join('')),
        (p, tool) => {
          expect(compileToolPattern(p)(tool)).toBe(reference(p).test(tool));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('treat everything but * literally', () => {
    expect(compileToolPattern('support__read.ticket')('support__readXticket')).toBe(false);
    expect(compileToolPattern('a+b')('aab')).toBe(false);
    expect(compileToolPattern('support__*')('support__')).toBe(true);
    expect(compileToolPattern('support__*')('xsupport__read')).toBe(false);
    expect(compileToolPattern('ab*ba')('aba')).toBe(false);
  });

  it('stay fast on hostile names that make backtracking regexes explode', () => {
    const hostile = 'a'.repeat(50_000);
    expect(compileToolPattern('*a*a*a*a*a*a*a*b')(hostile)).toBe(false);
  });
});
