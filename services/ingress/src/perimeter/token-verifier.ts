import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { GatewayConfig } from '../config.js';
import { PerimeterRejection } from './rejection.js';

/** Who is calling, as established by a verified access token. */
export interface Principal {
  /** OAuth client the token was issued to (`client_id`, else `azp`). */
  agent: string;
  /** Token subject (`sub`); equals `agent` for client-credentials tokens (or when `sub` is absent). */
  user: string;
  /** Granted scopes (`scope`, space-separated, or `scp`). */
  scopes: string[];
  /** Token id (`jti`), when present. */
  tokenId: string | null;
  /** Expiry, seconds since the epoch. */
  expiresAt: number;
}

export interface TokenVerifierOptions {
  /** Minimum time between JWKS refetches triggered by an unknown `kid`, in ms. Default 30,000. */
  jwksCooldownMs?: number;
  /** How long a fetched JWKS is trusted without refetching, in ms. Default 600,000. */
  jwksCacheMaxAgeMs?: number;
  /** Timeout of one metadata or JWKS request, in ms. Default 5,000. */
  httpTimeoutMs?: number;
  /**
   * How long a verified token is remembered (so a session's requests skip the signature check), in
   * ms; never past the token's `exp`. 0 disables the cache. Default 60,000: a key withdrawn from
   * the JWKS stops being honoured within this time.
   */
  verifiedCacheTtlMs?: number;
  /** Most tokens remembered; the oldest is forgotten first. Default 10,000. */
  verifiedCacheMaxEntries?: number;
}

/** Verifies bearer tokens for this gateway. */
export interface TokenVerifier {
  /** Resolves with the caller; rejects with a {@link PerimeterRejection} (never another error). */
  verify(token: string): Promise<Principal>;
}

/** `typ` header values accepted: RFC 9068 access tokens, and plain JWTs from servers that omit it. */
const ACCEPTED_TYPES = new Set(['at+jwt', 'application/at+jwt', 'jwt']);

/**
 * Builds the verifier: signature against the issuer's JWKS (discovered from its RFC 8414 / OIDC
 * metadata unless `jwksUri` is configured; cached; an unknown `kid` triggers a refetch, so key
 * rotation works), `iss` = the configured issuer, `aud` = this gateway's resource URI, algorithm
 * allow-list, `exp` required, `nbf` honoured, clock tolerance from the config.
 */
export function createTokenVerifier(
  config: GatewayConfig,
  options: TokenVerifierOptions = {},
): TokenVerifier {
  const timeoutMs = options.httpTimeoutMs ?? 5_000;
  let keySet: Promise<JWTVerifyGetKey> | undefined;

  const getKeySet = (): Promise<JWTVerifyGetKey> => {
    keySet ??= (async () => {
      const jwksUri = config.jwksUri ?? (await discoverJwksUri(config.issuer, timeoutMs));
      return createRemoteJWKSet(new URL(jwksUri), {
        cooldownDuration: options.jwksCooldownMs ?? 30_000,
        cacheMaxAge: options.jwksCacheMaxAgeMs ?? 600_000,
        timeoutDuration: timeoutMs,
      });
    })();
    // A failed discovery is retried by the next request rather than cached forever.
    keySet.catch(() => {
      keySet = undefined;
    });
    return keySet;
  };

  const cacheTtlMs = options.verifiedCacheTtlMs ?? 60_000;
  const cacheMax = options.verifiedCacheMaxEntries ?? 10_000;
  const verified = new Map<string, { principal: Principal; untilMs: number }>();

  const remember = (token: string, principal: Principal): Principal => {
    if (cacheTtlMs <= 0) return principal;
    const untilMs = Math.min(Date.now() + cacheTtlMs, principal.expiresAt * 1000);
    if (verified.size >= cacheMax) {
      const oldest = verified.keys().next();
      if (!oldest.done) verified.delete(oldest.value);
    }
    verified.set(token, { principal, untilMs });
    return principal;
  };

  return {
    async verify(token) {
      const cached = verified.get(token);
      if (cached) {
        if (Date.now() < cached.untilMs) return cached.principal;
        verified.delete(token);
      }
      let jwks: JWTVerifyGetKey;
      try {
        jwks = await getKeySet();
      } catch (cause) {
        throw new PerimeterRejection('issuer_unavailable', 503, cause);
      }
      let payload: JWTPayload;
      let typ: string | undefined;
      try {
        const verified = await jwtVerify(token, jwks, {
          issuer: config.issuer,
          audience: config.resource,
          algorithms: [...config.algorithms],
          clockTolerance: config.clockToleranceSec,
          requiredClaims: ['exp', 'sub'],
        });
        payload = verified.payload;
        typ = verified.protectedHeader.typ;
      } catch (cause) {
        throw toRejection(cause);
      }
      if (typ !== undefined && !ACCEPTED_TYPES.has(typ.toLowerCase()))
        throw new PerimeterRejection('wrong_token_type', 401);
      const agent = stringClaim(payload, 'client_id') ?? stringClaim(payload, 'azp');
      if (agent === undefined) throw new PerimeterRejection('missing_client_id', 401);
      // RFC 9068 requires `sub` (the client id for client credentials). Without a usable one the
      // caller would act for nobody, on the agent's grants alone: refused, never filled in.
      const user = stringClaim(payload, 'sub');
      if (user === undefined) throw new PerimeterRejection('missing_claim', 401);
      return remember(token, {
        agent,
        user,
        scopes: scopesOf(payload),
        tokenId: stringClaim(payload, 'jti') ?? null,
        expiresAt: payload.exp ?? 0,
      });
    },
  };
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' && value.length > 0 && value.length <= 256 ? value : undefined;
}

