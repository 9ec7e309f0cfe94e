import { newEnforcer, newModelFromString, type Enforcer } from 'casbin';
import type { Decision, EventOf } from '@gatehouse/events';
import {
  DecisionTable,
  DEFAULT_DECISION_TABLE_LIMITS,
  type DecisionTableLimits,
  type IndexedRule,
  type ResolvedPolicy,
} from './decision-table.js';
import { PolicyError } from './errors.js';
import { POLICY_MODEL, SUPPORTED_MODELS, TOOL_MATCH_FUNCTION } from './model.js';
import {
  parsePolicyConfig,
  type PolicyConfig,
  type PolicyConfigInput,
  type PolicyEffect,
} from './policy-config.js';
import { policyVersion } from './policy-version.js';
import { createToolMatchFunction } from './tool-pattern.js';

/** The payload of a `policy.published` event. */
export type PublishedPolicy = EventOf<'policy.published'>['data'];

/** A loaded policy version: Casbin for resolution, a compiled table for deciding. */
export interface Policy {
  /** SHA-256 hex content hash of model, rules and roles (see `policyVersion`). */
  readonly version: string;
  /** The Casbin model text. */
  readonly model: string;
  /** Casbin lines as published: `['p', subject, pattern, effect]`… then `['g', member, role]`… */
  readonly rules: readonly (readonly string[])[];
  /** Where the policy came from (a config file path, "published", …); not part of the version. */
  readonly source: string;
  /** The Casbin enforcer holding the same rules (for tests and diagnostics; never on the hot path). */
  readonly enforcer: Enforcer;
  /**
   * The effective decision for `agent` (OAuth client_id) acting for `user` (token `sub`) on a
   * namespaced tool: the agent's decision AND the user's (deny overrides allow, default deny).
   * `user` null: the agent's decision alone (acting for itself); a `user` equal to `agent` is decided
   * like any user (see `DecisionTable.decide`). Synchronous, memoized, never calls Casbin. The
   * returned object is frozen.
   */
  decide(agent: string, user: string | null, tool: string): Decision;
  /** The subset of `tools` (namespaced names) this caller may call, in the given order. */
  visibleTools(agent: string, user: string | null, tools: readonly string[]): string[];
  /** The `policy.published` payload for this policy (a fresh copy each call). */
  publishedData(): PublishedPolicy;
}

/** Options of `loadPolicy`. */
export interface LoadPolicyOptions {
  /** Where the policy came from, published as `source` (e.g. the config file path). */
  source: string;
  /** Cache caps of the decision table; defaults `DEFAULT_DECISION_TABLE_LIMITS`. */
  limits?: DecisionTableLimits;
}

function publishedLines(config: PolicyConfig): string[][] {
  return [...config.rules.map(([s, p, e]) => ['p', s, p, e]), ...config.roles.map(([m, r]) => ['g', m, r])];
}

