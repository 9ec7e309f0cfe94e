/**
 * Response header carrying the OAuth error code (or `unknown_user`) on error pages, for automation.
 * Development only; the page itself says the same in words. Shared by the server and the token
 * client, in a module of its own so that the client does not load oidc-provider.
 */
export const AUTH_ERROR_HEADER = 'gatehouse-auth-error';
