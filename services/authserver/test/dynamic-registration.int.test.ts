import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuthServer } from '../src/index.js';
import {
  clientCredentials,
  codeFlowTokens,
  DEMO_CONFIG,
  GATEWAY_RESOURCE,
  registerClient,
  startDemoServer,
  tempDataDir,
  verifyAccessToken,
} from './auth-flow-helpers.js';

/** What the MCP SDK registers (redirect on a loopback port, public client, user-facing grants). */
const SDK_METADATA = {
  redirect_uris: ['http://localhost:33418/callback'],
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  client_name: 'MCP test client',
};

interface RegistrationError {
  error: string;
  error_description: string;
}

describe('dynamic client registration (RFC 7591) bounds', () => {
  let dataDir: { dir: string; remove: () => Promise<void> };
  let server: AuthServer;

  beforeEach(async () => {
    dataDir = await tempDataDir();
    server = await startDemoServer(dataDir.dir, GATEWAY_RESOURCE, { ...DEMO_CONFIG, maxDynamicClients: 3 });
  });

  afterEach(async () => {
    await server.close();
    await dataDir.remove();
  });

  describe('grant types', () => {
    it('refuses a public client asking client_credentials, naming grant_types', async () => {
      const response = await registerClient(server, {
        token_endpoint_auth_method: 'none',
        grant_types: ['client_credentials'],
      });

      expect(response.status).toBe(400);
      const body = (await response.json()) as RegistrationError;
      expect(body.error).toBe('invalid_client_metadata');
      expect(body.error_description).toMatch(
        /^grant_types may only contain authorization_code and refresh_token/,
      );
    });

    it('refuses client_credentials next to the user-facing grants, and for a confidential client', async () => {
      for (const metadata of [
        { ...SDK_METADATA, grant_types: ['authorization_code', 'client_credentials'] },
        {
          ...SDK_METADATA,
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: ['client_credentials'],
        },
      ]) {
        const response = await registerClient(server, metadata);

        expect(response.status).toBe(400);
        expect(await response.json()).toMatchObject({ error: 'invalid_client_metadata' });
      }
    });

    it('accepts the SDK metadata, whose client then gets no client-credentials token', async () => {
      const response = await registerClient(server, {
        ...SDK_METADATA,
        token_endpoint_auth_method: 'client_secret_basic',
      });
      expect(response.status).toBe(201);
      const client = (await response.json()) as { client_id: string; client_secret: string };

      const token = await clientCredentials(
        server,
        { id: client.client_id, secret: client.client_secret },
        { scope: 'mcp:tools', resource: GATEWAY_RESOURCE },
      );

      expect(token.status).toBe(400);
      expect(await token.json()).toMatchObject({
        error_description: 'requested grant type is not allowed for this client',
      });
    });
  });

  describe('redirect URIs', () => {
    it.each([
      ['plain http on another host', 'http://attacker.example/cb'],
      ['http on a name that starts with localhost', 'http://localhost.attacker.example/cb'],
      ['http with userinfo', 'http://127.0.0.1@attacker.example/cb'],
      ['a private-use scheme', 'com.example.app:/cb'],
      ['javascript', 'javascript:alert(1)'],
    ])('refuses %s with invalid_redirect_uri', async (_case, uri) => {
      const response = await registerClient(server, { ...SDK_METADATA, redirect_uris: [uri] });

      expect(response.status).toBe(400);
      const body = (await response.json()) as RegistrationError;
      expect(body.error).toBe('invalid_redirect_uri');
      expect(body.error_description).toMatch(/^redirect_uris must be loopback http URIs/);
      expect(body.error_description).not.toContain('attacker');
    });

    it('refuses the whole registration when one of several URIs is not allowed', async () => {
      const response = await registerClient(server, {
        ...SDK_METADATA,
        redirect_uris: ['http://127.0.0.1:9/cb', 'http://attacker.example/cb'],
      });

      expect(response.status).toBe(400);
    });

    it('accepts loopback http on any port (127.0.0.1, [::1], localhost) and https', async () => {
      const uris = [
        'http://127.0.0.1:49152/callback',
        'http://[::1]:8080/cb',
        'http://localhost/cb',
        'https://app.example/oauth/callback',
      ];
      const response = await registerClient(server, { ...SDK_METADATA, redirect_uris: uris });

      expect(response.status).toBe(201);
      expect(((await response.json()) as { redirect_uris: string[] }).redirect_uris).toEqual(uris);
    });
  });

  it('refuses metadata naming URLs the server would fetch', async () => {
    for (const field of ['jwks_uri', 'sector_identifier_uri']) {
      const response = await registerClient(server, {
        ...SDK_METADATA,
        [field]: 'https://internal.example/x',
      });

      expect(response.status).toBe(400);
      const body = (await response.json()) as RegistrationError;
      expect(body.error).toBe('invalid_client_metadata');
      expect(body.error_description).toMatch(new RegExp(`^${field} is not accepted`));
    }
  });

  it('lets a registered client ask offline_access on top of the scope it registered', async () => {
    const response = await registerClient(server, { ...SDK_METADATA, scope: 'mcp:tools' });
    const client = (await response.json()) as { client_id: string; scope: string };

    expect(client.scope.split(' ').sort()).toEqual(['mcp:tools', 'offline_access', 'openid']);
    const tokens = await codeFlowTokens(server, {
      clientId: client.client_id,
      redirectUri: SDK_METADATA.redirect_uris[0] ?? '',
      scope: 'mcp:tools offline_access',
      user: 'alice',
      params: { prompt: 'consent' },
    });
    expect(tokens.refresh_token).toBeTruthy();
    expect((await verifyAccessToken(server, tokens.access_token)).payload).toMatchObject({ sub: 'alice' });
  });

  it('past maxDynamicClients answers 403 access_denied naming the setting; refused registrations do not count', async () => {
    const refused = await registerClient(server, {
      ...SDK_METADATA,
      redirect_uris: ['http://attacker.example/cb'],
    });
    expect(refused.status).toBe(400);
    for (let index = 0; index < 3; index += 1) {
      expect((await registerClient(server, SDK_METADATA)).status).toBe(201);
    }

    const response = await registerClient(server, SDK_METADATA);

    expect(response.status).toBe(403);
    const body = (await response.json()) as RegistrationError;
    expect(body.error).toBe('access_denied');
    expect(body.error_description).toContain('maximum of 3 dynamically registered clients');
    expect(body.error_description).toContain('authserver.maxDynamicClients');
  });

  it('keeps refusing concurrent registrations past the limit (no overshoot)', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 12 }, async () => (await registerClient(server, SDK_METADATA)).status),
    );

    expect(statuses.filter((status) => status === 201)).toHaveLength(3);
    expect(statuses.filter((status) => status === 403)).toHaveLength(9);
  });
});
