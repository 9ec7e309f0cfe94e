import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import {
  loadPolicy,
  MAX_ROLE_DEPTH,
  parsePolicyConfig,
  policyConfigSchema,
  PolicyError,
} from '../src/index.js';

function problemsOf(value: unknown): string[] {
  try {
    parsePolicyConfig(value);
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).code).toBe('GH_ERR_POLICY_INVALID');
    return [...(error as PolicyError).problems];
  }
  throw new Error('expected the policy to be refused');
}

describe('policy configuration', () => {
  it('accepts the documented shape and defaults roles to []', () => {
    expect(
      parsePolicyConfig({
        rules: [
          ['agent:a', 'x__*', 'allow'],
          ['*', 'x__y', 'deny'],
        ],
      }),
    ).toEqual({
      rules: [
        ['agent:a', 'x__*', 'allow'],
        ['*', 'x__y', 'deny'],
      ],
      roles: [],
    });
  });

  it('names the rule index and the bad subject prefix', () => {
    expect(
      problemsOf({
        rules: [
          ['agent:a', 'x', 'allow'],
          ['client:bot', 'x', 'allow'],
        ],
      }),
    ).toEqual([
      'policy.rules[1][0]: rule #1: subject "client:bot" must be agent:<client_id>, user:<sub>, role:<name> or *',
    ]);
  });

  it('names the rule index and the bad effect', () => {
    expect(problemsOf({ rules: [['agent:a', 'x', 'permit']] })).toEqual([
      'policy.rules[0][2]: rule #0: effect "permit" must be allow or deny',
    ]);
  });

  it('names the rule index of an empty pattern', () => {
    expect(problemsOf({ rules: [['agent:a', '', 'allow']] })).toEqual([
      'policy.rules[0][1]: rule #0: tool pattern is empty (use "*" for every tool)',
    ]);
  });

  it('refuses empty names, wildcards inside names, wrong arity and duplicates', () => {
    expect(
      problemsOf({
        rules: [
          ['user:', 'x', 'allow'],
          ['user:*', 'x', 'allow'],
          ['agent:a', 'x'],
          ['agent:a', 'x', 'deny'],
          ['agent:a', 'x', 'deny'],
        ],
      }),
    ).toEqual([
      'policy.rules[0][0]: rule #0: subject "user:" has an empty name after "user:"',
      'policy.rules[1][0]: rule #1: subject "user:*": "*" is only valid as the whole subject (everyone), not inside a name',
      'policy.rules[2]: rule #2 must be [subject, tool pattern, allow|deny], got ["agent:a","x"]',
      'policy.rules[4]: rule #4 duplicates rule #3',
    ]);
  });

  it('checks role lines: member kinds, role prefix, self-membership', () => {
    expect(
      problemsOf({
        rules: [],
        roles: [
          ['*', 'role:a'],
          ['user:u', 'user:v'],
          ['role:a', 'role:a'],
        ],
      }),
    ).toEqual([
      'policy.roles[0][0]: role #0: member "*" must be agent:<client_id>, user:<sub> or role:<name>',
      'policy.roles[1][1]: role #1: role "user:v" must be role:<name>',
      'policy.roles[2]: role #2: role:a cannot hold itself',
    ]);
  });

  it('refuses role cycles, naming the cycle', () => {
    expect(
      problemsOf({
        rules: [],
        roles: [
          ['role:a', 'role:b'],
          ['role:b', 'role:c'],
          ['role:c', 'role:a'],
        ],
      }),
    ).toEqual(['policy.roles: roles form a cycle: role:a → role:b → role:c → role:a']);
  });

  it(`accepts a role chain of ${MAX_ROLE_DEPTH} hops and refuses a longer one (Casbin stops at ${MAX_ROLE_DEPTH})`, async () => {
    const chain = (hops: number) =>
      Array.from({ length: hops }, (_, i) => [i === 0 ? 'user:u' : `role:r${i}`, `role:r${i + 1}`]);
    const deepest = await loadPolicy(
      {
        rules: [[`role:r${MAX_ROLE_DEPTH}`, 't', 'allow']],
        roles: chain(MAX_ROLE_DEPTH) as [string, string][],
      },
      { source: 't' },
    );
    expect(await deepest.enforcer.enforce('user:u', 't')).toBe(true);
    expect(deepest.decide('a', 'u', 't').rule).toBe(`default-deny (agent:a)`);
    expect(problemsOf({ rules: [], roles: chain(MAX_ROLE_DEPTH + 1) })).toEqual([
      `policy.roles: role chain of 11 hops is deeper than the 10 Casbin resolves: user:u → ${Array.from({ length: 11 }, (_, i) => `role:r${i + 1}`).join(' → ')}`,
    ]);
  });

  it('reports its problems through zod with a path when embedded in a larger schema', () => {
    const result = z
      .strictObject({ policy: policyConfigSchema })
      .safeParse({ policy: { rules: [['agent:a', 'x', 'maybe']], extra: 1 } });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['policy', 'Unrecognized key: "extra"'],
      ['policy.rules.0.2', 'rule #0: effect "maybe" must be allow or deny'],
    ]);
  });

  it('makes loadPolicy fail with GH_ERR_POLICY_INVALID before touching Casbin', async () => {
    await expect(
      loadPolicy({ rules: [['agent:a', 'x', 'permit' as 'allow']] }, { source: 't' }),
    ).rejects.toMatchObject({
      code: 'GH_ERR_POLICY_INVALID',
      message: expect.stringContaining('rule #0: effect "permit"'),
    });
  });
});
