export { createIngress, type Ingress, type IngressOptions, type IngressStats } from './create-ingress.js';
export {
  ASYMMETRIC_ALGORITHMS,
  gatewayConfigSchema,
  ingressConfigSchema,
  parseIngressConfig,
  upstreamsConfigSchema,
  type GatewayConfig,
  type GatewayConfigInput,
  type HttpUpstreamConfig,
  type IngressConfig,
  type IngressConfigInput,
  type StdioUpstreamConfig,
  type UpstreamConfig,
  type UpstreamsConfig,
} from './config.js';
export { GATEWAY_RPC_ERRORS, INGRESS_ERROR_CODES, IngressError, type IngressErrorCode } from './errors.js';
export type { IngressPolicy } from './policy-port.js';
export { INGRESS_SPOOLABLE_TYPES, type OutcomeSpool } from './audit/audit-recorder.js';
export { REJECTION_REASONS, type RejectionReason } from './perimeter/rejection.js';
export type { Principal, TokenVerifierOptions } from './perimeter/token-verifier.js';
export { protectedResourceMetadataUrl } from './perimeter/protected-resource-metadata.js';
export { NAMESPACE_SEPARATOR, ToolCatalog, type CatalogEntry } from './catalog.js';
export {
  NodeHttpClientTransport,
  type NodeHttpClientTransportOptions,
} from './upstream/node-http-client-transport.js';
