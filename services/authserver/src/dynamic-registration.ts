import type { ClientMetadata, Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { OIDC_SCOPES } from './config.js';
import { parseUrl } from './parse-url.js';
import { LOOPBACK_HOSTNAMES } from './loopback.js';

/**
 * Grants a dynamically registered client may hold. Such a client always acts for a signed-in user:
 * `client_credentials` would let anyone who can reach `/reg` mint itself a gateway token with no
 * credential at all (a public client) and act on its own grants.
 */
export const DYNAMIC_CLIENT_GRANT_TYPES: ReadonlySet<string> = new Set([
  'authorization_code',
  'refresh_token',
]);

/** Client metadata naming URLs the server would fetch: refused, so `/reg` cannot make it request anything. */
const FETCHED_URL_METADATA = ['jwks_uri', 'sector_identifier_uri'] as const;

/**
 * `/reg` refused a registration because the server already holds its maximum of dynamically
 * registered clients. 403 `access_denied`: the server declines; retrying at once will not help.
 */
export class RegistrationLimitReached extends errors.OIDCProviderError {
  constructor(max: number, idleTtlSec: number) {
    super(403, 'access_denied');
    this.error_description =
      `this authorization server already holds its maximum of ${max} dynamically registered clients ` +
      `(authserver.maxDynamicClients); a registration unused for ${Math.round(idleTtlSec / 86_400)} days ` +
      'is forgotten, or restart the server';
  }
}

/** What the registration policy needs to know. */
export interface DynamicRegistrationPolicy {
  /** Scopes a registered client may hold besides `openid` and `offline_access`, which it always gets. */
  scopes: ReadonlySet<string>;
  /** Most dynamically registered clients held at once. */
  maxClients: number;
  /** A registration unused this long (seconds) is forgotten; named in the limit's error. */
  clientIdleTtlSec: number;
  /** Dynamically registered clients held now. */
  clientCount(): number;
}

type MetadataValidator = NonNullable<NonNullable<Configuration['extraClientMetadata']>['validator']>;

/**
 * The `extraClientMetadata.validator` that bounds dynamic registration (RFC 7591). oidc-provider
 * calls it once per client construction for the `scope` property; `ctx` is set only for a
 * registration request, so pre-registered clients and clients read back from the store are left as
 * they are. For a registration it:
 *
 * - defaults `scope` to every dynamic scope, refuses any other scope (`invalid_client_metadata`),
 *   and adds `openid offline_access` so the client may ask for a refresh token (SEP-2207);
 * - refuses `grant_types` other than `authorization_code` and `refresh_token`
 *   (`invalid_client_metadata`);
 * - refuses `redirect_uris` that are neither loopback `http:` nor `https:` (`invalid_redirect_uri`);
 * - refuses `jwks_uri` and `sector_identifier_uri` (`invalid_client_metadata`);
 * - past `maxClients` live registrations answers 403 `access_denied`. The check runs in the same
 *   synchronous step as the store's insert, so concurrent registrations cannot overshoot it.
 *
 * Error descriptions name the field and never echo the submitted values.
 */
export function dynamicRegistrationValidator(policy: DynamicRegistrationPolicy): MetadataValidator {
  const defaultScope = [...new Set([...OIDC_SCOPES, ...policy.scopes])].join(' ');
  return (ctx: KoaContextWithOIDC | undefined, key: string, value: unknown, metadata: ClientMetadata) => {
    if (key !== 'scope') return;
    if (value === undefined) metadata.scope = defaultScope;
    if (ctx === undefined) return;
    checkScope(metadata, policy.scopes, defaultScope);
    checkGrantTypes(metadata);
    checkRedirectUris(metadata);
    for (const name of FETCHED_URL_METADATA) {
      if (metadata[name] !== undefined) {
        throw new errors.InvalidClientMetadata(
          `${name} is not accepted in dynamic registration: this server fetches no client-supplied URL`,
        );
      }
    }
    if (policy.clientCount() >= policy.maxClients)
      throw new RegistrationLimitReached(policy.maxClients, policy.clientIdleTtlSec);
  };
}

function checkScope(metadata: ClientMetadata, allowed: ReadonlySet<string>, everyScope: string): void {
  if (typeof metadata.scope !== 'string') {
    throw new errors.InvalidClientMetadata('scope must be a string');
  }
  const requested = metadata.scope.split(' ').filter((scope) => scope !== '');
  if (requested.some((scope) => !allowed.has(scope) && !OIDC_SCOPES.has(scope))) {
    throw new errors.InvalidClientMetadata(
      `scope may only contain ${everyScope} for a dynamically registered client`,
    );
  }
  metadata.scope = [...new Set([...requested, ...OIDC_SCOPES])].join(' ');
}

function checkGrantTypes(metadata: ClientMetadata): void {
  const grants: unknown = metadata.grant_types;
  if (!Array.isArray(grants)) return; // oidc-provider refuses a non-array itself
  if (grants.some((grant) => typeof grant !== 'string' || !DYNAMIC_CLIENT_GRANT_TYPES.has(grant))) {
    throw new errors.InvalidClientMetadata(
      'grant_types may only contain authorization_code and refresh_token: a dynamically registered ' +
        'client acts only for a signed-in user (client_credentials is for clients under authserver.clients)',
    );
  }
}

function checkRedirectUris(metadata: ClientMetadata): void {
  const uris: unknown = metadata.redirect_uris;
  if (!Array.isArray(uris)) return; // oidc-provider refuses a missing or non-array value itself
  const allowed = (uri: unknown): boolean => {
    const url = typeof uri === 'string' ? parseUrl(uri) : null;
    if (url === null || url.username !== '' || url.password !== '') return false;
    return (
      // An http: redirect only to the loopback interface, any port (RFC 8252 §7.3), `localhost`
      // included: the MCP SDK's examples and tests register it (§8.3 discourages it; it still
      // resolves to loopback only).
      url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTNAMES.has(url.hostname))
    );
  };
  if (!uris.every(allowed)) {
    // oidc-provider answers `invalid_redirect_uri` for a description that starts with "redirect_uris".
    throw new errors.InvalidClientMetadata(
      'redirect_uris must be loopback http URIs (http://127.0.0.1, http://[::1] or http://localhost, ' +
        'any port; RFC 8252) or https URIs',
    );
  }
}
