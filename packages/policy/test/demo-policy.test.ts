/**
 * The support-desk demo policy (examples/support-desk/gatehouse.yaml), as the scenario in DESIGN.md
 * describes it: support-bot may list, read and draft; alice (support staff) may also refund;
 * nobody but admin may close accounts or export customers.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy, type Policy, type PolicyConfigInput } from '../src/index.js';

const DEMO_CONFIG = fileURLToPath(new URL('../../../examples/support-desk/gatehouse.yaml', import.meta.url));
const TOOLS = [
  'list_open_tickets',
  'read_ticket',
  'draft_reply',
  'issue_refund',
  'close_account',
  'export_customers',
].map((t) => `support__${t}`);

let policy: Policy;

beforeAll(async () => {
  const config = parseYaml(await readFile(DEMO_CONFIG, 'utf8')) as { policy: PolicyConfigInput };
  policy = await loadPolicy(config.policy, { source: DEMO_CONFIG });
});

describe('the support-desk demo policy', () => {
  it('shows support-bot (acting for itself) exactly list, read and draft', () => {
    expect(policy.visibleTools('support-bot', null, TOOLS)).toEqual([
      'support__list_open_tickets',
      'support__read_ticket',
      'support__draft_reply',
    ]);
  });

  it('decides a user equal to the agent like any user; only null is the agent acting for itself', () => {
    // ops-agent may act for itself on its own broad grants only where the caller says so (null) ...
    expect(policy.decide('ops-agent', null, 'support__export_customers').allowed).toBe(true);
    // ... not because a user happens to be named like it: user:ops-agent has no grants.
    for (const tool of TOOLS) expect(policy.decide('ops-agent', 'ops-agent', tool).allowed).toBe(false);
    expect(policy.decide('ops-agent', 'ops-agent', 'support__export_customers').rule).toBe(
      'default-deny (user:ops-agent)',
    );
  });

  it('names the allowing rule, and both rules when an agent acts for a user', () => {
    expect(policy.decide('support-bot', null, 'support__read_ticket')).toEqual({
      allowed: true,
      rule: 'allow agent:support-bot support__read_ticket',
      policy_version: policy.version,
    });
    expect(policy.decide('support-bot', 'alice', 'support__read_ticket').rule).toBe(
      'allow agent:support-bot support__read_ticket + allow role:support-staff support__* (user:alice)',
    );
  });

  it('does not let support-bot refund for alice, although alice may refund: grants intersect', () => {
    const decision = policy.decide('support-bot', 'alice', 'support__issue_refund');
    expect(decision.allowed).toBe(false);
    expect(decision.rule).toBe('default-deny (agent:support-bot)');
    expect(policy.decide('ops-agent', 'alice', 'support__issue_refund').allowed).toBe(true);
  });

  it('lets ops-agent acting for admin export customers', () => {
    expect(policy.decide('ops-agent', 'admin', 'support__export_customers')).toMatchObject({
      allowed: true,
      rule: 'allow agent:ops-agent * + allow user:admin *',
    });
  });

  it('refuses ops-agent acting for alice the export, naming the role rule that denies it', () => {
    expect(policy.decide('ops-agent', 'alice', 'support__export_customers')).toEqual({
      allowed: false,
      rule: 'deny role:support-staff support__export_customers (user:alice)',
      policy_version: policy.version,
    });
  });

  it('lets no session acting for a user other than admin export customers or close accounts', () => {
    for (const agent of ['support-bot', 'ops-agent', 'analyst', 'unknown-agent']) {
      for (const user of ['alice', 'bob', 'mallory', 'admin']) {
        const exportAllowed = policy.decide(agent, user, 'support__export_customers').allowed;
        expect({ agent, user, exportAllowed }).toEqual({
          agent,
          user,
          exportAllowed: user === 'admin' && agent === 'ops-agent',
        });
        expect(policy.decide(agent, user, 'support__close_account').allowed).toBe(false);
      }
    }
  });

  it('lets deny override allow: ops-agent holds * but close_account is denied, even for admin', () => {
    expect(policy.decide('ops-agent', null, 'support__close_account')).toMatchObject({
      allowed: false,
      rule: 'deny agent:ops-agent support__close_account',
    });
    expect(policy.decide('ops-agent', 'admin', 'support__close_account').allowed).toBe(false);
  });

  it('denies an unknown tool and an unknown agent by default, naming the subject', () => {
    expect(policy.decide('support-bot', null, 'support__drop_database')).toEqual({
      allowed: false,
      rule: 'default-deny (agent:support-bot)',
      policy_version: policy.version,
    });
    expect(policy.decide('stranger', null, 'support__read_ticket').rule).toBe(
      'default-deny (agent:stranger)',
    );
    expect(policy.decide('support-bot', 'mallory', 'support__read_ticket').rule).toBe(
      'default-deny (user:mallory)',
    );
  });

  it('stamps every decision with the policy version', () => {
    for (const tool of TOOLS)
      expect(policy.decide('ops-agent', 'bob', tool).policy_version).toBe(policy.version);
    expect(policy.version).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('the * subject', () => {
  it('grants or denies every agent and user', async () => {
    const p = await loadPolicy(
      {
        rules: [
          ['*', 'docs__*', 'allow'],
          ['*', 'docs__delete_*', 'deny'],
          ['agent:bot', 'docs__delete_page', 'allow'],
        ],
      },
      { source: 'test' },
    );
    expect(p.decide('anyone', null, 'docs__search')).toEqual({
      allowed: true,
      rule: 'allow * docs__* (agent:anyone)',
      policy_version: p.version,
    });
    expect(p.decide('anyone', 'someone', 'docs__search').allowed).toBe(true);
    expect(p.decide('bot', null, 'docs__delete_page')).toMatchObject({
      allowed: false,
      rule: 'deny * docs__delete_* (agent:bot)',
    });
    expect(p.decide('anyone', null, 'mail__send').allowed).toBe(false);
  });
});

describe('role chains', () => {
  it('follows roles transitively and names the role that decided', async () => {
    const p = await loadPolicy(
      {
        rules: [
          ['role:reader', 'wiki__read_*', 'allow'],
          ['role:editor', 'wiki__edit_*', 'allow'],
          ['role:intern', 'wiki__edit_home', 'deny'],
        ],
        roles: [
          ['user:ann', 'role:intern'],
          ['role:intern', 'role:editor'],
          ['role:editor', 'role:reader'],
          ['agent:wiki-bot', 'role:reader'],
        ],
      },
      { source: 'test' },
    );
    expect(p.decide('wiki-bot', null, 'wiki__read_page').rule).toBe(
      'allow role:reader wiki__read_* (agent:wiki-bot)',
    );
    expect(p.decide('wiki-bot', 'ann', 'wiki__read_page').allowed).toBe(true);
    expect(p.decide('wiki-bot', 'ann', 'wiki__edit_page').allowed).toBe(false);
    expect(p.decide('wiki-bot', null, 'wiki__edit_page').allowed).toBe(false);
    expect(p.decide('ann-bot', null, 'wiki__edit_page').allowed).toBe(false);
    expect(p.decide('wiki-bot', 'ann', 'wiki__edit_home').rule).toBe('default-deny (agent:wiki-bot)');
  });
});
