export * from './errors.js';
export {
  authServerConfigSchema,
  BUILTIN_SCOPES,
  DEFAULT_DYNAMIC_CLIENT_SCOPES,
  type AuthServerConfig,
  type AuthServerConfigInput,
} from './config.js';
export type { AuthServerLogger } from './logger.js';
export { signingKeyPath } from './signing-keys.js';
export { ACCESS_TOKEN_TTL_SEC, DEV_CALLBACK_PATH, REFRESH_TOKEN_TTL_SEC } from './provider-config.js';
export {
  createAuthServer,
  DEFAULT_AUTH_PORT,
  type AuthServer,
  type AuthServerOptions,
} from './auth-server.js';
export { getDevAccessToken, type DevTokenRequest } from './dev-token-client.js';
export { runAuthServer, type RunAuthServerOptions } from './main.js';
