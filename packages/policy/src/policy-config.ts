import { z } from 'zod';
import { PolicyError } from './errors.js';

/** What a rule does when it matches. Deny overrides allow; nothing matching means deny. */
export type PolicyEffect = 'allow' | 'deny';

/**
 * One policy line: `[subject, tool pattern, effect]`.
 * Subjects: `agent:<client_id>`, `user:<sub>`, `role:<name>`, or `*` (everyone).
 * Patterns match namespaced tool names (`<server>__<tool>`), `*` = any run of characters, anchored.
 */
export type PolicyRule = readonly [subject: string, pattern: string, effect: PolicyEffect];

/** One role assignment (a Casbin `g` line): `member` (agent, user or role) holds `role` (`role:<name>`). */
export type RoleAssignment = readonly [member: string, role: string];

/** The validated `policy:` section. Rule order is kept: it decides which rule a decision names. */
export interface PolicyConfig {
  readonly rules: readonly PolicyRule[];
  readonly roles: readonly RoleAssignment[];
}

/** The `policy:` section as written (`roles` may be left out). */
export interface PolicyConfigInput {
  readonly rules: readonly PolicyRule[];
  readonly roles?: readonly RoleAssignment[];
}

/**
 * Longest role chain accepted (member → role → … → role, in hops). Casbin's role manager stops
 * following inheritance after 10 hops, so a longer chain would be silently cut short by `enforce`.
 */
export const MAX_ROLE_DEPTH = 10;

/** Longest subject or tool pattern accepted, in UTF-16 code units. */
export const MAX_POLICY_FIELD_LENGTH = 512;

const SUBJECT_PREFIXES = ['agent:', 'user:', 'role:'] as const;
const SUBJECT_SHAPE = 'agent:<client_id>, user:<sub>, role:<name> or *';

interface Problem {
  path: (string | number)[];
  message: string;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Why `name` is not a valid subject of the given kinds, or null if it is. */
function subjectProblem(
  value: unknown,
  allowStar: boolean,
  prefixes: readonly string[],
  shape: string,
): string | null {
  if (typeof value !== 'string') return `must be a string (${shape}), got ${show(value)}`;
  if (allowStar && value === '*') return null;
  const prefix = prefixes.find((p) => value.startsWith(p));
  if (prefix === undefined) return `${show(value)} must be ${shape}`;
  const name = value.slice(prefix.length);
  if (name.length === 0) return `${show(value)} has an empty name after "${prefix}"`;
  if (name.includes('*'))
    return `${show(value)}: "*" is only valid as the whole subject (everyone), not inside a name`;
  if (name.trim() !== name) return `${show(value)} has leading or trailing whitespace`;
  if (value.length > MAX_POLICY_FIELD_LENGTH) return `is longer than ${MAX_POLICY_FIELD_LENGTH} characters`;
  return null;
}

function checkRules(rules: readonly unknown[], problems: Problem[]): void {
  const seen = new Map<string, number>();
  rules.forEach((rule, i) => {
    const at = `rule #${i}`;
    if (!Array.isArray(rule) || rule.length !== 3) {
      problems.push({
        path: ['rules', i],
        message: `${at} must be [subject, tool pattern, allow|deny], got ${show(rule)}`,
      });
      return;
    }
    const [subject, pattern, effect] = rule as unknown[];
    const bad = subjectProblem(subject, true, SUBJECT_PREFIXES, SUBJECT_SHAPE);
    if (bad !== null) problems.push({ path: ['rules', i, 0], message: `${at}: subject ${bad}` });
    if (typeof pattern !== 'string') {
      problems.push({
        path: ['rules', i, 1],
        message: `${at}: tool pattern must be a string, got ${show(pattern)}`,
      });
    } else if (pattern.length === 0) {
      problems.push({
        path: ['rules', i, 1],
        message: `${at}: tool pattern is empty (use "*" for every tool)`,
      });
    } else if (pattern.length > MAX_POLICY_FIELD_LENGTH) {
      problems.push({
        path: ['rules', i, 1],
        message: `${at}: tool pattern is longer than ${MAX_POLICY_FIELD_LENGTH} characters`,
      });
    }
    if (effect !== 'allow' && effect !== 'deny') {
      problems.push({
        path: ['rules', i, 2],
        message: `${at}: effect ${show(effect)} must be allow or deny`,
      });
    }
    if (typeof subject === 'string' && typeof pattern === 'string' && typeof effect === 'string') {
      const key = JSON.stringify([subject, pattern, effect]);
      const first = seen.get(key);
      if (first !== undefined)
        problems.push({ path: ['rules', i], message: `${at} duplicates rule #${first}` });
      else seen.set(key, i);
    }
  });
}

function checkRoles(roles: readonly unknown[], problems: Problem[]): void {
  const seen = new Map<string, number>();
  const edges = new Map<string, string[]>();
  let wellFormed = true;
  roles.forEach((line, i) => {
    const at = `role #${i}`;
    if (!Array.isArray(line) || line.length !== 2) {
      problems.push({
        path: ['roles', i],
        message: `${at} must be [member, role:<name>], got ${show(line)}`,
      });
      wellFormed = false;
      return;
    }
    const [member, role] = line as unknown[];
    const badMember = subjectProblem(
      member,
      false,
      SUBJECT_PREFIXES,
      'agent:<client_id>, user:<sub> or role:<name>',
    );
    if (badMember !== null) problems.push({ path: ['roles', i, 0], message: `${at}: member ${badMember}` });
    const badRole = subjectProblem(role, false, ['role:'], 'role:<name>');
    if (badRole !== null) problems.push({ path: ['roles', i, 1], message: `${at}: role ${badRole}` });
    if (badMember !== null || badRole !== null) {
      wellFormed = false;
      return;
    }
    const m = member as string;
    const r = role as string;
    if (m === r) {
      problems.push({ path: ['roles', i], message: `${at}: ${m} cannot hold itself` });
      wellFormed = false;
      return;
    }
    const key = JSON.stringify([m, r]);
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({ path: ['roles', i], message: `${at} duplicates role #${first}` });
      return;
    }
    seen.set(key, i);
    const out = edges.get(m) ?? [];
    out.push(r);
    edges.set(m, out);
  });
  if (wellFormed) checkRoleGraph(edges, problems);
}

