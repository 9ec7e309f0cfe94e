import { GatehouseError } from '@gatehouse/events';

/**
 * Error codes of the development authorization server and its token client. Stable strings: tests,
 * the CLI and operators match on them, never on messages.
 */
export const AUTH_ERROR_CODES = [
  /** The authserver configuration object failed validation (the message names the key). */
  'GH_ERR_AUTH_CONFIG_INVALID',
  /** The signing key file is unreadable, corrupt or cannot be written. */
  'GH_ERR_AUTH_KEYSTORE',
  /** The HTTP listener could not be bound (port in use, permission). */
  'GH_ERR_AUTH_LISTEN_FAILED',
  /** The issuer could not be reached or answered something that is not OAuth. */
  'GH_ERR_AUTH_ISSUER_UNREACHABLE',
  /** The token endpoint refused the client's credentials (unknown client or wrong secret). */
  'GH_ERR_AUTH_CLIENT_REJECTED',
  /** A requested scope is not among the client's allowed scopes. */
  'GH_ERR_AUTH_SCOPE_DENIED',
  /** The requested resource indicator is not served by this authorization server. */
  'GH_ERR_AUTH_RESOURCE_DENIED',
  /** The development login was asked for a user that is not configured. */
  'GH_ERR_AUTH_USER_UNKNOWN',
  /** The authorization code flow stopped at an unexpected step. */
  'GH_ERR_AUTH_FLOW_FAILED',
] as const;
export type AuthErrorCode = (typeof AUTH_ERROR_CODES)[number];

/** Every error raised by `@gatehouse/authserver`; `code` is one of {@link AUTH_ERROR_CODES}. */
export class AuthServerError extends GatehouseError {
  declare readonly code: AuthErrorCode;

  constructor(
    code: AuthErrorCode,
    message: string,
    options: { status?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.name = 'AuthServerError';
  }
}
