import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { QueryApiError } from './errors.js';

/** Who asked: taken from a verified access token. */
export interface Caller {
  /** OAuth `client_id` (RFC 9068), falling back to `azp`, then `sub`. */
  readonly agent: string;
  /** Token `sub`. */
  readonly user: string | null;
  readonly scopes: readonly string[];
}

/** How the query API checks bearer tokens. */
export interface QueryAuthOptions {
  /** Authorization server issuer (`iss` every token must carry), e.g. `http://localhost:7422`. */
  issuer: string;
  /**
   * The query API's own resource URI (RFC 8707), e.g. `http://localhost:7421`: the only accepted
   * `aud`. Tokens for the gateway (`…:7420/mcp`) are refused — a token is good for one resource.
   */
  audience: string;
  /** Scopes every token must hold. Default `['audit:read']`. */
  requiredScopes?: readonly string[];
  /** Accepted JWS algorithms. Default `['RS256', 'ES256', 'PS256', 'EdDSA']`. */
  algorithms?: readonly string[];
  /**
   * Where the issuer's public keys come from: a JWKS object, a JWKS URL, or a jose key getter.
   * Default: the `jwks_uri` from `<issuer>/.well-known/oauth-authorization-server` (falling back to
   * `openid-configuration`), fetched on first use.
   */
  jwks?: JSONWebKeySet | URL | string | JWTVerifyGetKey;
  /** Allowed clock skew for `exp`/`nbf` (seconds). Default 5. */
  clockToleranceSec?: number;
  /** Require the RFC 9068 `typ: at+jwt` header. Default true. */
  requireAccessTokenTyp?: boolean;
}

/** A bearer-token verifier bound to one issuer and audience. */
export interface BearerVerifier {
  /**
   * Authenticates an `Authorization` header value (signature, iss, aud, exp/nbf, alg, typ).
   * Throws `QueryApiError` 401 (`GH_ERR_QUERY_UNAUTHENTICATED`, fixed message).
   */
  verify(authorization: string | undefined): Promise<Caller>;
  /** Authorizes a caller: throws `QueryApiError` 403 (`GH_ERR_QUERY_INSUFFICIENT_SCOPE`) if a required scope is missing. */
  authorize(caller: Caller): void;
  /** The `WWW-Authenticate` value for a refusal. */
  challenge(error?: QueryApiError): string;
}

export function createBearerVerifier(options: QueryAuthOptions): BearerVerifier {
  const required = options.requiredScopes ?? ['audit:read'];
  const algorithms = [...(options.algorithms ?? ['RS256', 'ES256', 'PS256', 'EdDSA'])];
  let keys: JWTVerifyGetKey | undefined;
  const resolveKeys = async (): Promise<JWTVerifyGetKey> => {
    if (keys !== undefined) return keys;
    const { jwks } = options;
    if (typeof jwks === 'function') keys = jwks;
    else if (jwks instanceof URL || typeof jwks === 'string') keys = createRemoteJWKSet(new URL(jwks));
    else if (jwks !== undefined) keys = createLocalJWKSet(jwks);
    else keys = createRemoteJWKSet(await discoverJwksUri(options.issuer));
    return keys;
  };
  const metadata = `${options.audience.replace(/\/$/, '')}/.well-known/oauth-protected-resource`;

  return {
    async verify(authorization) {
      const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization ?? '');
      if (!match)
        throw new QueryApiError('GH_ERR_QUERY_UNAUTHENTICATED', 'a Bearer access token is required');
      let payload: Record<string, unknown>;
      try {
        const result = await jwtVerify(match[1]!, await resolveKeys(), {
          issuer: options.issuer,
          audience: options.audience,
          algorithms,
          clockTolerance: options.clockToleranceSec ?? 5,
          ...(options.requireAccessTokenTyp === false ? {} : { typ: 'at+jwt' }),
          requiredClaims: ['exp', 'sub'],
        });
        payload = result.payload as Record<string, unknown>;
      } catch (cause) {
        // Fixed message: the reason (expired, wrong audience, bad signature) is logged, never echoed.
        const reason = cause instanceof joseErrors.JOSEError ? cause.code : 'ERR_UNKNOWN';
        throw new QueryApiError(
          'GH_ERR_QUERY_UNAUTHENTICATED',
          'the access token is not valid for this API',
          { reason, cause },
        );
      }
      const scopes = readScopes(payload);
      const sub = typeof payload.sub === 'string' ? payload.sub : null;
      const agent =
        [payload.client_id, payload.azp, sub].find((v): v is string => typeof v === 'string') ?? 'unknown';
      return { agent, user: sub, scopes };
    },
    authorize(caller) {
      const missing = required.filter((scope) => !caller.scopes.includes(scope));
      if (missing.length > 0) {
        throw new QueryApiError(
          'GH_ERR_QUERY_INSUFFICIENT_SCOPE',
          `the access token lacks the scope ${missing.join(' ')}`,
        );
      }
    },
    challenge(error) {
      const parts = [`realm="gatehouse-query"`, `resource_metadata="${metadata}"`];
      if (error?.code === 'GH_ERR_QUERY_INSUFFICIENT_SCOPE')
        parts.push('error="insufficient_scope"', `scope="${required.join(' ')}"`);
      else if (error !== undefined && error.message !== 'a Bearer access token is required')
        parts.push('error="invalid_token"');
      return `Bearer ${parts.join(', ')}`;
    },
  };
}

function readScopes(payload: Record<string, unknown>): string[] {
  if (typeof payload.scope === 'string') return payload.scope.split(' ').filter(Boolean);
  if (Array.isArray(payload.scp)) return payload.scp.filter((s): s is string => typeof s === 'string');
  return [];
}

async function discoverJwksUri(issuer: string): Promise<URL> {
  const base = issuer.replace(/\/$/, '');
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    try {
      const response = await fetch(`${base}${path}`);
      if (!response.ok) continue;
      const body = (await response.json()) as { jwks_uri?: unknown };
      if (typeof body.jwks_uri === 'string') return new URL(body.jwks_uri);
    } catch {
      // try the next well-known document
    }
  }
  throw new QueryApiError('GH_ERR_QUERY_UNAUTHENTICATED', 'the access token is not valid for this API');
}
