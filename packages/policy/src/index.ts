/**
 * @gatehouse/policy — per-tool authorization. A Casbin model and policy decide what an agent acting
 * for a user may call; a compiled decision table answers on the hot path; policy and catalog
 * versions are content hashes, so every decision names the exact policy it used.
 */
export { POLICY_ERROR_CODES, PolicyError, type PolicyErrorCode } from './errors.js';
export {
  policyConfigSchema,
  parsePolicyConfig,
  MAX_ROLE_DEPTH,
  MAX_POLICY_FIELD_LENGTH,
  type PolicyConfig,
  type PolicyConfigInput,
  type PolicyEffect,
  type PolicyRule,
  type RoleAssignment,
} from './policy-config.js';
export { POLICY_MODEL, SUPPORTED_MODELS, TOOL_MATCH_FUNCTION } from './model.js';
export { policyVersion } from './policy-version.js';
export { selfActingAgents } from './self-acting.js';
export { compileToolPattern, type ToolMatcher } from './tool-pattern.js';
export {
  DEFAULT_DECISION_TABLE_LIMITS,
  MAX_MEMOIZED_TOOL_NAME,
  type DecisionTableLimits,
} from './decision-table.js';
export {
  loadPolicy,
  policyFromPublished,
  type LoadPolicyOptions,
  type Policy,
  type PublishedPolicy,
} from './load-policy.js';
export {
  TOOL_NAMESPACE_SEPARATOR,
  namespacedToolName,
  toCatalogTools,
  catalogVersion,
  catalogPublishedData,
  type McpToolLike,
} from './catalog.js';
