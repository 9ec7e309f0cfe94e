import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayConfig } from '../config.js';
import {
  protectedResourceMetadata,
  protectedResourceMetadataPath,
  protectedResourceMetadataUrl,
} from './protected-resource-metadata.js';
import { PerimeterRejection, REJECTION_DESCRIPTIONS, type RejectionReason } from './rejection.js';
import type { Principal, TokenVerifier } from './token-verifier.js';

/** What the perimeter reports about each refused request (for `auth.rejected`). */
export interface RejectionReport {
  reason: RejectionReason;
  httpStatus: number;
  method: string;
  /** Route path without the query string (the query may hold a token). */
  path: string;
  clientIp: string;
  userAgent: string | null;
}

export interface PerimeterOptions {
  config: GatewayConfig;
  verifier: TokenVerifier;
  /** Records a rejection; awaited before the answer is sent, must not reject. */
  onReject: (report: RejectionReport) => Promise<void>;
  /**
   * Registers the protected routes; they run only for authenticated, authorized callers. `reject`
   * refuses a request from inside a route (recorded and answered like any perimeter refusal).
   */
  protectedRoutes: (scope: FastifyInstance, reject: RejectFromRoute) => Promise<void> | void;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the perimeter on protected routes; null elsewhere. */
    principal: Principal | null;
  }
}

/**
 * The perimeter as a Fastify plugin (register it without fastify-plugin: its hooks stay inside).
 *
 * - Serves RFC 9728 metadata at `/.well-known/oauth-protected-resource` and at the resource-specific
 *   path (`…/mcp`).
 * - On every route in its scope, checks `Host` against `allowedHosts` and `Origin` (when sent)
 *   against the resource's origin and `allowedOrigins` → 403 (DNS rebinding).
 * - On protected routes, authenticates in `onRequest`: a token in the query string → 401; no
 *   bearer token → 401 with `WWW-Authenticate: Bearer resource_metadata=…, scope=…`; an invalid
 *   one → the same plus `error="invalid_token"`; missing scope → 403 `insufficient_scope`.
 *
 * Every refusal is reported to `onReject` with a fixed reason code; answers carry fixed messages.
 */
export function perimeterPlugin(options: PerimeterOptions): FastifyPluginAsync {
  const { config, verifier, onReject } = options;
  const metadataUrl = protectedResourceMetadataUrl(config.resource);
  const scopeParam =
    (config.scopesSupported ?? config.requiredScopes).length > 0 ? config.requiredScopes.join(' ') : '';
  const resourceOrigin = new URL(config.resource).origin;
  const allowedOrigins = new Set([resourceOrigin, ...config.allowedOrigins]);
  const hostAllowed = allowsHost(config.allowedHosts);

  const reject = async (
    request: FastifyRequest,
    reply: FastifyReply,
    rejection: PerimeterRejection,
    tokenPresented: boolean,
  ): Promise<FastifyReply> => {
    if (rejection.cause !== undefined)
      request.log.info(
        { reason: rejection.reason, cause: causeSummary(rejection.cause) },
        'request rejected at the perimeter',
      );
    await onReject({
      reason: rejection.reason,
      httpStatus: rejection.status,
      method: request.method,
      path: request.url.split('?')[0] ?? '/',
      clientIp: request.ip,
      userAgent: headerValue(request.headers['user-agent']),
    });
    const description = REJECTION_DESCRIPTIONS[rejection.reason];
    if (rejection.status === 401) {
      const error =
        rejection.reason === 'token_in_query' || rejection.reason === 'malformed_authorization'
          ? 'invalid_request'
          : tokenPresented
            ? 'invalid_token'
            : undefined;
      reply.header(
        'www-authenticate',
        challenge({
          error,
          resourceMetadata: metadataUrl,
          scope: scopeParam,
          description: error ? description : undefined,
        }),
      );
      return reply.code(401).send({ error: error ?? 'unauthorized', error_description: description });
    }
    if (rejection.reason === 'insufficient_scope') {
      reply.header(
        'www-authenticate',
        challenge({
          error: 'insufficient_scope',
          resourceMetadata: metadataUrl,
          scope: scopeParam,
          description,
        }),
      );
      return reply.code(403).send({ error: 'insufficient_scope', error_description: description });
    }
    if (rejection.status === 404) {
      return reply
        .code(404)
        .send({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
    }
    return reply.code(rejection.status).send({
      error: rejection.status === 503 ? 'temporarily_unavailable' : 'forbidden',
      error_description: description,
    });
  };

  return async (scope) => {
    scope.decorateRequest('principal', null);

    scope.addHook('onRequest', async (request, reply) => {
      const host = headerValue(request.headers.host);
      if (!hostAllowed(host))
        return reject(request, reply, new PerimeterRejection('host_not_allowed', 403), false);
      const origin = headerValue(request.headers.origin);
      if (origin !== null && !allowedOrigins.has(origin))
        return reject(request, reply, new PerimeterRejection('origin_not_allowed', 403), false);
    });

    const metadata = protectedResourceMetadata(config);
    const serveMetadata = async (_request: FastifyRequest, reply: FastifyReply) => {
      reply.header('cache-control', 'public, max-age=3600');
      return metadata;
    };
    scope.get('/.well-known/oauth-protected-resource', serveMetadata);
    const specific = protectedResourceMetadataPath(config.resource);
    if (specific !== '/.well-known/oauth-protected-resource') scope.get(specific, serveMetadata);

    await scope.register(async (guarded) => {
      guarded.addHook('onRequest', async (request, reply) => {
        if (hasQueryToken(request.url))
          return reject(request, reply, new PerimeterRejection('token_in_query', 401), true);
        const authorization = headerValue(request.headers.authorization);
        if (authorization === null)
          return reject(request, reply, new PerimeterRejection('missing_token', 401), false);
        const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization);
        if (!match?.[1])
          return reject(request, reply, new PerimeterRejection('malformed_authorization', 401), true);
        let principal: Principal;
        try {
          principal = await verifier.verify(match[1]);
        } catch (error) {
          const rejection =
            error instanceof PerimeterRejection
              ? error
              : new PerimeterRejection('malformed_token', 401, error);
          return reject(request, reply, rejection, true);
        }
        if (!config.requiredScopes.every((s) => principal.scopes.includes(s))) {
          return reject(request, reply, new PerimeterRejection('insufficient_scope', 403), true);
        }
        request.principal = principal;
      });
      await options.protectedRoutes(guarded, (request, reply, reason, status) =>
        reject(request, reply, new PerimeterRejection(reason, status), true),
      );
    });
  };
}

/** Reports a rejection that a protected route decided on after authentication (e.g. a session owned by someone else). */
export type RejectFromRoute = (
  request: FastifyRequest,
  reply: FastifyReply,
  reason: RejectionReason,
  status: 401 | 403 | 404,
) => Promise<FastifyReply>;

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value.length === 1 ? (value[0] ?? null) : null) : value;
}

