/**
 * `@gatehouse/authserver/client`: what a caller of the development authserver needs — its config
 * schema and a token — without the server. Nothing here loads oidc-provider, so the CLI's commands
 * that only read the config or fetch a token neither pay for loading it nor print its warnings.
 */
export * from './errors.js';
export {
  authServerConfigSchema,
  BUILTIN_SCOPES,
  canonicalIssuer,
  DEFAULT_DYNAMIC_CLIENT_SCOPES,
  DEFAULT_MAX_DYNAMIC_CLIENTS,
  type AuthServerConfig,
  type AuthServerConfigInput,
} from './config.js';
export { getDevAccessToken, type DevTokenRequest } from './dev-token-client.js';
export { LOOPBACK_HOSTNAMES, urlPort } from './loopback.js';
