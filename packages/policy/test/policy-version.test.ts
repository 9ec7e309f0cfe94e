import { canonicalJson, eventDataSchemas, sha256Hex } from '@gatehouse/events';
import { describe, expect, it } from 'vitest';
import {
  loadPolicy,
  policyFromPublished,
  POLICY_MODEL,
  PolicyError,
  policyVersion,
  type PolicyConfigInput,
} from '../src/index.js';

const CONFIG: PolicyConfigInput = {
  rules: [
    ['agent:support-bot', 'support__read_ticket', 'allow'],
    ['role:support-staff', 'support__*', 'allow'],
    ['role:support-staff', 'support__export_customers', 'deny'],
    ['user:admin', '*', 'allow'],
  ],
  roles: [['user:alice', 'role:support-staff']],
};

describe('policy version', () => {
  it('is the SHA-256 of the canonical JSON of model, rules and roles', async () => {
    const policy = await loadPolicy(CONFIG, { source: 'a.yaml' });
    expect(policy.version).toBe(
      sha256Hex(canonicalJson({ model: POLICY_MODEL, rules: CONFIG.rules, roles: CONFIG.roles })),
    );
  });

  it('is the same for the same content, whatever the source or key order', async () => {
    const a = await loadPolicy(CONFIG, { source: 'a.yaml' });
    const b = await loadPolicy({ roles: CONFIG.roles, rules: CONFIG.rules }, { source: 'elsewhere/b.yaml' });
    expect(b.version).toBe(a.version);
  });

  it('treats absent roles like an empty list', async () => {
    const a = await loadPolicy({ rules: CONFIG.rules }, { source: 'a' });
    const b = await loadPolicy({ rules: CONFIG.rules, roles: [] }, { source: 'b' });
    expect(b.version).toBe(a.version);
  });

  it('changes when a rule, an effect or a role changes', async () => {
    const base = await loadPolicy(CONFIG, { source: 'a' });
    const rules = [...CONFIG.rules];
    rules[2] = ['role:support-staff', 'support__export_customers', 'allow'];
    const flipped = await loadPolicy({ ...CONFIG, rules }, { source: 'a' });
    const extraRole = await loadPolicy(
      { ...CONFIG, roles: [...(CONFIG.roles ?? []), ['user:bob', 'role:support-staff']] },
      { source: 'a' },
    );
    expect(new Set([base.version, flipped.version, extraRole.version]).size).toBe(3);
  });

  it('is exported as a pure function of the validated config', () => {
    expect(policyVersion(POLICY_MODEL, { rules: CONFIG.rules, roles: CONFIG.roles ?? [] })).toMatch(
      /^[0-9a-f]{64}$/,
    );
  });
});

describe('publishedData', () => {
  it('is a valid policy.published payload carrying the model, p then g lines, version and source', async () => {
    const policy = await loadPolicy(CONFIG, { source: 'examples/support-desk/gatehouse.yaml' });
    const data = policy.publishedData();
    expect(eventDataSchemas['policy.published'].parse(data)).toEqual(data);
    expect(data).toEqual({
      version: policy.version,
      model: POLICY_MODEL,
      rules: [
        ['p', 'agent:support-bot', 'support__read_ticket', 'allow'],
        ['p', 'role:support-staff', 'support__*', 'allow'],
        ['p', 'role:support-staff', 'support__export_customers', 'deny'],
        ['p', 'user:admin', '*', 'allow'],
        ['g', 'user:alice', 'role:support-staff'],
      ],
      source: 'examples/support-desk/gatehouse.yaml',
    });
  });

  it('hands out a copy: mutating it does not change the policy', async () => {
    const policy = await loadPolicy(CONFIG, { source: 'a' });
    policy.publishedData().rules[0]![3] = 'deny';
    expect(policy.publishedData().rules[0]![3]).toBe('allow');
  });
});

describe('policyFromPublished', () => {
  it('rebuilds a policy with the same version, rules and decisions', async () => {
    const original = await loadPolicy(CONFIG, { source: 'a.yaml' });
    const rebuilt = await policyFromPublished(original.publishedData());
    expect(rebuilt.version).toBe(original.version);
    expect(rebuilt.publishedData()).toEqual(original.publishedData());
    for (const [agent, user] of [
      ['support-bot', null],
      ['support-bot', 'alice'],
      ['ops', 'admin'],
    ] as const) {
      for (const tool of ['support__read_ticket', 'support__export_customers', 'billing__charge']) {
        expect(rebuilt.decide(agent, user, tool)).toEqual(original.decide(agent, user, tool));
      }
    }
  });

  it('refuses a payload whose version is not the hash of its content', async () => {
    const data = (await loadPolicy(CONFIG, { source: 'a' })).publishedData();
    data.rules[2] = ['p', 'role:support-staff', 'support__export_customers', 'allow'];
    await expect(policyFromPublished(data)).rejects.toMatchObject({ code: 'GH_ERR_POLICY_VERSION_MISMATCH' });
  });

  it('refuses a payload with a model it cannot evaluate', async () => {
    const data = { ...(await loadPolicy(CONFIG, { source: 'a' })).publishedData(), model: 'gatehouse-v1' };
    await expect(policyFromPublished(data)).rejects.toMatchObject({
      code: 'GH_ERR_POLICY_MODEL_UNSUPPORTED',
    });
  });

  it('names the malformed line of a payload', async () => {
    const data = (await loadPolicy(CONFIG, { source: 'a' })).publishedData();
    data.rules.splice(1, 0, ['x', 'agent:a', 'b']);
    const error = await policyFromPublished(data).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyError);
    expect(error).toMatchObject({
      code: 'GH_ERR_POLICY_PUBLISHED_INVALID',
      message: expect.stringContaining('rules[1]'),
    });
  });

  it('names the invalid rule of a payload whose lines are well-formed but wrong', async () => {
    const data = (await loadPolicy(CONFIG, { source: 'a' })).publishedData();
    data.rules[0] = ['p', 'bot', 'support__read_ticket', 'allow'];
    await expect(policyFromPublished(data)).rejects.toMatchObject({
      code: 'GH_ERR_POLICY_INVALID',
      message: expect.stringContaining('rule #0'),
    });
  });
});
