import { z } from 'zod';

/** Scopes every development authserver knows, whatever the configuration says. */
export const BUILTIN_SCOPES = ['openid', 'offline_access', 'mcp:tools', 'audit:read'] as const;

/** OpenID Connect scopes: they describe the user session, not a resource server. */
export const OIDC_SCOPES: ReadonlySet<string> = new Set(['openid', 'offline_access']);

/** Scopes a dynamically registered client gets when the configuration does not say otherwise. */
export const DEFAULT_DYNAMIC_CLIENT_SCOPES = ['mcp:tools'] as const;

/** How many dynamically registered clients the server holds at once unless configured otherwise. */
export const DEFAULT_MAX_DYNAMIC_CLIENTS = 1000;

/**
 * The issuer identifier exactly as the server announces it and writes it into `iss`: the URL's
 * serialisation without a trailing `/` (so `http://LOCALHOST:7422/` becomes `http://localhost:7422`).
 * A gateway must be configured with this very string: `iss` is compared byte for byte.
 */
export function canonicalIssuer(issuer: string): string {
  return new URL(issuer).href.replace(/\/$/, '');
}

/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. */
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be an RFC 6749 scope token');

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' });

/** One pre-registered (confidential) client. */
const clientSchema = z.strictObject({
  /** OAuth `client_id`; the agent's identity in audit events. */
  clientId: z.string().min(1),
  /** Shared secret for `client_secret_basic`. Development only: it sits in the config file. */
  clientSecret: z.string().min(1),
  /** The only scopes this client may ever receive (e.g. `mcp:tools`, `audit:read`). */
  scopes: z.array(scopeToken).min(1),
  /**
   * Extra redirect URIs for the authorization code flow. `<issuer>/callback` is always registered
   * too; the dev token client uses it.
   */
  redirectUris: z.array(httpUrl).optional(),
  /**
   * OAuth grants the client may use. Default all three. Leave out `client_credentials` for an agent
   * whose grants are broad and must only ever be exercised on behalf of a signed-in user: with
   * client credentials it would act for itself, decided on its own grants alone.
   */
  grantTypes: z
    .array(z.enum(['client_credentials', 'authorization_code', 'refresh_token']))
    .min(1)
    .default(['client_credentials', 'authorization_code', 'refresh_token']),
});

/**
 * The `authserver:` section of `gatehouse.yaml`. Validated once at start-up; errors name the path of
 * the bad key (e.g. `clients.1.scopes.0`).
 */
export const authServerConfigSchema = z
  .strictObject({
    /**
     * Issuer identifier (`iss` of every token, see {@link canonicalIssuer}), e.g.
     * `http://localhost:7422`. No query or fragment. Its port must be the one the server listens on
     * (`GATEHOUSE_AUTH_PORT`), checked at start-up; the server listens on loopback only.
     */
    issuer: httpUrl.refine((value) => {
      const url = new URL(value);
      return url.search === '' && url.hash === '';
    }, 'must not carry a query or fragment'),
    /** Pre-registered clients. */
    clients: z.array(clientSchema),
    /** Users the development login offers; any of them may sign in without a password. */
    users: z.array(z.string().min(1)),
    /**
     * Scopes a client created through dynamic registration (RFC 7591) may hold. A registration that
     * names no `scope` gets all of them. Default: `['mcp:tools']`; `openid` and `offline_access` are
     * always allowed on top.
     */
    dynamicClientScopes: z.array(scopeToken).default([...DEFAULT_DYNAMIC_CLIENT_SCOPES]),
    /**
     * Most clients dynamic registration may hold at once (default 1,000). Past it `/reg` answers 403
     * until an idle registration expires (14 days unused) or the server restarts.
     */
    maxDynamicClients: z.number().int().positive().default(DEFAULT_MAX_DYNAMIC_CLIENTS),
  })
  .superRefine((config, ctx) => {
    const seenClients = new Set<string>();
    config.clients.forEach((client, index) => {
      if (seenClients.has(client.clientId)) {
        ctx.addIssue({
          code: 'custom',
          path: ['clients', index, 'clientId'],
          message: `duplicate clientId "${client.clientId}"`,
        });
      }
      seenClients.add(client.clientId);
    });
    const seenUsers = new Set<string>();
    config.users.forEach((user, index) => {
      if (seenUsers.has(user)) {
        ctx.addIssue({ code: 'custom', path: ['users', index], message: `duplicate user "${user}"` });
      }
      seenUsers.add(user);
      // A token's `sub` is the user, or the client id for client credentials: the gateway takes
      // user === agent for "no user" and decides on the agent's grants alone.
      if (seenClients.has(user)) {
        ctx.addIssue({
          code: 'custom',
          path: ['users', index],
          message: `user "${user}" has the name of a client: the gateway would take its tokens for the client acting for itself and skip the user's grants; rename the user or the client`,
        });
      }
    });
  });

/** Validated authserver configuration (defaults applied). */
export type AuthServerConfig = z.output<typeof authServerConfigSchema>;
/** Authserver configuration as written (defaults optional). */
export type AuthServerConfigInput = z.input<typeof authServerConfigSchema>;
