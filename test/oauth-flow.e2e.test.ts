import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followAuthorization, startTestStack, type TestStack } from './support/test-stack.js';

/**
 * The official SDK client's own OAuth flow against ingress + authserver: the 401 names the
 * protected-resource metadata, the client discovers the authserver from it, registers itself
 * (RFC 7591), runs authorization code + PKCE (S256) and then lists and calls tools.
 */
describe('MCP SDK client OAuth flow through the gateway', () => {
  let t: TestStack;
  beforeAll(async () => {
    // A dynamically registered client has a client_id no policy can name in advance: grant every
    // agent the harmless listing tool so the flow has something to show.
    t = await startTestStack({
      edit: (config) => {
        config.policy = {
          ...config.policy,
          rules: [...config.policy.rules, ['*', 'support__list_open_tickets', 'allow']],
        };
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('discovers, registers, authorizes alice with PKCE, then lists and calls tools', async () => {
    const redirectUrl = 'http://localhost:33419/callback';
    const state: {
      client?: OAuthClientInformationMixed;
      tokens?: OAuthTokens;
      verifier?: string;
      code?: string;
      authorizeUrl?: URL;
    } = {};
    const provider: OAuthClientProvider = {
      get redirectUrl() {
        return redirectUrl;
      },
      get clientMetadata() {
        return {
          redirect_uris: [redirectUrl],
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          client_name: 'gatehouse e2e',
        };
      },
      clientInformation: () => state.client,
      saveClientInformation: (info) => {
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
        state.authorizeUrl = url;
        url.searchParams.set('login_hint', 'alice');
        state.code = (await followAuthorization(url, redirectUrl)).searchParams.get('code') ?? undefined;
      },
    };

    const mcpUrl = new URL(t.stack.urls.mcp);
    const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    const client = new Client({ name: 'gatehouse-e2e', version: '1.0.0' });
    await expect(client.connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(state.client?.client_id).toBeTruthy();
    expect(state.authorizeUrl?.searchParams.get('code_challenge_method')).toBe('S256');
    expect(state.authorizeUrl?.searchParams.get('resource')).toBe(t.config.gateway.resource);
    await first.finishAuth(state.code ?? '');

    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    const authed = new Client({ name: 'gatehouse-e2e', version: '1.0.0' });
    await authed.connect(transport);
    const tools = (await authed.listTools()).tools.map((tool) => tool.name);
    expect(tools).toEqual(['support__list_open_tickets']);
    const result = await authed.callTool({ name: 'support__list_open_tickets', arguments: {} });
    expect(result.isError ?? false).toBe(false);
    expect(JSON.stringify(result.content)).toContain('T-1001');
    await authed.close();
  });
});
