import { createHash, randomBytes } from 'node:crypto';
import { CookieJar } from './cookie-jar.js';
import { AuthServerError } from './errors.js';
import { AUTH_ERROR_HEADER } from './auth-error-header.js';

/** Redirects followed before the authorization flow is declared stuck. */
const MAX_REDIRECTS = 10;

/** Options of {@link getDevAccessToken}. */
export interface DevTokenRequest {
  /** Issuer URL, e.g. `http://localhost:7422`; discovery is read from it. */
  issuer: string;
  /** Pre-registered client (`client_secret_basic`). */
  clientId: string;
  clientSecret: string;
  /**
   * User to act for. Absent: client credentials grant (`sub` = client id). Present: the
   * authorization code + PKCE flow, signing in through the development login with `login_hint`.
   */
  user?: string;
  /** Resource indicator (RFC 8707), e.g. the gateway's `http://localhost:7420/mcp`: the token's `aud`. */
  resource: string;
  /** Requested scope(s), space-separated or as a list, e.g. `mcp:tools`. */
  scope: string | readonly string[];
  /** Redirect URI registered for the client. Default: `<issuer>/callback` (every pre-registered client has it). */
  redirectUri?: string;
  /** Timeout of each HTTP request (ms). Default 10 000. */
  timeoutMs?: number;
}

interface Metadata {
  authorization_endpoint: string;
  token_endpoint: string;
}

/**
 * Obtains an access token from the Gatehouse development authserver (or any OAuth 2.1 server with
 * the same dev login), for `gatehouse token --client C [--user U]` and tests. Never logs or echoes
 * secrets.
 *
 * @returns the access token (a JWT for the development authserver).
 * @throws AuthServerError naming the client or user at fault: `GH_ERR_AUTH_CLIENT_REJECTED`,
 *   `GH_ERR_AUTH_SCOPE_DENIED`, `GH_ERR_AUTH_RESOURCE_DENIED`, `GH_ERR_AUTH_USER_UNKNOWN`,
 *   `GH_ERR_AUTH_ISSUER_UNREACHABLE` (retryable), `GH_ERR_AUTH_FLOW_FAILED`.
 */
export async function getDevAccessToken(request: DevTokenRequest): Promise<string> {
  const scope = typeof request.scope === 'string' ? request.scope : request.scope.join(' ');
  const http = new HttpSession(request.timeoutMs ?? 10_000, request.issuer);
  const metadata = await discover(http, request.issuer);
  const basic = `Basic ${Buffer.from(
    `${encodeURIComponent(request.clientId)}:${encodeURIComponent(request.clientSecret)}`,
  ).toString('base64')}`;

  if (request.user === undefined) {
    return exchange(http, metadata.token_endpoint, basic, request, {
      grant_type: 'client_credentials',
      scope,
      resource: request.resource,
    });
  }

  const redirectUri =
    request.redirectUri ?? new URL('/callback', `${request.issuer.replace(/\/$/, '')}/`).href;
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const authorize = new URL(metadata.authorization_endpoint);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: request.clientId,
    redirect_uri: redirectUri,
    scope,
    resource: request.resource,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    login_hint: request.user,
  }).toString();

  const callback = await followToRedirectUri(http, authorize.href, redirectUri, request);
  const error = callback.searchParams.get('error');
  if (error !== null) throw oauthError(error, callback.searchParams.get('error_description'), request);
  if (callback.searchParams.get('state') !== state) {
    throw new AuthServerError(
      'GH_ERR_AUTH_FLOW_FAILED',
      `authorization for client "${request.clientId}" returned a wrong state`,
    );
  }
  const code = callback.searchParams.get('code');
  if (code === null) {
    throw new AuthServerError(
      'GH_ERR_AUTH_FLOW_FAILED',
      `authorization for client "${request.clientId}" returned no code`,
    );
  }
  return exchange(http, metadata.token_endpoint, basic, request, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    resource: request.resource,
  });
}

