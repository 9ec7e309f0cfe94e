/**
 * Fixed reason codes for `auth.rejected` events. They are chosen by the gateway, never derived
 * from attacker input, and are the only detail a rejection records besides status and route.
 */
export const REJECTION_REASONS = [
  'missing_token',
  'token_in_query',
  'malformed_authorization',
  'malformed_token',
  'alg_not_allowed',
  'bad_signature',
  'unknown_kid',
  'token_expired',
  'token_not_yet_valid',
  'wrong_issuer',
  'wrong_audience',
  'wrong_token_type',
  'missing_claim',
  'missing_client_id',
  'insufficient_scope',
  'host_not_allowed',
  'origin_not_allowed',
  'issuer_unavailable',
  'session_principal_mismatch',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** Why a token or request was refused, and how to answer. */
export class PerimeterRejection {
  readonly reason: RejectionReason;
  readonly status: 401 | 403 | 404 | 503;
  readonly cause: unknown;
  constructor(reason: RejectionReason, status: 401 | 403 | 404 | 503, cause?: unknown) {
    this.reason = reason;
    this.status = status;
    this.cause = cause;
  }
}

/** Fixed, client-facing descriptions per reason: nothing from the request is echoed. */
export const REJECTION_DESCRIPTIONS: Record<RejectionReason, string> = {
  missing_token: 'authentication required',
  token_in_query: 'access tokens are accepted only in the Authorization header',
  malformed_authorization: 'malformed Authorization header',
  malformed_token: 'invalid access token',
  alg_not_allowed: 'invalid access token',
  bad_signature: 'invalid access token',
  unknown_kid: 'invalid access token',
  token_expired: 'access token expired',
  token_not_yet_valid: 'invalid access token',
  wrong_issuer: 'invalid access token',
  wrong_audience: 'access token not issued for this resource',
  wrong_token_type: 'invalid access token',
  missing_claim: 'invalid access token',
  missing_client_id: 'invalid access token',
  insufficient_scope: 'insufficient scope',
  host_not_allowed: 'host not allowed',
  origin_not_allowed: 'origin not allowed',
  issuer_unavailable: 'authorization server unavailable',
  session_principal_mismatch: 'session not found',
};
