export * from './client.js';
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
export { runAuthServer, type RunAuthServerOptions } from './main.js';
