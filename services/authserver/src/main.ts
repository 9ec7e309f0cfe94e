import {
  createAuthServer,
  DEFAULT_AUTH_PORT,
  LOOPBACK_BIND_ADDRESSES,
  type AuthServer,
} from './auth-server.js';
import type { AuthServerConfigInput } from './config.js';
import { AuthServerError } from './errors.js';
import type { AuthServerLogger } from './logger.js';

/** Options of {@link runAuthServer}. */
export interface RunAuthServerOptions {
  /** The `authserver:` section, already read from `gatehouse.yaml` by the CLI (this package parses no files). */
  config: AuthServerConfigInput;
  /** The gateway's canonical resource URI(s) (`gateway.resource`); see {@link createAuthServer}. */
  resource: string | readonly string[];
  /** Environment to read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  logger?: AuthServerLogger;
  /** Close the server on SIGINT/SIGTERM. Default true. */
  handleSignals?: boolean;
}

/**
 * The authserver's process entry for scale-out runs (`gatehouse` composes {@link createAuthServer}
 * directly in embedded mode). Reads:
 *
 * - `GATEHOUSE_AUTH_PORT` — TCP port, default 7422;
 * - `GATEHOUSE_AUTH_HOST` — loopback address to bind, `127.0.0.1` (default) or `::1`; any other
 *   value is refused (a development server with a password-free login stays off the network);
 * - `GATEHOUSE_DATA_DIR` — data directory, default `./data` (keys in `<dir>/authserver/jwks.json`).
 *
 * Configuration file parsing belongs to the CLI: the caller passes the validated-or-raw
 * `authserver:` object and the gateway's resource URI.
 *
 * @throws AuthServerError `GH_ERR_AUTH_CONFIG_INVALID` naming the bad variable, and whatever
 *   {@link createAuthServer} throws.
 */
export async function runAuthServer(options: RunAuthServerOptions): Promise<AuthServer> {
  const env = options.env ?? process.env;
  const port = parsePort(env.GATEHOUSE_AUTH_PORT);
  const host = parseHost(env.GATEHOUSE_AUTH_HOST);
  const server = await createAuthServer({
    config: options.config,
    resource: options.resource,
    port,
    host,
    dataDir:
      env.GATEHOUSE_DATA_DIR === undefined || env.GATEHOUSE_DATA_DIR === ''
        ? './data'
        : env.GATEHOUSE_DATA_DIR,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  if (options.handleSignals ?? true) {
    const stop = () => {
      void server.close();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
  return server;
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_AUTH_PORT;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new AuthServerError(
      'GH_ERR_AUTH_CONFIG_INVALID',
      `GATEHOUSE_AUTH_PORT must be an integer 0..65535, got "${value}"`,
    );
  }
  return port;
}

function parseHost(value: string | undefined): string {
  if (value === undefined || value === '') return '127.0.0.1';
  if (!LOOPBACK_BIND_ADDRESSES.has(value)) {
    throw new AuthServerError(
      'GH_ERR_AUTH_CONFIG_INVALID',
      `GATEHOUSE_AUTH_HOST must be 127.0.0.1 or ::1, got "${value}": the development authserver listens on loopback only`,
    );
  }
  return value;
}