function scopesOf(payload: JWTPayload): string[] {
  const scope = payload.scope;
  if (typeof scope === 'string') return scope.split(' ').filter((s) => s.length > 0);
  const scp = payload.scp;
  if (Array.isArray(scp)) return scp.filter((s): s is string => typeof s === 'string');
  return [];
}

/** Maps jose's errors to fixed reason codes (the jose message, which may quote claims, stays server-side). */
function toRejection(cause: unknown): PerimeterRejection {
  if (cause instanceof errors.JWTExpired) return new PerimeterRejection('token_expired', 401, cause);
  if (cause instanceof errors.JWTClaimValidationFailed) {
    switch (cause.claim) {
      case 'iss':
        return new PerimeterRejection('wrong_issuer', 401, cause);
      case 'aud':
        return new PerimeterRejection('wrong_audience', 401, cause);
      case 'nbf':
        return new PerimeterRejection('token_not_yet_valid', 401, cause);
      default:
        return new PerimeterRejection('missing_claim', 401, cause);
    }
  }
  if (cause instanceof errors.JOSEAlgNotAllowed || cause instanceof errors.JOSENotSupported) {
    return new PerimeterRejection('alg_not_allowed', 401, cause);
  }
  if (cause instanceof errors.JWSSignatureVerificationFailed)
    return new PerimeterRejection('bad_signature', 401, cause);
  if (cause instanceof errors.JWKSNoMatchingKey || cause instanceof errors.JWKSMultipleMatchingKeys) {
    return new PerimeterRejection('unknown_kid', 401, cause);
  }
  if (
    cause instanceof errors.JWSInvalid ||
    cause instanceof errors.JWTInvalid ||
    cause instanceof errors.JWKInvalid
  ) {
    return new PerimeterRejection('malformed_token', 401, cause);
  }
  if (cause instanceof errors.JWKSTimeout || cause instanceof errors.JWKSInvalid)
    return new PerimeterRejection('issuer_unavailable', 503, cause);
  if (cause instanceof errors.JOSEError && cause.code === 'ERR_JOSE_GENERIC')
    return new PerimeterRejection('issuer_unavailable', 503, cause);
  if (cause instanceof TypeError) return new PerimeterRejection('issuer_unavailable', 503, cause);
  return new PerimeterRejection('malformed_token', 401, cause);
}

/**
 * Finds the issuer's `jwks_uri`: RFC 8414 metadata first (`/.well-known/oauth-authorization-server`
 * inserted before the issuer's path), then OpenID Connect discovery. The document's `issuer` must
 * equal the configured issuer (mix-up defence).
 */
async function discoverJwksUri(issuer: string, timeoutMs: number): Promise<string> {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const candidates = [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
  ];
  let lastError: unknown;
  for (const candidate of candidates) {
    try {
      const response = await fetch(candidate, {
        signal: AbortSignal.timeout(timeoutMs),
        headers: { accept: 'application/json' },
      });
      if (!response.ok) {
        await response.body?.cancel();
        lastError = new TypeError(`${candidate}: HTTP ${response.status}`);
        continue;
      }
      const metadata = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (!sameIssuer(metadata.issuer, issuer)) throw new TypeError(`${candidate}: issuer mismatch`);
      if (typeof metadata.jwks_uri !== 'string') throw new TypeError(`${candidate}: no jwks_uri`);
      return metadata.jwks_uri;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

function sameIssuer(found: unknown, expected: string): boolean {
  return typeof found === 'string' && found.replace(/\/$/, '') === expected.replace(/\/$/, '');
}
