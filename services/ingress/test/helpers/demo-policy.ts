import { canonicalJson, sha256Hex, type Decision } from '@gatehouse/events';
import type { IngressPolicy } from '../../src/index.js';

type Rule = [subject: string, pattern: string, effect: 'allow' | 'deny'];

/** The support-desk demo rules (examples/support-desk/gatehouse.yaml), plus server-everything for ops. */
export const DEMO_RULES: Rule[] = [
  ['agent:support-bot', 'support__list_open_tickets', 'allow'],
  ['agent:support-bot', 'support__read_ticket', 'allow'],
  ['agent:support-bot', 'support__draft_reply', 'allow'],
  ['agent:ops-agent', '*', 'allow'],
  ['agent:ops-agent', 'support__close_account', 'deny'],
  ['role:support-staff', 'support__*', 'allow'],
  ['role:support-staff', 'support__close_account', 'deny'],
  ['role:support-staff', 'support__export_customers', 'deny'],
  ['user:admin', '*', 'allow'],
];
export const DEMO_ROLES: [string, string][] = [
  ['user:alice', 'role:support-staff'],
  ['user:bob', 'role:support-staff'],
];

/**
 * A test double with the demo's semantics (agent grants ∩ user grants, deny overrides, default
 * deny), standing in for `@gatehouse/policy` where the ingress tests need a policy.
 */
export function demoPolicy(rules: Rule[] = DEMO_RULES, roles: [string, string][] = DEMO_ROLES): IngressPolicy {
  const version = sha256Hex(canonicalJson({ rules, roles }));
  const subjectsOf = (subject: string): string[] => [subject, ...roles.filter(([s]) => s === subject).map(([, r]) => r)];
  const matches = (pattern: string, tool: string): boolean =>
    new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(tool);
  const evaluate = (subject: string, tool: string): { allowed: boolean; rule: string } => {
    const subjects = subjectsOf(subject);
    const applicable = rules.filter(([s, p]) => subjects.includes(s) && matches(p, tool));
    const deny = applicable.find(([, , e]) => e === 'deny');
    if (deny) return { allowed: false, rule: deny.join(' ') };
    const allow = applicable.find(([, , e]) => e === 'allow');
    return allow ? { allowed: true, rule: allow.join(' ') } : { allowed: false, rule: 'default-deny' };
  };
  const decide = (agent: string, user: string | null, tool: string): Decision => {
    const a = evaluate(`agent:${agent}`, tool);
    if (!a.allowed || user === null) return { ...a, policy_version: version };
    const u = evaluate(`user:${user}`, tool);
    return { allowed: u.allowed, rule: u.allowed ? `${a.rule} ∩ ${u.rule}` : u.rule, policy_version: version };
  };
  return {
    version,
    decide,
    visibleTools: (agent, user, tools) => tools.filter((t) => decide(agent, user, t).allowed),
    publishedData: () => ({ version, model: 'test-double', rules: rules.map((r) => [...r]), source: 'test' }),
  };
}
