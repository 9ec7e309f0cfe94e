import type { Decision } from '@gatehouse/events';
import { BoundedCache } from './bounded-cache.js';
import type { PolicyEffect } from './policy-config.js';
import { compileToolPattern, type ToolMatcher } from './tool-pattern.js';

/** One policy line as Casbin holds it, with its position (earlier lines name decisions first). */
export interface IndexedRule {
  readonly index: number;
  readonly subject: string;
  readonly pattern: string;
  readonly effect: PolicyEffect;
}

/**
 * What Casbin resolved once at load time; the table compiles from this alone, never calling
 * `enforce`.
 */
export interface ResolvedPolicy {
  readonly version: string;
  /** Every `p` line, in policy order. */
  readonly rules: readonly IndexedRule[];
  /** Implicit (transitive) roles of every subject that holds a role, from `getImplicitRolesForUser`. */
  readonly rolesOf: ReadonlyMap<string, readonly string[]>;
}

/** Cache caps (entries). Defaults: 4,096 subjects, 1,024 (agent, user) pairs, 512 tools per pair. */
export interface DecisionTableLimits {
  readonly subjects: number;
  readonly pairs: number;
  readonly toolsPerPair: number;
}

export const DEFAULT_DECISION_TABLE_LIMITS: DecisionTableLimits = {
  subjects: 4096,
  pairs: 1024,
  toolsPerPair: 512,
};

/** Tool names longer than this are decided every time instead of being memoized. */
export const MAX_MEMOIZED_TOOL_NAME = 256;

/** One subject's decision on one tool. `rule` is already readable (`deny role:x pat (user:alice)`). */
interface Verdict {
  readonly allowed: boolean;
  readonly rule: string;
}

interface Entry {
  readonly matches: ToolMatcher;
  readonly verdict: Verdict;
}

/** A subject's applicable rules, compiled: denies first (any match denies), then allows. */
interface SubjectTable {
  readonly subject: string;
  readonly denies: readonly Entry[];
  readonly allows: readonly Entry[];
  readonly defaultDeny: Verdict;
}

interface PairDecider {
  readonly agent: SubjectTable;
  readonly user: SubjectTable | null;
  readonly memo: BoundedCache<string, Decision>;
}

function evaluate(table: SubjectTable, tool: string): Verdict {
  for (const entry of table.denies) if (entry.matches(tool)) return entry.verdict;
  for (const entry of table.allows) if (entry.matches(tool)) return entry.verdict;
  return table.defaultDeny;
}

/**
 * The hot-path decision function of one policy version: per subject, the rules of the subject,
 * its implicit roles and `*` are compiled once into an ordered list of (matcher, effect, rule);
 * per (agent, user) the combined decision is memoized per tool name. Every cache is bounded
 * (`DecisionTableLimits`) and belongs to this table, so a new policy version starts fresh.
 * Pure and synchronous; returned decisions are frozen (they are shared from the memo).
 */
export class DecisionTable {
  readonly version: string;
  readonly #rulesBySubject = new Map<string, IndexedRule[]>();
  readonly #rolesOf: ReadonlyMap<string, readonly string[]>;
  readonly #matchers = new Map<string, ToolMatcher>();
  readonly #subjects: BoundedCache<string, SubjectTable>;
  readonly #pairs: BoundedCache<string, PairDecider>;
  readonly #toolsPerPair: number;

  constructor(resolved: ResolvedPolicy, limits: DecisionTableLimits = DEFAULT_DECISION_TABLE_LIMITS) {
    this.version = resolved.version;
    this.#rolesOf = resolved.rolesOf;
    for (const rule of resolved.rules) {
      const list = this.#rulesBySubject.get(rule.subject) ?? [];
      list.push(rule);
      this.#rulesBySubject.set(rule.subject, list);
      if (!this.#matchers.has(rule.pattern))
        this.#matchers.set(rule.pattern, compileToolPattern(rule.pattern));
    }
    this.#subjects = new BoundedCache(limits.subjects);
    this.#pairs = new BoundedCache(limits.pairs);
    this.#toolsPerPair = limits.toolsPerPair;
  }

  /**
   * The effective decision for `agent` acting for `user`: the agent's decision AND the user's.
   * `user` null (the agent acting for itself, e.g. a client-credentials token): the agent's decision
   * alone. A `user` equal to `agent` is a user like any other: whether a token whose subject is its
   * own client id acts for itself is the caller's decision (the ingress's `selfActingAgents`), not
   * a string comparison here that a user named like a powerful agent would pass.
   */
  decide(agent: string, user: string | null, tool: string): Decision {
    // Length-prefixed so no (agent, user) pair can collide with another, whatever characters they hold.
    const pairKey = user === null ? `${agent.length}:${agent}` : `${agent.length}:${agent}\u0000${user}`;
    let pair = this.#pairs.get(pairKey);
    if (pair === undefined) {
      pair = {
        agent: this.#subject(`agent:${agent}`),
        user: user === null ? null : this.#subject(`user:${user}`),
        memo: new BoundedCache(this.#toolsPerPair),
      };
      this.#pairs.set(pairKey, pair);
    }
    if (tool.length > MAX_MEMOIZED_TOOL_NAME) return this.#combine(pair, tool);
    let decision = pair.memo.get(tool);
    if (decision === undefined) {
      decision = this.#combine(pair, tool);
      pair.memo.set(tool, decision);
    }
    return decision;
  }

  /** Current cache sizes (entries): compiled subjects, (agent, user) pairs, memoized decisions in all pairs. */
  stats(): { subjects: number; pairs: number; memoized: number } {
    let memoized = 0;
    for (const pair of this.#pairs.values()) memoized += pair.memo.size;
    return { subjects: this.#subjects.size, pairs: this.#pairs.size, memoized };
  }

  #combine(pair: PairDecider, tool: string): Decision {
    const a = evaluate(pair.agent, tool);
    if (!a.allowed || pair.user === null)
      return Object.freeze({ allowed: a.allowed, rule: a.rule, policy_version: this.version });
    const u = evaluate(pair.user, tool);
    const rule = u.allowed ? `${a.rule} + ${u.rule}` : u.rule;
    return Object.freeze({ allowed: u.allowed, rule, policy_version: this.version });
  }

  #subject(subject: string): SubjectTable {
    const cached = this.#subjects.get(subject);
    if (cached !== undefined) return cached;
    const applicable: IndexedRule[] = [];
    for (const holder of [subject, ...(this.#rolesOf.get(subject) ?? []), '*']) {
      applicable.push(...(this.#rulesBySubject.get(holder) ?? []));
    }
    applicable.sort((x, y) => x.index - y.index);
    const denies: Entry[] = [];
    const allows: Entry[] = [];
    for (const rule of applicable) {
      const via = rule.subject === subject ? '' : ` (${subject})`;
      const entry: Entry = {
        matches: this.#matchers.get(rule.pattern) ?? compileToolPattern(rule.pattern),
        verdict: {
          allowed: rule.effect === 'allow',
          rule: `${rule.effect} ${rule.subject} ${rule.pattern}${via}`,
        },
      };
      (rule.effect === 'deny' ? denies : allows).push(entry);
    }
    const table: SubjectTable = {
      subject,
      denies,
      allows,
      defaultDeny: { allowed: false, rule: `default-deny (${subject})` },
    };
    this.#subjects.set(subject, table);
    return table;
  }
}
