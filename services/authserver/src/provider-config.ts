import type { ClientMetadata, Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { errors, interactionPolicy } from 'oidc-provider';
import { AUTH_ERROR_HEADER } from './auth-error-header.js';
import { BUILTIN_SCOPES, OIDC_SCOPES, type AuthServerConfig } from './config.js';
import { dynamicRegistrationValidator } from './dynamic-registration.js';
import { escapeHtml, htmlPage } from './html.js';
import { createMemoryStore } from './memory-adapter.js';
import type { PrivateJwks } from './signing-keys.js';
import { parseUrl } from './parse-url.js';

/** Lifetime of access tokens, both flows (seconds). */
export const ACCESS_TOKEN_TTL_SEC = 3600;
/**
 * Lifetime of refresh tokens (seconds): 14 days. It is also the lifetime of the grant behind them,
 * counted from the sign-in, so refreshing never extends a session past it.
 */
export const REFRESH_TOKEN_TTL_SEC = 14 * 24 * 3600;
/** A dynamically registered client unused this long (seconds) is forgotten: the refresh lifetime. */
export const DYNAMIC_CLIENT_IDLE_TTL_SEC = REFRESH_TOKEN_TTL_SEC;

/** Path of the callback page every pre-registered client may use as its redirect URI. */
export const DEV_CALLBACK_PATH = '/callback';
/** Path prefix of the development login (interaction) pages. */
export const INTERACTION_PATH = '/interaction';

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
  const url = parseUrl(resource);
  return url === null || url.hash !== '' ? undefined : url.href;
}

/**
 * The oidc-provider configuration of the development authserver:
 *
 * - pre-registered confidential clients with exactly their configured `scope`, plus
 *   `offline_access` when they may refresh (oidc-provider refuses any other *known* scope with
 *   `invalid_scope`, for every grant);
 * - open dynamic registration (RFC 7591) bounded by {@link dynamicRegistrationValidator}: user-facing
 *   grants only, loopback or https redirect URIs, at most `maxDynamicClients` at once, each
 *   forgotten after {@link DYNAMIC_CLIENT_IDLE_TTL_SEC} unused;
 * - PKCE required for every authorization request (oidc-provider only implements S256);
 * - every access token is an RFC 9068 JWT (`typ: at+jwt`) for one of `resources`, signed RS256
 *   with the persisted key; no userinfo endpoint, so no opaque tokens are ever issued;
 * - a refresh token only from an authorization code whose grant includes `offline_access` (OpenID
 *   Connect Core §11; MCP SEP-2207), for a client allowed the `refresh_token` grant; oidc-provider
 *   keeps `offline_access` only when the request also says `prompt=consent`;
 * - CORS on the token endpoint only for an `Origin` that is one of the client's redirect URIs'
 *   origins (discovery and JWKS are public documents, open to every origin).
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
  const callbackUri = new URL(DEV_CALLBACK_PATH, issuer).href;
  const store = createMemoryStore({ clientIdleTtlSec: DYNAMIC_CLIENT_IDLE_TTL_SEC });

  return {
    adapter: store.adapterFactory,
    clients: config.clients.map((client): ClientMetadata => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      // `offline_access` is how a code flow asks for a refresh token; only a client that may refresh gets it.
      scope: [
        ...client.scopes,
        ...(client.grantTypes.includes('refresh_token') ? ['offline_access'] : []),
      ].join(' '),
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
      // No registration access token: client read/update (RFC 7592) is not offered, so it would
      // only be one more entry kept per registration.
      registration: { enabled: true, initialAccessToken: false, issueRegistrationAccessToken: false },
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
    extraClientMetadata: {
      properties: ['scope'],
      validator: dynamicRegistrationValidator({
        scopes: new Set(config.dynamicClientScopes),
        maxClients: config.maxDynamicClients,
        clientIdleTtlSec: DYNAMIC_CLIENT_IDLE_TTL_SEC,
        clientCount: store.clientCount,
      }),
    },
    issueRefreshToken: (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    expiresWithSession: () => false,
    findAccount: (_ctx, sub) => (users.has(sub) ? { accountId: sub, claims: () => ({ sub }) } : undefined),
    interactions: {
      policy: devInteractionPolicy(),
      url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`,
    },
    // A browser-based client (an MCP inspector) calls the token endpoint from the origin it
    // registered its redirect URI on; no other page may read a token response.
    clientBasedCORS: (_ctx, origin, client) =>
      origin !== 'null' && (client.redirectUris ?? []).some((uri) => parseUrl(uri)?.origin === origin),
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
