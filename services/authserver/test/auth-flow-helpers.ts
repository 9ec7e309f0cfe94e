import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { createAuthServer, type AuthServer, type AuthServerConfigInput } from '../src/index.js';
import { CookieJar } from '../src/cookie-jar.js';

/** The gateway resource every test token is for (nothing listens there; it is only an audience). */
export const GATEWAY_RESOURCE = 'http://localhost:7420/mcp';
/** A second resource the server may also issue tokens for (the query API). */
export const QUERY_RESOURCE = 'http://localhost:7421/';

/** The support-desk demo's authserver section, with an issuer port replaced at bind time. */
export const DEMO_CONFIG: AuthServerConfigInput = {
  issuer: 'http://127.0.0.1:1',
  clients: [
    { clientId: 'support-bot', clientSecret: 'dev-secret-support-bot', scopes: ['mcp:tools'] },
    { clientId: 'analyst', clientSecret: 'dev-secret-analyst', scopes: ['audit:read'] },
    {
      clientId: 'ops-agent',
      clientSecret: 'dev-secret-ops-agent',
      scopes: ['mcp:tools'],
      grantTypes: ['authorization_code', 'refresh_token'],
    },
  ],
  users: ['alice', 'bob', 'admin'],
};

/** A temp data dir removed by the returned cleanup. */
export async function tempDataDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-authserver-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Starts an authserver on an ephemeral port whose issuer matches the bound port. */
export function startDemoServer(
  dataDir: string,
  resource: string | string[] = [GATEWAY_RESOURCE, QUERY_RESOURCE],
  config: AuthServerConfigInput = DEMO_CONFIG,
): Promise<AuthServer> {
  return createAuthServer({ config, resource, port: 0, dataDir });
}

/** Verifies an access token against the server's published JWKS (fetched over HTTP, as a gateway would). */
export async function verifyAccessToken(
  server: AuthServer,
  token: string,
  audience: string = GATEWAY_RESOURCE,
): Promise<{ payload: JWTPayload & Record<string, unknown>; protectedHeader: ProtectedHeaderParameters }> {
  const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  return jwtVerify(token, jwks, {
    issuer: server.issuer,
    audience,
    typ: 'at+jwt',
    algorithms: ['RS256', 'ES256'],
  });
}

/** Client credentials request with HTTP Basic auth; returns the raw response. */
export function clientCredentials(
  server: AuthServer,
  client: { id: string; secret: string },
  form: Record<string, string>,
): Promise<Response> {
  return fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...form }).toString(),
  });
}

/** A PKCE verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Where a browser-like walk through an authorization request ended. */
export type WalkEnd =
  { kind: 'redirect'; url: URL } | { kind: 'page'; status: number; url: URL; body: string; headers: Headers };

/**
 * Follows an authorization URL like a browser would (cookies kept, redirects followed) until it
 * redirects to `redirectUri` or stops at a page.
 */
export async function walkAuthorization(
  start: string | URL,
  redirectUri: string,
  jar = new CookieJar(),
): Promise<WalkEnd> {
  const target = new URL(redirectUri);
  let url = new URL(start);
  for (let hop = 0; hop < 12; hop += 1) {
    const cookie = jar.header();
    const response = await fetch(url, {
      redirect: 'manual',
      headers: cookie === undefined ? {} : { cookie },
    });
    jar.store(response);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      const next = new URL(location, url);
      if (next.origin === target.origin && next.pathname === target.pathname)
        return { kind: 'redirect', url: next };
      url = next;
      continue;
    }
    return {
      kind: 'page',
      status: response.status,
      url,
      body: await response.text(),
      headers: response.headers,
    };
  }
  throw new Error(`authorization walk did not finish: ${url.href}`);
}

/** What {@link rawRequest} got back. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTP request with full control of the headers fetch will not let a caller set (`Host`, or no
 * `Host` at all when `host` is null), sent to `url`'s address.
 */
export function rawRequest(
  url: string,
  options: { method?: string; host?: string | null; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        hostname: target.hostname.replace(/^\[|\]$/g, ''),
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: options.method ?? 'GET',
        setHost: options.host !== null,
        headers: {
          ...(typeof options.host === 'string' ? { host: options.host } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Registers a client at `/reg` (RFC 7591) and returns the raw response. */
export function registerClient(server: AuthServer, metadata: Record<string, unknown>): Promise<Response> {
  return fetch(`${server.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(metadata),
  });
}

/** What the token endpoint answered to a code exchange. */
export interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  scope?: string;
}

/**
 * Runs the authorization code + PKCE flow as `user` (login_hint) and exchanges the code: with HTTP
 * Basic when `clientSecret` is given, as a public client otherwise. Extra authorization parameters
 * (`prompt`, …) go in `params`.
 */
export async function codeFlowTokens(
  server: AuthServer,
  flow: {
    clientId: string;
    clientSecret?: string;
    redirectUri: string;
    scope: string;
    user: string;
    resource?: string;
    params?: Record<string, string>;
  },
): Promise<TokenResponse> {
  const { verifier, challenge } = pkcePair();
  const resource = flow.resource ?? GATEWAY_RESOURCE;
  const authorize = new URL(`${server.issuer}/auth`);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: flow.clientId,
    redirect_uri: flow.redirectUri,
    scope: flow.scope,
    resource,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    login_hint: flow.user,
    ...flow.params,
  }).toString();
  const end = await walkAuthorization(authorize, flow.redirectUri);
  if (end.kind !== 'redirect') throw new Error(`expected a redirect, got HTTP ${end.status}: ${end.body}`);
  const code = end.url.searchParams.get('code');
  if (code === null) throw new Error(`no code: ${end.url.href}`);
  const response = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(flow.clientSecret === undefined
        ? {}
        : {
            authorization: `Basic ${Buffer.from(`${flow.clientId}:${flow.clientSecret}`).toString('base64')}`,
          }),
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      ...(flow.clientSecret === undefined ? { client_id: flow.clientId } : {}),
      code,
      code_verifier: verifier,
      redirect_uri: flow.redirectUri,
      resource,
    }).toString(),
  });
  if (response.status !== 200)
    throw new Error(`token endpoint: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as TokenResponse;
}
