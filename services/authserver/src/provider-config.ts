import type { ClientMetadata, Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { errors, interactionPolicy } from 'oidc-provider';
import { BUILTIN_SCOPES, OIDC_SCOPES, type AuthServerConfig } from './config.js';
import { escapeHtml, htmlPage } from './html.js';
import { createMemoryAdapterFactory } from './memory-adapter.js';
import type { PrivateJwks } from './signing-keys.js';

/** Lifetime of access tokens, both flows (seconds). */
export const ACCESS_TOKEN_TTL_SEC = 3600;
/** Lifetime of refresh tokens (seconds): 14 days. */
export const REFRESH_TOKEN_TTL_SEC = 14 * 24 * 3600;

/** Path of the callback page every pre-registered client may use as its redirect URI. */
export const DEV_CALLBACK_PATH = '/callback';
/** Path prefix of the development login (interaction) pages. */
export const INTERACTION_PATH = '/interaction';

/**
 * Response header carrying the OAuth error code (or `unknown_user`) on error pages, for automation.
 * Development only; the page itself says the same in words.
 */
export const AUTH_ERROR_HEADER = 'gatehouse-auth-error';

/** What the provider configuration is built from. */
export interface ProviderConfigInput {
  config: AuthServerConfig;
  /** The effective issuer (equals `config.issuer` unless the port was chosen at bind time). */
  issuer: string;
  /** Resource indicators (RFC 8707) this server issues tokens for; the first is the default. */
  resources: readonly string[];
  jwks: PrivateJwks;
  /** Keys that sign the session and interaction cookies. */
  cookieKeys: string[];
}

/** Compares resource indicators by their URL serialisation, so `http://h` and `http://h/` match. */
export function normalizeResource(resource: string): string | undefined {
  const url = URL.parse(resource);
  return url === null || url.hash !== '' ? undefined : url.href;
}

/**
 * The oidc-provider configuration of the development authserver:
 *
 * - pre-registered confidential clients with exactly their configured `scope` (oidc-provider
 *   refuses any other *known* scope with `invalid_scope`, for every grant);
 * - open dynamic registration (RFC 7591); a registered client gets `dynamicClientScopes` plus
 *   `openid offline_access`, so the MCP SDK's `grant_types: ['authorization_code','refresh_token']`
 *   is accepted (`refresh_token` is only a supported grant while `offline_access` is a scope);
 * - PKCE required for every authorization request (oidc-provider only implements S256);
 * - every access token is an RFC 9068 JWT (`typ: at+jwt`) for one of `resources`, signed RS256
 *   with the persisted key; no userinfo endpoint, so no opaque tokens are ever issued;
 * - refresh tokens for any client allowed the `refresh_token` grant, independent of the browser
 *   session (there is none worth keeping in development).
 */
export function buildProviderConfiguration(input: ProviderConfigInput): Configuration {
  const { config, issuer, jwks, cookieKeys } = input;
  const users = new Set(config.users);
  const resources = new Map<string, string>();
  for (const resource of input.resources) {
    const key = normalizeResource(resource);
    if (key !== undefined && !resources.has(key)) resources.set(key, resource);
  }
  const defaultResource = input.resources[0];

  const scopes = new Set<string>([
    ...BUILTIN_SCOPES,
    ...config.clients.flatMap((client) => client.scopes),
    ...config.dynamicClientScopes,
  ]);
  const resourceScope = [...scopes].filter((scope) => !OIDC_SCOPES.has(scope)).join(' ');
  const dynamicScopes = new Set([...OIDC_SCOPES, ...config.dynamicClientScopes]);
  const callbackUri = new URL(DEV_CALLBACK_PATH, issuer).href;

  return {
    adapter: createMemoryAdapterFactory(),
    clients: config.clients.map((client): ClientMetadata => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      scope: client.scopes.join(' '),
      grant_types: [...client.grantTypes],
      response_types: client.grantTypes.includes('authorization_code') ? ['code'] : [],
      redirect_uris: [...new Set([...(client.redirectUris ?? []), callbackUri])],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    scopes: [...scopes],
    responseTypes: ['code'],
    jwks: { keys: jwks.keys as NonNullable<Configuration['jwks']>['keys'] },
    cookies: { keys: cookieKeys },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      registration: { enabled: true, initialAccessToken: false },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // At the token endpoint `oneOf` holds the granted resources; the first configured wins.
        defaultResource: (_ctx, _client, oneOf) => {
          if (oneOf === undefined) return defaultResource ?? '';
          return oneOf.find((granted) => granted === defaultResource) ?? oneOf[0] ?? '';
        },
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          const key = normalizeResource(indicator);
          const canonical = key === undefined ? undefined : resources.get(key);
          if (canonical === undefined) throw new errors.InvalidTarget();
          return {
            scope: resourceScope,
            audience: canonical,
            accessTokenFormat: 'jwt',
            accessTokenTTL: ACCESS_TOKEN_TTL_SEC,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // Dynamically registered clients: default and bound their `scope`. `ctx` is only set for
    // registration requests; stored clients come back with the scope they were registered with.
    extraClientMetadata: {
      properties: ['scope'],
      validator: (ctx, key, value, metadata) => {
        if (key !== 'scope') return;
        if (value === undefined) {
          metadata.scope = [...dynamicScopes].join(' ');
          return;
        }
        if (ctx === undefined) return;
        if (typeof value !== 'string') throw new errors.InvalidClientMetadata('scope must be a string');
        const refused = value.split(' ').filter((scope) => scope !== '' && !dynamicScopes.has(scope));
        if (refused.length > 0) {
          throw new errors.InvalidClientMetadata(
            `scope ${refused.join(' ')} is not available to dynamically registered clients`,
          );
        }
      },
    },
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: () => false,
    findAccount: (_ctx, sub) => (users.has(sub) ? { accountId: sub, claims: () => ({ sub }) } : undefined),
    interactions: {
      policy: devInteractionPolicy(),
      url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`,
    },
    // Development server: browser-based MCP clients (inspectors) may call it from any origin.
    clientBasedCORS: () => true,
    // Errors that cannot be redirected to the client (bad client_id or redirect_uri) end here. The
    // header lets the dev token client name the failure without scraping HTML.
    renderError: (ctx: KoaContextWithOIDC, out) => {
      ctx.type = 'html';
      ctx.set(AUTH_ERROR_HEADER, String(out.error));
      const rows = Object.entries(out)
        .map(([name, text]) => `<p><strong>${escapeHtml(name)}</strong>: ${escapeHtml(String(text))}</p>`)
        .join('');
      ctx.body = htmlPage('Authorization failed', `<h1 class="error">Authorization failed</h1>${rows}`);
    },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL_SEC,
      ClientCredentials: ACCESS_TOKEN_TTL_SEC,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: REFRESH_TOKEN_TTL_SEC,
      Interaction: 600,
      Session: 24 * 3600,
      Grant: REFRESH_TOKEN_TTL_SEC,
    },
  };
}

/**
 * oidc-provider's default prompts plus one login check: a `login_hint` naming someone other than
 * the signed-in user asks for a login again, so a browser session as alice never silently answers
 * a request made for bob.
 */
function devInteractionPolicy(): interactionPolicy.DefaultPolicy {
  const { Check, base } = interactionPolicy;
  const policy = base();
  policy.get('login')?.checks.add(
    new Check('login_hint_mismatch', 'login_hint names another user than the signed-in one', (ctx) => {
      const hint = ctx.oidc.params?.login_hint;
      const current = ctx.oidc.session?.accountId;
      return typeof hint === 'string' && hint !== '' && current !== undefined && current !== hint
        ? Check.REQUEST_PROMPT
        : Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}
