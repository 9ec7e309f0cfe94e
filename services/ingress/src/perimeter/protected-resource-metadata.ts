import type { GatewayConfig } from '../config.js';

/** RFC 9728 protected resource metadata, as served at the well-known URLs. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported: string[];
  bearer_methods_supported: ['header'];
  resource_name: string;
}

/** The metadata document for this gateway. */
export function protectedResourceMetadata(config: GatewayConfig): ProtectedResourceMetadata {
  return {
    resource: config.resource,
    authorization_servers: [config.issuer],
    scopes_supported: [...(config.scopesSupported ?? config.requiredScopes)],
    bearer_methods_supported: ['header'],
    resource_name: 'Gatehouse MCP gateway',
  };
}

/**
 * The metadata URL for `resource` (RFC 9728 §3.1): the well-known segment goes between the host
 * and the resource's path, so `http://h:7420/mcp` → `http://h:7420/.well-known/oauth-protected-resource/mcp`.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

/** The path part of {@link protectedResourceMetadataUrl}, for route registration. */
export function protectedResourceMetadataPath(resource: string): string {
  return new URL(protectedResourceMetadataUrl(resource)).pathname;
}