async function buildEnforcer(model: string, config: PolicyConfig): Promise<Enforcer> {
  try {
    const enforcer = await newEnforcer(newModelFromString(model));
    await enforcer.addFunction(TOOL_MATCH_FUNCTION, createToolMatchFunction());
    const rules = config.rules.map((r) => [...r]);
    const roles = config.roles.map((r) => [...r]);
    // addPolicies is all-or-nothing and refuses duplicates; the schema has already rejected those.
    if (rules.length > 0 && !(await enforcer.addPolicies(rules))) {
      throw new PolicyError('GH_ERR_POLICY_ENGINE', 'Casbin refused the policy rules (duplicate lines?)');
    }
    if (roles.length > 0 && !(await enforcer.addGroupingPolicies(roles))) {
      throw new PolicyError('GH_ERR_POLICY_ENGINE', 'Casbin refused the role assignments (duplicate lines?)');
    }
    return enforcer;
  } catch (error) {
    if (error instanceof PolicyError) throw error;
    throw new PolicyError(
      'GH_ERR_POLICY_ENGINE',
      `Casbin could not build the enforcer: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Resolves, once, what the decision table needs: the rules and every role holder's implicit roles. */
async function resolve(enforcer: Enforcer, version: string): Promise<ResolvedPolicy> {
  const lines = await enforcer.getPolicy();
  const rules: IndexedRule[] = lines.map((line, index) => ({
    index,
    subject: line[0]!,
    pattern: line[1]!,
    effect: line[2] as PolicyEffect,
  }));
  const holders = new Set((await enforcer.getGroupingPolicy()).map((line) => line[0]!));
  const rolesOf = new Map<string, readonly string[]>();
  for (const holder of holders) rolesOf.set(holder, await enforcer.getImplicitRolesForUser(holder));
  return { version, rules, rolesOf };
}

async function build(
  model: string,
  config: PolicyConfig,
  source: string,
  limits: DecisionTableLimits,
): Promise<Policy> {
  const version = policyVersion(model, config);
  const enforcer = await buildEnforcer(model, config);
  const table = new DecisionTable(await resolve(enforcer, version), limits);
  const rules = publishedLines(config);
  const decide = (agent: string, user: string | null, tool: string): Decision =>
    table.decide(agent, user, tool);
  return {
    version,
    model,
    rules,
    source,
    enforcer,
    decide,
    visibleTools: (agent, user, tools) => tools.filter((tool) => table.decide(agent, user, tool).allowed),
    publishedData: () => ({ version, model, rules: rules.map((line) => [...line]), source }),
  };
}

/**
 * Validates a `policy:` section and loads it: builds the Casbin enforcer (Gatehouse model, rules,
 * roles), resolves every role holder's implicit roles once, and compiles the decision table.
 * Throws `PolicyError` (`GH_ERR_POLICY_INVALID` naming each bad rule/role index, or
 * `GH_ERR_POLICY_ENGINE` if Casbin refuses). The only async work is this load.
 */
export async function loadPolicy(config: PolicyConfigInput, options: LoadPolicyOptions): Promise<Policy> {
  const valid = parsePolicyConfig(config);
  return build(POLICY_MODEL, valid, options.source, options.limits ?? DEFAULT_DECISION_TABLE_LIMITS);
}

/**
 * Rebuilds the policy a `policy.published` event recorded (to answer "what could X call at T"
 * from the record), and checks that its `version` is the content hash of its model and rules.
 * Throws `PolicyError`: `GH_ERR_POLICY_PUBLISHED_INVALID` (a malformed line, named by index),
 * `GH_ERR_POLICY_MODEL_UNSUPPORTED`, `GH_ERR_POLICY_INVALID`, or `GH_ERR_POLICY_VERSION_MISMATCH`.
 */
export async function policyFromPublished(
  data: PublishedPolicy,
  options: { limits?: DecisionTableLimits } = {},
): Promise<Policy> {
  if (!SUPPORTED_MODELS.includes(data.model)) {
    throw new PolicyError(
      'GH_ERR_POLICY_MODEL_UNSUPPORTED',
      `policy ${data.version}: its Casbin model is not one this Gatehouse can evaluate (model text differs from POLICY_MODEL)`,
    );
  }
  const rules: [string, string, string][] = [];
  const roles: [string, string][] = [];
  data.rules.forEach((line, i) => {
    if (line[0] === 'p' && line.length === 4) rules.push([line[1]!, line[2]!, line[3]!]);
    else if (line[0] === 'g' && line.length === 3) roles.push([line[1]!, line[2]!]);
    else {
      throw new PolicyError(
        'GH_ERR_POLICY_PUBLISHED_INVALID',
        `policy ${data.version}: rules[${i}] must be ["p", subject, pattern, effect] or ["g", member, role], got ${JSON.stringify(line)}`,
      );
    }
  });
  const valid = parsePolicyConfig({ rules, roles }, `policy ${data.version}`);
  const policy = await build(data.model, valid, data.source, options.limits ?? DEFAULT_DECISION_TABLE_LIMITS);
  if (policy.version !== data.version) {
    throw new PolicyError(
      'GH_ERR_POLICY_VERSION_MISMATCH',
      `policy.published version ${data.version} is not the content hash of its model and rules (${policy.version})`,
    );
  }
  return policy;
}
