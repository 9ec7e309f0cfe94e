import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { auth, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuthServer } from '../src/index.js';
import { startDemoServer, tempDataDir, verifyAccessToken, walkAuthorization } from './auth-flow-helpers.js';

/**
 * The official MCP SDK client's OAuth flow (RFC 9728 discovery → RFC 8414 metadata → DCR →
 * authorization code + PKCE → token, then refresh) against the authserver. A stub protected
 * resource stands in for the gateway: it only serves its RFC 9728 metadata.
 */
describe('MCP SDK client auth flow', () => {
  let dataDir: { dir: string; remove: () => Promise<void> };
  let resourceServer: Server;
  let resourceUrl: string;
  let server: AuthServer;

  beforeEach(async () => {
    dataDir = await tempDataDir();
    let issuer = '';
    resourceServer = createServer((req, res) => {
      if (req.url?.startsWith('/.well-known/oauth-protected-resource')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            resource: resourceUrl,
            authorization_servers: [issuer],
            scopes_supported: ['mcp:tools'],
          }),
        );
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => resourceServer.listen(0, '127.0.0.1', resolve));
    resourceUrl = `http://127.0.0.1:${(resourceServer.address() as AddressInfo).port}/mcp`;
    server = await startDemoServer(dataDir.dir, resourceUrl);
    issuer = server.issuer;
  });

  afterEach(async () => {
    await server.close();
    resourceServer.closeAllConnections();
    await new Promise((resolve) => resourceServer.close(resolve));
    await dataDir.remove();
  });

  /** An in-memory OAuthClientProvider whose "browser" signs in as `user` through login_hint. */
  function sdkProvider(user: string) {
    const redirectUrl = 'http://localhost:33418/callback';
    const state: {
      client?: OAuthClientInformationMixed;
      tokens?: OAuthTokens;
      verifier?: string;
      code?: string;
      registrations: number;
    } = { registrations: 0 };
    const provider: OAuthClientProvider = {
      get redirectUrl() {
        return redirectUrl;
      },
      get clientMetadata(): OAuthClientMetadata {
        return {
          redirect_uris: [redirectUrl],
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          client_name: 'gatehouse sdk test',
        };
      },
      clientInformation: () => state.client,
      saveClientInformation: (info) => {
        state.registrations += 1;
        state.client = info;
      },
      tokens: () => state.tokens,
      saveTokens: (tokens) => {
        state.tokens = tokens;
      },
      saveCodeVerifier: (verifier) => {
        state.verifier = verifier;
      },
      codeVerifier: () => state.verifier ?? '',
      redirectToAuthorization: async (url) => {
        url.searchParams.set('login_hint', user);
        const end = await walkAuthorization(url, redirectUrl);
        if (end.kind !== 'redirect')
          throw new Error(`authorization stopped at HTTP ${end.status}: ${end.body}`);
        state.code = end.url.searchParams.get('code') ?? undefined;
      },
    };
    return { provider, state };
  }

  it('registers dynamically, authorizes alice with PKCE, and refreshes — all through auth()', async () => {
    const { provider, state } = sdkProvider('alice');
    // A client that wants a refresh token asks offline_access (MCP SEP-2207); the SDK then adds
    // prompt=consent, which OpenID Connect requires for it.
    const scope = 'mcp:tools offline_access';

    expect(await auth(provider, { serverUrl: resourceUrl, scope })).toBe('REDIRECT');
    expect(state.registrations).toBe(1);
    expect(state.code).toBeTruthy();

    expect(await auth(provider, { serverUrl: resourceUrl, scope, authorizationCode: state.code ?? '' })).toBe(
      'AUTHORIZED',
    );
    const first = state.tokens;
    const { payload } = await verifyAccessToken(server, first?.access_token ?? '', resourceUrl);
    expect(payload).toMatchObject({
      sub: 'alice',
      aud: resourceUrl,
      scope: 'mcp:tools',
      client_id: state.client?.client_id,
    });
    expect(first?.refresh_token).toBeTruthy();

    expect(await auth(provider, { serverUrl: resourceUrl })).toBe('AUTHORIZED');
    expect(state.tokens?.access_token).not.toBe(first?.access_token);
    const { payload: refreshed } = await verifyAccessToken(
      server,
      state.tokens?.access_token ?? '',
      resourceUrl,
    );
    expect(refreshed).toMatchObject({ sub: 'alice', aud: resourceUrl });
  });

  it('without offline_access, the same flow yields an access token and no refresh token', async () => {
    const { provider, state } = sdkProvider('bob');

    expect(await auth(provider, { serverUrl: resourceUrl })).toBe('REDIRECT');
    expect(await auth(provider, { serverUrl: resourceUrl, authorizationCode: state.code ?? '' })).toBe(
      'AUTHORIZED',
    );

    const { payload } = await verifyAccessToken(server, state.tokens?.access_token ?? '', resourceUrl);
    expect(payload).toMatchObject({ sub: 'bob', aud: resourceUrl, scope: 'mcp:tools' });
    expect(state.tokens?.refresh_token).toBeUndefined();
  });
});
