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
export type { AuthServerLogger } from './logger.js';
export { signingKeyPath } from './signing-keys.js';
export {
  ACCESS_TOKEN_TTL_SEC,
  DEV_CALLBACK_PATH,
  DYNAMIC_CLIENT_IDLE_TTL_SEC,
  REFRESH_TOKEN_TTL_SEC,
} from './provider-config.js';
export {
  createAuthServer,
  DEFAULT_AUTH_PORT,
  LOOPBACK_BIND_ADDRESSES,
  type AuthServer,
  type AuthServerOptions,
} from './auth-server.js';
export { getDevAccessToken, type DevTokenRequest } from './dev-token-client.js';
export { runAuthServer, type RunAuthServerOptions } from './main.js';
