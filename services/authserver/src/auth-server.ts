import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { authServerConfigSchema, canonicalIssuer, type AuthServerConfigInput } from './config.js';
import { createDevLogin } from './dev-login.js';
import { AuthServerError } from './errors.js';
import { allowsHost, refuseHost } from './host-check.js';
import { escapeHtml, htmlPage } from './html.js';
import type { AuthServerLogger } from './logger.js';
import { buildProviderConfiguration, DEV_CALLBACK_PATH, normalizeResource } from './provider-config.js';
import { loadOrCreateSigningKeys } from './signing-keys.js';
import { parseUrl } from './parse-url.js';
import { urlPort } from './loopback.js';

/** Default TCP port of the authserver (DESIGN.md contract). */
export const DEFAULT_AUTH_PORT = 7422;

/**
 * Addresses the development authserver may bind: loopback only. Its login takes no password, so on
 * a network interface anyone could sign in as any configured user; a deployment that needs a
 * network-facing issuer points `gateway.issuer` at a real OIDC provider instead.
 */
export const LOOPBACK_BIND_ADDRESSES: ReadonlySet<string> = new Set(['127.0.0.1', '::1']);

/** Options of {@link createAuthServer}. */
export interface AuthServerOptions {
  /** The `authserver:` configuration; validated here (errors name the bad key). */
  config: AuthServerConfigInput;
  /**
   * Canonical resource URI(s) (RFC 8707) tokens may be issued for, e.g. the gateway's
   * `http://localhost:7420/mcp`. The first is the default when a request names none. At least one.
   */
  resource: string | readonly string[];
  /**
   * TCP port (`GATEHOUSE_AUTH_PORT` for `gatehouse start` and {@link runAuthServer}). It must be the
   * issuer's port, or start-up fails: tokens would name an issuer nobody can reach. `0` picks a free
   * port and replaces the issuer's port by it (so tests get an issuer that matches).
   */
  port: number;
  /**
   * Loopback address to bind, `127.0.0.1` (default) or `::1`; anything else is refused (see
   * {@link LOOPBACK_BIND_ADDRESSES}).
   */
  host?: string;
  /** Data directory; the signing keys live in `<dataDir>/authserver/jwks.json`. */
  dataDir: string;
  /** Receives logins and server errors. Default: silent. */
  logger?: AuthServerLogger;
}

