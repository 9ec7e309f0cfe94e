import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthServer, AuthServerConfigInput } from '../src/index.js';
import {
  codeFlowTokens,
  DEMO_CONFIG,
  GATEWAY_RESOURCE,
  registerClient,
  startDemoServer,
  tempDataDir,
  verifyAccessToken,
} from './auth-flow-helpers.js';

const CONFIG: AuthServerConfigInput = {
  ...DEMO_CONFIG,
  clients: [
    ...DEMO_CONFIG.clients,
    // May sign users in, but never refresh.
    {
      clientId: 'one-shot',
      clientSecret: 'dev-secret-one-shot',
      scopes: ['mcp:tools'],
      grantTypes: ['authorization_code'],
    },
  ],
};

describe('refresh tokens', () => {
  let dataDir: { dir: string; remove: () => Promise<void> };
  let server: AuthServer;
  const callback = () => `${server.issuer}/callback`;

  beforeAll(async () => {
    dataDir = await tempDataDir();
    server = await startDemoServer(dataDir.dir, GATEWAY_RESOURCE, CONFIG);
  });

  afterAll(async () => {
    await server.close();
    await dataDir.remove();
  });

  const supportBot = (scope: string, params: Record<string, string> = {}) =>
    codeFlowTokens(server, {
      clientId: 'support-bot',
      clientSecret: 'dev-secret-support-bot',
      redirectUri: callback(),
      scope,
      user: 'alice',
      params,
    });

  const refresh = async (
    refreshToken: string,
    client: { id: string; secret?: string },
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(client.secret === undefined
          ? {}
          : { authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}` }),
      },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        resource: GATEWAY_RESOURCE,
        ...(client.secret === undefined ? { client_id: client.id } : {}),
      }).toString(),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('are not issued to a code flow that does not ask offline_access', async () => {
    const tokens = await supportBot('mcp:tools');

    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('are issued to a code flow asking offline_access with prompt=consent; the access token keeps only the resource scope', async () => {
    const tokens = await supportBot('mcp:tools offline_access', { prompt: 'consent' });

    expect(tokens.refresh_token).toBeTruthy();
    const { payload } = await verifyAccessToken(server, tokens.access_token);
    expect(payload).toMatchObject({ sub: 'alice', client_id: 'support-bot', scope: 'mcp:tools' });
  });

  it('are not issued when offline_access comes without prompt=consent (OpenID Connect Core §11)', async () => {
    const tokens = await supportBot('mcp:tools offline_access');

    expect(tokens.refresh_token).toBeUndefined();
  });

  it('are not issued to a client not allowed the refresh_token grant, even asking offline_access', async () => {
    const tokens = await codeFlowTokens(server, {
      clientId: 'one-shot',
      clientSecret: 'dev-secret-one-shot',
      redirectUri: callback(),
      scope: 'mcp:tools offline_access',
      user: 'bob',
      params: { prompt: 'consent' },
    });

    expect(tokens.refresh_token).toBeUndefined();
  });

  it('of a confidential client are kept on use (rotated only past 70% of their lifetime)', async () => {
    const tokens = await supportBot('mcp:tools offline_access', { prompt: 'consent' });
    const client = { id: 'support-bot', secret: 'dev-secret-support-bot' };

    const first = await refresh(tokens.refresh_token ?? '', client);
    const second = await refresh(tokens.refresh_token ?? '', client);

    expect(first.status).toBe(200);
    expect(first.body.refresh_token).toBe(tokens.refresh_token);
    expect(second.status).toBe(200);
    const { payload } = await verifyAccessToken(server, String(second.body.access_token));
    expect(payload).toMatchObject({ sub: 'alice', client_id: 'support-bot' });
  });

  it('of a public client rotate on every use; replaying a used one revokes the whole grant', async () => {
    const registration = await registerClient(server, {
      redirect_uris: ['http://127.0.0.1:33420/callback'],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    });
    const { client_id: clientId } = (await registration.json()) as { client_id: string };
    const tokens = await codeFlowTokens(server, {
      clientId,
      redirectUri: 'http://127.0.0.1:33420/callback',
      scope: 'mcp:tools offline_access',
      user: 'alice',
      params: { prompt: 'consent' },
    });

    const rotated = await refresh(tokens.refresh_token ?? '', { id: clientId });
    expect(rotated.status).toBe(200);
    expect(rotated.body.refresh_token).toBeTruthy();
    expect(rotated.body.refresh_token).not.toBe(tokens.refresh_token);

    const replay = await refresh(tokens.refresh_token ?? '', { id: clientId });
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const afterReplay = await refresh(String(rotated.body.refresh_token), { id: clientId });
    expect(afterReplay).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });
});