/** fetch with a timeout, a cookie jar, and transport failures translated into our error. */
class HttpSession {
  readonly jar = new CookieJar();
  constructor(
    private readonly timeoutMs: number,
    private readonly issuer: string,
  ) {}

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.jar.header();
    if (cookie !== undefined) headers.set('cookie', cookie);
    let response: Response;
    try {
      response = await fetch(url, {
        ...init,
        headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      throw new AuthServerError(
        'GH_ERR_AUTH_ISSUER_UNREACHABLE',
        `issuer ${this.issuer} is unreachable (${url})`,
        {
          cause,
          retryable: true,
        },
      );
    }
    this.jar.store(response);
    return response;
  }
}

async function discover(http: HttpSession, issuer: string): Promise<Metadata> {
  const base = `${issuer.replace(/\/$/, '')}/`;
  for (const path of ['.well-known/oauth-authorization-server', '.well-known/openid-configuration']) {
    const response = await http.fetch(new URL(path, base).href, { headers: { accept: 'application/json' } });
    if (!response.ok) continue;
    const body = (await response.json().catch(() => undefined)) as Partial<Metadata> | undefined;
    if (typeof body?.authorization_endpoint === 'string' && typeof body.token_endpoint === 'string') {
      return { authorization_endpoint: body.authorization_endpoint, token_endpoint: body.token_endpoint };
    }
  }
  throw new AuthServerError(
    'GH_ERR_AUTH_ISSUER_UNREACHABLE',
    `issuer ${issuer} serves no OAuth authorization server metadata`,
    {
      retryable: true,
    },
  );
}

/** Follows the authorization request through login and consent until it redirects to `redirectUri`. */
async function followToRedirectUri(
  http: HttpSession,
  start: string,
  redirectUri: string,
  request: DevTokenRequest,
): Promise<URL> {
  const target = new URL(redirectUri);
  let url = start;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    const response = await http.fetch(url);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      const next = new URL(location, url);
      if (next.origin === target.origin && next.pathname === target.pathname) return next;
      url = next.href;
      continue;
    }
    await response.body?.cancel();
    const error = response.headers.get(AUTH_ERROR_HEADER);
    if (error !== null) throw oauthError(error, null, request);
    throw new AuthServerError(
      'GH_ERR_AUTH_FLOW_FAILED',
      response.status === 200
        ? `authorization for client "${request.clientId}" stopped at an interactive page (${new URL(url).pathname}); the issuer did not honour login_hint "${request.user}"`
        : `authorization for client "${request.clientId}" failed with HTTP ${response.status} at ${new URL(url).pathname}`,
    );
  }
  throw new AuthServerError(
    'GH_ERR_AUTH_FLOW_FAILED',
    `authorization for client "${request.clientId}" did not reach ${redirectUri} within ${MAX_REDIRECTS} redirects`,
  );
}

async function exchange(
  http: HttpSession,
  tokenEndpoint: string,
  basic: string,
  request: DevTokenRequest,
  form: Record<string, string>,
): Promise<string> {
  const response = await http.fetch(tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: basic,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams(form).toString(),
  });
  const body = (await response.json().catch(() => undefined)) as
    { access_token?: unknown; error?: unknown; error_description?: unknown } | undefined;
  if (response.ok && typeof body?.access_token === 'string') return body.access_token;
  if (typeof body?.error === 'string') {
    throw oauthError(
      body.error,
      typeof body.error_description === 'string' ? body.error_description : null,
      request,
    );
  }
  throw new AuthServerError(
    'GH_ERR_AUTH_FLOW_FAILED',
    `token endpoint answered HTTP ${response.status} without a token for client "${request.clientId}"`,
  );
}

/** Translates an OAuth error code into ours, naming the client, user, scope or resource at fault. */
function oauthError(error: string, description: string | null, request: DevTokenRequest): AuthServerError {
  const detail = description === null ? '' : ` (${description})`;
  const scope = typeof request.scope === 'string' ? request.scope : request.scope.join(' ');
  switch (error) {
    case 'invalid_client':
    case 'unauthorized_client':
      return new AuthServerError(
        'GH_ERR_AUTH_CLIENT_REJECTED',
        `client "${request.clientId}" was rejected: unknown client, wrong secret or grant not allowed [${error}]${detail}`,
        { status: 401 },
      );
    case 'invalid_scope':
      return new AuthServerError(
        'GH_ERR_AUTH_SCOPE_DENIED',
        `client "${request.clientId}" may not request scope "${scope}" [${error}]${detail}`,
        { status: 400 },
      );
    case 'invalid_target':
      return new AuthServerError(
        'GH_ERR_AUTH_RESOURCE_DENIED',
        `resource "${request.resource}" is not served by this issuer (client "${request.clientId}") [${error}]${detail}`,
        { status: 400 },
      );
    case 'unknown_user':
      return new AuthServerError(
        'GH_ERR_AUTH_USER_UNKNOWN',
        `user "${request.user ?? ''}" is not a configured user of the development login (client "${request.clientId}")`,
        { status: 400 },
      );
    default:
      return new AuthServerError(
        'GH_ERR_AUTH_FLOW_FAILED',
        `authorization failed for client "${request.clientId}"${request.user === undefined ? '' : ` as user "${request.user}"`} [${error}]${detail}`,
      );
  }
}