/**
 * Whether a `Host` header (name, name:port, [v6]:port; absent: no) names one of `allowedHosts`,
 * with or without its port, in any case.
 */
export function allowsHost(allowedHosts: readonly string[]): (host: string | null | undefined) => boolean {
  const allowed = new Set(allowedHosts.map((h) => h.toLowerCase()));
  return (host) => typeof host === 'string' && hostIn(host, allowed);
}

function hostIn(host: string, allowed: ReadonlySet<string>): boolean {
  const lower = host.toLowerCase();
  if (allowed.has(lower)) return true;
  const name = lower.startsWith('[') ? lower.slice(0, lower.indexOf(']') + 1) : lower.replace(/:\d+$/, '');
  return allowed.has(name);
}

function hasQueryToken(url: string): boolean {
  const query = url.indexOf('?');
  if (query < 0) return false;
  return new URLSearchParams(url.slice(query + 1)).has('access_token');
}

function challenge(parts: {
  error: string | undefined;
  resourceMetadata: string;
  scope: string;
  description: string | undefined;
}): string {
  const params: string[] = [];
  if (parts.error) params.push(`error="${parts.error}"`);
  if (parts.description) params.push(`error_description="${parts.description}"`);
  params.push(`resource_metadata="${parts.resourceMetadata}"`);
  if (parts.scope) params.push(`scope="${parts.scope}"`);
  return `Bearer ${params.join(', ')}`;
}

/**
 * What the log says of why a token was refused: the error's name, code, claim and message — never
 * the error itself, since jose's claim errors carry the whole verified payload (`sub`, client id,
 * scopes) and a logger's error serializer would copy it into every line.
 */
export function causeSummary(cause: unknown): Record<string, string> {
  if (typeof cause !== 'object' || cause === null) return { message: String(cause) };
  const summary: Record<string, string> = {};
  for (const key of ['name', 'code', 'claim', 'reason', 'message'] as const) {
    const value = (cause as Record<string, unknown>)[key];
    if (typeof value === 'string') summary[key] = value.slice(0, 300);
  }
  // What lies under a fetch failure of the issuer (ECONNREFUSED, ENOTFOUND…).
  const inner = (cause as { cause?: unknown }).cause;
  if (typeof inner === 'object' && inner !== null) {
    const code = (inner as { code?: unknown }).code;
    if (typeof code === 'string') summary.cause = code.slice(0, 100);
  }
  return summary;
}