/** A running authserver. */
export interface AuthServer {
  /** Base URL where the server listens, e.g. `http://127.0.0.1:7422`. */
  readonly url: string;
  /** Issuer identifier (`iss` of every token); discovery lives under it. */
  readonly issuer: string;
  /** Stops accepting connections, closes idle and active ones, resolves when closed. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the development OAuth 2.1 authorization server (oidc-provider 9) on plain `node:http`.
 *
 * Serves discovery at `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`
 * (RFC 8414, same document), JWKS at `/jwks`, open dynamic client registration at `/reg`, the
 * authorization endpoint `/auth` (code + PKCE S256 only), the token endpoint `/token`
 * (authorization_code, refresh_token, client_credentials), the development login under
 * `/interaction/…`, and `/callback`, the redirect URI every pre-registered client has.
 *
 * Access tokens are RFC 9068 JWTs (`typ: at+jwt`, `kid` set) with `aud` = the requested resource,
 * `client_id`, `scope`, and `sub` = the user (code flow) or the client id (client credentials).
 * Clients, grants and sessions are kept in memory; the signing keys persist under `dataDir`.
 *
 * Development only, so it listens on loopback only, and answers 403 `invalid_request` to a request
 * whose `Host` names neither the issuer's host nor a loopback name with the listening port
 * (DNS-rebinding protection).
 *
 * @throws AuthServerError `GH_ERR_AUTH_CONFIG_INVALID` (bad config, non-loopback `host`, issuer
 *   port ≠ `port`), `GH_ERR_AUTH_KEYSTORE`, `GH_ERR_AUTH_LISTEN_FAILED`.
 */
export async function createAuthServer(options: AuthServerOptions): Promise<AuthServer> {
  const parsed = authServerConfigSchema.safeParse(options.config);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `authserver.${issue.path.join('.')}: ${issue.message}`);
    throw new AuthServerError(
      'GH_ERR_AUTH_CONFIG_INVALID',
      `invalid authserver config: ${issues.join('; ')}`,
    );
  }
  const config = parsed.data;
  const resources = typeof options.resource === 'string' ? [options.resource] : [...options.resource];
  if (resources.length === 0) {
    throw new AuthServerError(
      'GH_ERR_AUTH_CONFIG_INVALID',
      'resource: at least one resource URI is required',
    );
  }
  resources.forEach((resource, index) => {
    if (normalizeResource(resource) === undefined) {
      throw new AuthServerError(
        'GH_ERR_AUTH_CONFIG_INVALID',
        `resource[${index}]: "${resource}" must be an absolute URI without a fragment`,
      );
    }
  });
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK_BIND_ADDRESSES.has(host)) {
    throw new AuthServerError(
      'GH_ERR_AUTH_CONFIG_INVALID',
      `host: "${host}" is not a loopback address; the development authserver listens on 127.0.0.1 or ::1 only (for a network-facing issuer, point gateway.issuer at a real OIDC provider)`,
    );
  }
  const issuerUrl = new URL(config.issuer);
  const issuerPort = urlPort(issuerUrl);
  if (options.port !== 0 && issuerPort !== options.port) {
    throw new AuthServerError(
      'GH_ERR_AUTH_CONFIG_INVALID',
      `authserver.issuer "${config.issuer}" names port ${issuerPort}, but the authserver would listen on port ${options.port} (GATEHOUSE_AUTH_PORT): its tokens would name an issuer nobody can reach; use the same port in both`,
    );
  }
  const { logger } = options;
  const jwks = await loadOrCreateSigningKeys(options.dataDir);

  // The provider needs the issuer before it exists and the issuer may depend on the bound port, so
  // bind first and route requests to the provider once it is built.
  const router: { handle?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  const hostAllowed: { check?: (host: string | undefined) => boolean } = {};
  const server = createServer((req, res) => {
    if (router.handle === undefined || hostAllowed.check === undefined) {
      res.writeHead(503).end();
      return;
    }
    if (!hostAllowed.check(req.headers.host)) {
      logger?.warn(
        { host: req.headers.host?.slice(0, 256) ?? null, path: req.url?.split('?')[0]?.slice(0, 256) },
        'authserver: request refused, Host is not this server',
      );
      refuseHost(res);
      return;
    }
    router.handle(req, res);
  });
  const address = await listen(server, options.port, host);

  if (options.port === 0) issuerUrl.port = String(address.port);
  // URL keeps a trailing "/" on an empty path; an issuer identifier conventionally has none.
  const issuer = canonicalIssuer(issuerUrl.href);
  hostAllowed.check = allowsHost(issuerUrl, address.port);

  const provider = new Provider(
    issuer,
    buildProviderConfiguration({
      config,
      issuer,
      resources,
      jwks,
      cookieKeys: [randomBytes(32).toString('base64url')],
    }),
  );
  provider.on('server_error', (_ctx: unknown, error: Error) => {
    logger?.error({ err: { message: error.message, name: error.name } }, 'authserver: internal error');
  });
  const devLogin = createDevLogin(provider, config.users, logger);
  const providerCallback = provider.callback();

  router.handle = (req, res) => {
    const pathname = parseUrl(req.url ?? '/', 'http://authserver')?.pathname ?? '/';
    if (pathname === '/.well-known/oauth-authorization-server') {
      // RFC 8414 metadata is the same document as OpenID discovery for this issuer (no path).
      req.url = '/.well-known/openid-configuration';
    } else if (pathname === DEV_CALLBACK_PATH && req.method === 'GET') {
      sendCallbackPage(req, res);
      return;
    }
    devLogin(req, res, pathname)
      .then((handled) => {
        if (!handled) void providerCallback(req, res);
      })
      .catch((error: unknown) => {
        logger?.error({ err: { message: (error as Error).message } }, 'authserver: login handler failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error');
      });
  };

  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  logger?.info({ url, issuer, resources }, 'authserver: listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    issuer,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (cause: Error) =>
      reject(
        new AuthServerError('GH_ERR_AUTH_LISTEN_FAILED', `authserver cannot listen on ${host}:${port}`, {
          cause,
        }),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** The page a browser lands on after authorizing a pre-registered client with the default redirect URI. */
function sendCallbackPage(req: IncomingMessage, res: ServerResponse): void {
  const params = parseUrl(req.url ?? '/', 'http://authserver')?.searchParams;
  const error = params?.get('error');
  const body =
    error === null || error === undefined
      ? '<h1>Authorization complete</h1><p>The client received an authorization code. You may close this page.</p>'
      : `<h1 class="error">Authorization failed</h1><p>${escapeHtml(error)}: ${escapeHtml(params?.get('error_description') ?? '')}</p>`;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(htmlPage('Gatehouse authorization', body));
}
