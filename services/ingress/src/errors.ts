import { GatehouseError } from '@gatehouse/events';

/** Local (string) error codes of the ingress. Wire errors use {@link GATEWAY_RPC_ERRORS}. */
export const INGRESS_ERROR_CODES = [
  /** `gateway:` / `upstreams:` configuration failed validation; the message names the key path. */
  'GH_ERR_INGRESS_CONFIG',
  /** An upstream could not be started or listed at start-up; the message names the upstream. */
  'GH_ERR_INGRESS_UPSTREAM_START',
  /** An upstream connection failed during a call (transport error, process exit). */
  'GH_ERR_INGRESS_UPSTREAM_UNAVAILABLE',
  /** The issuer's metadata or JWKS could not be fetched. */
  'GH_ERR_INGRESS_ISSUER_UNAVAILABLE',
  /** Two upstreams expose the same namespaced tool name. */
  'GH_ERR_INGRESS_CATALOG_CONFLICT',
  /** The ingress was used after `close()`. */
  'GH_ERR_INGRESS_CLOSED',
] as const;
export type IngressErrorCode = (typeof INGRESS_ERROR_CODES)[number];

/** An ingress failure. `retryable` marks outages (an upstream or issuer that may come back). */
export class IngressError extends GatehouseError {
  declare readonly code: IngressErrorCode;
  constructor(
    code: IngressErrorCode,
    message: string,
    options: { status?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.name = 'IngressError';
  }
}

/**
 * JSON-RPC error codes the gateway answers `tools/call` with (the implementation-defined server
 * range −32000…−32099; −32000/−32001 are taken by the SDK, −32002 by MCP's resource-not-found).
 * Messages are fixed apart from the tool name the caller itself sent.
 */
export const GATEWAY_RPC_ERRORS = {
  /** The policy does not allow this caller to call the tool, or no such tool exists. Upstream not contacted. */
  toolNotPermitted: { code: -32003, message: (tool: string) => `tool not permitted: ${tool}` },
  /** `call.attempted` could not be recorded durably; the call was refused (fail closed). */
  auditUnavailable: { code: -32004, message: () => 'audit log unavailable; call refused' },
  /** The upstream could not be reached or its connection failed during the call. */
  upstreamUnavailable: { code: -32005, message: () => 'upstream unavailable' },
  /** The upstream did not answer within the upstream's `timeoutMs`. */
  upstreamTimeout: { code: -32006, message: () => 'upstream timed out' },
  /** `call.attempted` is over the audit log's record limit (its arguments); the call was refused. */
  argumentsTooLarge: {
    code: -32602,
    message: (tool: string) => `arguments of ${tool} are too large to be audited; call refused`,
  },
} as const;