/** Rejects cycles and chains longer than MAX_ROLE_DEPTH hops (both would make Casbin disagree with itself). */
function checkRoleGraph(edges: ReadonlyMap<string, readonly string[]>, problems: Problem[]): void {
  const depth = new Map<string, number>(); // longest chain (hops) starting at the node
  const state = new Map<string, 'visiting' | 'done'>();
  const trail: string[] = [];
  let reported = false;

  const visit = (node: string): number => {
    const known = state.get(node);
    if (known === 'done') return depth.get(node) ?? 0;
    if (known === 'visiting') {
      if (!reported) {
        const cycle = [...trail.slice(trail.indexOf(node)), node];
        problems.push({ path: ['roles'], message: `roles form a cycle: ${cycle.join(' → ')}` });
        reported = true;
      }
      return 0;
    }
    state.set(node, 'visiting');
    trail.push(node);
    let longest = 0;
    for (const next of edges.get(node) ?? []) longest = Math.max(longest, 1 + visit(next));
    trail.pop();
    state.set(node, 'done');
    depth.set(node, longest);
    return longest;
  };

  for (const node of edges.keys()) {
    const d = visit(node);
    if (reported) return;
    if (d > MAX_ROLE_DEPTH) {
      const chain = [node];
      let at = node;
      for (;;) {
        const next = (edges.get(at) ?? []).find((n) => (depth.get(n) ?? 0) === (depth.get(at) ?? 0) - 1);
        if (next === undefined) break;
        chain.push(next);
        at = next;
      }
      problems.push({
        path: ['roles'],
        message: `role chain of ${d} hops is deeper than the ${MAX_ROLE_DEPTH} Casbin resolves: ${chain.join(' → ')}`,
      });
      return;
    }
  }
}

/**
 * Schema of the `policy:` section of `gatehouse.yaml`. Every problem is reported at once, each with
 * its path (`rules.3.0`) and a message naming the rule or role index and what is wrong: bad subject
 * prefix, bad effect, empty pattern, duplicates, role cycles or chains deeper than MAX_ROLE_DEPTH.
 * Output: `roles` defaults to `[]`; rules and roles keep their order.
 */
export const policyConfigSchema = z
  .strictObject({
    rules: z.array(z.unknown(), { error: 'rules must be a list of [subject, tool pattern, allow|deny]' }),
    roles: z.array(z.unknown(), { error: 'roles must be a list of [member, role:<name>]' }).optional(),
  })
  .superRefine((raw, ctx) => {
    const problems: Problem[] = [];
    checkRules(raw.rules, problems);
    checkRoles(raw.roles ?? [], problems);
    for (const problem of problems)
      ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  })
  .transform((raw): PolicyConfig => ({
    rules: raw.rules.map((r) => [...(r as PolicyRule)] as const),
    roles: (raw.roles ?? []).map((r) => [...(r as RoleAssignment)] as const),
  }));

/**
 * Validates a `policy:` section. Throws `PolicyError` `GH_ERR_POLICY_INVALID` whose message lists
 * every problem (`policy.rules[3]: rule #3: effect "permit" must be allow or deny`) and whose
 * `problems` holds them one by one.
 */
export function parsePolicyConfig(value: unknown, where = 'policy'): PolicyConfig {
  const result = policyConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    return `${where}${path}: ${issue.message}`;
  });
  throw new PolicyError('GH_ERR_POLICY_INVALID', `invalid policy:\n  ${problems.join('\n  ')}`, {
    problems,
    cause: result.error,
  });
}
