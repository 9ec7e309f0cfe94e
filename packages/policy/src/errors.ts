import { GatehouseError } from '@gatehouse/events';

/**
 * Error codes of the policy package.
 *
 * - `GH_ERR_POLICY_INVALID`: the `policy:` configuration is malformed (the message names the rule or
 *   role index and what is wrong).
 * - `GH_ERR_POLICY_PUBLISHED_INVALID`: a `policy.published` payload has a malformed rule line.
 * - `GH_ERR_POLICY_MODEL_UNSUPPORTED`: a `policy.published` payload names a Casbin model this
 *   version of Gatehouse cannot evaluate.
 * - `GH_ERR_POLICY_VERSION_MISMATCH`: a `policy.published` payload's `version` is not the content
 *   hash of its model and rules (altered, or produced by something else).
 * - `GH_ERR_POLICY_ENGINE`: Casbin refused the model or the rules (translated, `cause` kept).
 * - `GH_ERR_POLICY_CATALOG_INVALID`: an upstream's tool list cannot be turned into a catalog.
 */
export const POLICY_ERROR_CODES = [
  'GH_ERR_POLICY_INVALID',
  'GH_ERR_POLICY_PUBLISHED_INVALID',
  'GH_ERR_POLICY_MODEL_UNSUPPORTED',
  'GH_ERR_POLICY_VERSION_MISMATCH',
  'GH_ERR_POLICY_ENGINE',
  'GH_ERR_POLICY_CATALOG_INVALID',
] as const;
export type PolicyErrorCode = (typeof POLICY_ERROR_CODES)[number];

/** Every error this package throws. Never retryable: the same input fails the same way. */
export class PolicyError extends GatehouseError {
  override readonly code: PolicyErrorCode;
  /** For `GH_ERR_POLICY_INVALID`: one line per problem, each naming its rule or role index. */
  readonly problems: readonly string[];

  constructor(
    code: PolicyErrorCode,
    message: string,
    options: { problems?: readonly string[]; cause?: unknown } = {},
  ) {
    super(code, message, { status: 400, retryable: false, cause: options.cause });
    this.name = 'PolicyError';
    this.code = code;
    this.problems = options.problems ?? [];
  }
}
