import { stat } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuthServer, getDevAccessToken, signingKeyPath, type AuthServer } from '../src/index.js';
import { CookieJar } from '../src/cookie-jar.js';
import {
  clientCredentials,
  DEMO_CONFIG,
  GATEWAY_RESOURCE,
  pkcePair,
  QUERY_RESOURCE,
  startDemoServer,
  tempDataDir,
  verifyAccessToken,
  walkAuthorization,
} from './auth-flow-helpers.js';

const SUPPORT_BOT = { id: 'support-bot', secret: 'dev-secret-support-bot' };

describe('development authserver', () => {
  let dataDir: { dir: string; remove: () => Promise<void> };
  let server: AuthServer;

  beforeEach(async () => {
    dataDir = await tempDataDir();
    server = await startDemoServer(dataDir.dir);
  });

  afterEach(async () => {
    await server.close();
    await dataDir.remove();
  });

  describe('discovery', () => {
    it('serves the same metadata at the OpenID and the RFC 8414 well-known URLs, for the bound issuer', async () => {
      type Metadata = Record<string, unknown> & {
        grant_types_supported: string[];
        scopes_supported: string[];
      };
      const oidc = (await (
        await fetch(`${server.issuer}/.well-known/openid-configuration`)
      ).json()) as Metadata;
      const oauth = (await (
        await fetch(`${server.issuer}/.well-known/oauth-authorization-server`)
      ).json()) as Metadata;

      expect(oauth).toEqual(oidc);
      expect(server.issuer).toBe(server.url);
      expect(oauth).toMatchObject({
        issuer: server.issuer,
        authorization_endpoint: `${server.issuer}/auth`,
        token_endpoint: `${server.issuer}/token`,
        jwks_uri: `${server.issuer}/jwks`,
        registration_endpoint: `${server.issuer}/reg`,
        code_challenge_methods_supported: ['S256'],
        response_types_supported: ['code'],
      });
      expect(oauth.grant_types_supported).toEqual(
        expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']),
      );
      expect(oauth.scopes_supported).toEqual(
        expect.arrayContaining(['mcp:tools', 'audit:read', 'openid', 'offline_access']),
      );
    });

    it('publishes only public keys, each with a kid', async () => {
      const { keys } = (await (await fetch(`${server.issuer}/jwks`)).json()) as {
        keys: Record<string, unknown>[];
      };

      expect(keys.map((key) => key.alg)).toEqual(expect.arrayContaining(['RS256', 'ES256']));
      for (const key of keys) {
        expect(typeof key.kid).toBe('string');
        expect(key).not.toHaveProperty('d');
      }
    });
  });

  describe('client credentials', () => {
    it('issues an RFC 9068 JWT for the gateway with sub = the client id', async () => {
      const response = await clientCredentials(server, SUPPORT_BOT, {
        scope: 'mcp:tools',
        resource: GATEWAY_RESOURCE,
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { access_token: string; token_type: string };

      const { payload, protectedHeader } = await verifyAccessToken(server, body.access_token);

      expect(body.token_type).toBe('Bearer');
      expect(protectedHeader).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
      expect(typeof protectedHeader.kid).toBe('string');
      expect(payload).toMatchObject({
        iss: server.issuer,
        aud: GATEWAY_RESOURCE,
        sub: 'support-bot',
        client_id: 'support-bot',
        scope: 'mcp:tools',
      });
    });

    it('defaults the audience to the first configured resource when the request names none', async () => {
      const response = await clientCredentials(server, SUPPORT_BOT, { scope: 'mcp:tools' });
      const { access_token: token } = (await response.json()) as { access_token: string };

      const { payload } = await verifyAccessToken(server, token, GATEWAY_RESOURCE);
      expect(payload.aud).toBe(GATEWAY_RESOURCE);
    });

    it('issues tokens for every configured resource, with that resource as audience', async () => {
      const token = await getDevAccessToken({
        issuer: server.issuer,
        clientId: 'analyst',
        clientSecret: 'dev-secret-analyst',
        resource: QUERY_RESOURCE,
        scope: 'audit:read',
      });

      const { payload } = await verifyAccessToken(server, token, QUERY_RESOURCE);
      expect(payload).toMatchObject({ sub: 'analyst', scope: 'audit:read', aud: QUERY_RESOURCE });
    });

    it('refuses a scope the client is not configured for', async () => {
      const response = await clientCredentials(server, SUPPORT_BOT, {
        scope: 'audit:read',
        resource: GATEWAY_RESOURCE,
      });

      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_scope', scope: 'audit:read' });
    });

    it('refuses a resource it does not serve', async () => {
      const response = await clientCredentials(server, SUPPORT_BOT, {
        scope: 'mcp:tools',
        resource: 'http://evil.example/mcp',
      });

      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_target' });
    });

    it('refuses a wrong client secret', async () => {
      const response = await clientCredentials(
        server,
        { id: 'support-bot', secret: 'guess' },
        { scope: 'mcp:tools' },
      );

      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ error: 'invalid_client' });
    });

    it('refuses client credentials to a client configured to act only for signed-in users', async () => {
      const response = await clientCredentials(
        server,
        { id: 'ops-agent', secret: 'dev-secret-ops-agent' },
        { scope: 'mcp:tools' },
      );

      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({
        error_description: 'requested grant type is not allowed for this client',
      });
      const token = await getDevAccessToken({
        issuer: server.issuer,
        clientId: 'ops-agent',
        clientSecret: 'dev-secret-ops-agent',
        user: 'admin',
        resource: GATEWAY_RESOURCE,
        scope: 'mcp:tools',
      });
      expect((await verifyAccessToken(server, token)).payload).toMatchObject({
        sub: 'admin',
        client_id: 'ops-agent',
      });
    });
  });

  describe('authorization code + PKCE', () => {
    const redirectUri = () => `${server.issuer}/callback`;

    function authorizeUrl(params: Record<string, string>): URL {
      const url = new URL(`${server.issuer}/auth`);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: 'support-bot',
        redirect_uri: redirectUri(),
        scope: 'mcp:tools',
        resource: GATEWAY_RESOURCE,
        state: 'st',
        ...params,
      }).toString();
      return url;
    }

    it('with login_hint alice, signs in without a page and yields a token whose sub is alice', async () => {
      const token = await getDevAccessToken({
        issuer: server.issuer,
        clientId: 'support-bot',
        clientSecret: 'dev-secret-support-bot',
        user: 'alice',
        resource: GATEWAY_RESOURCE,
        scope: 'mcp:tools',
      });

      const { payload } = await verifyAccessToken(server, token);
      expect(payload).toMatchObject({
        sub: 'alice',
        client_id: 'support-bot',
        scope: 'mcp:tools',
        aud: GATEWAY_RESOURCE,
      });
    });

    it('without login_hint, shows a login page listing the configured users; choosing one completes the flow', async () => {
      const { challenge } = pkcePair();
      const jar = new CookieJar();
      const page = await walkAuthorization(
        authorizeUrl({ code_challenge: challenge, code_challenge_method: 'S256' }),
        redirectUri(),
        jar,
      );
      if (page.kind !== 'page') throw new Error('expected the login page');
      expect(page.status).toBe(200);
      for (const user of ['alice', 'bob', 'admin']) expect(page.body).toContain(`value="${user}"`);

      const cookie = jar.header();
      const submit = await fetch(`${page.url.href}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(cookie === undefined ? {} : { cookie }),
        },
        body: 'user=bob',
      });
      jar.store(submit);
      const location = submit.headers.get('location');
      expect(submit.status).toBe(303);
      const end = await walkAuthorization(new URL(location ?? '', page.url), redirectUri(), jar);

      expect(end.kind).toBe('redirect');
      if (end.kind === 'redirect') expect(end.url.searchParams.get('code')).toBeTruthy();
    });

    it('signs in again when login_hint names another user than the browser session', async () => {
      const jar = new CookieJar();
      const subjects: string[] = [];
      for (const user of ['alice', 'bob']) {
        const { verifier, challenge } = pkcePair();
        const end = await walkAuthorization(
          authorizeUrl({ code_challenge: challenge, code_challenge_method: 'S256', login_hint: user }),
          redirectUri(),
          jar,
        );
        if (end.kind !== 'redirect')
          throw new Error(`expected a redirect, got HTTP ${end.status} ${end.url} ${end.body}`);
        const response = await fetch(`${server.issuer}/token`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from('support-bot:dev-secret-support-bot').toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code: end.url.searchParams.get('code') ?? '',
            code_verifier: verifier,
            redirect_uri: redirectUri(),
          }).toString(),
        });
        const { access_token: token } = (await response.json()) as { access_token: string };
        subjects.push(String((await verifyAccessToken(server, token)).payload.sub));
      }

      expect(subjects).toEqual(['alice', 'bob']);
    });

    it('refuses an unknown login_hint user with an error page and no code', async () => {
      const { challenge } = pkcePair();
      const end = await walkAuthorization(
        authorizeUrl({ code_challenge: challenge, code_challenge_method: 'S256', login_hint: 'mallory' }),
        redirectUri(),
      );

      expect(end.kind).toBe('page');
      if (end.kind === 'page') {
        expect(end.status).toBe(400);
        expect(end.body).toContain('mallory');
        expect(end.headers.get('gatehouse-auth-error')).toBe('unknown_user');
      }
    });

    it('getDevAccessToken names the unknown user', async () => {
      const attempt = getDevAccessToken({
        issuer: server.issuer,
        clientId: 'support-bot',
        clientSecret: 'dev-secret-support-bot',
        user: 'mallory',
        resource: GATEWAY_RESOURCE,
        scope: 'mcp:tools',
      });

      await expect(attempt).rejects.toMatchObject({
        code: 'GH_ERR_AUTH_USER_UNKNOWN',
        message: expect.stringContaining('"mallory"'),
      });
    });

    it('refuses plain PKCE (only S256 is accepted)', async () => {
      const { verifier } = pkcePair();
      const end = await walkAuthorization(
        authorizeUrl({ code_challenge: verifier, code_challenge_method: 'plain', login_hint: 'alice' }),
        redirectUri(),
      );

      expect(end.kind).toBe('redirect');
      if (end.kind === 'redirect') {
        expect(end.url.searchParams.get('error')).toBe('invalid_request');
        expect(end.url.searchParams.get('code')).toBeNull();
      }
    });

    it('refuses an authorization request without PKCE, even from a confidential client', async () => {
      const end = await walkAuthorization(authorizeUrl({ login_hint: 'alice' }), redirectUri());

      expect(end.kind).toBe('redirect');
      if (end.kind === 'redirect') {
        expect(end.url.searchParams.get('error')).toBe('invalid_request');
        expect(end.url.searchParams.get('code')).toBeNull();
      }
    });

    it('refuses a scope the client is not configured for, naming the client', async () => {
      const attempt = getDevAccessToken({
        issuer: server.issuer,
        clientId: 'support-bot',
        clientSecret: 'dev-secret-support-bot',
        user: 'alice',
        resource: GATEWAY_RESOURCE,
        scope: 'audit:read',
      });

      await expect(attempt).rejects.toMatchObject({
        code: 'GH_ERR_AUTH_SCOPE_DENIED',
        message: expect.stringContaining('"support-bot"'),
      });
    });
  });

  describe('dynamic client registration', () => {
    /** Exactly what @modelcontextprotocol/sdk 1.32 sends from a typical OAuthClientProvider. */
    const sdkMetadata = {
      redirect_uris: ['http://localhost:33418/callback'],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      client_name: 'MCP test client',
      scope: 'mcp:tools',
    };

    async function register(metadata: Record<string, unknown>): Promise<Response> {
      return fetch(`${server.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(metadata),
      });
    }

    it('registers a public client with the MCP SDK metadata, which then gets a user token and, asking offline_access, a working refresh token', async () => {
      const response = await register(sdkMetadata);
      expect(response.status).toBe(201);
      const client = (await response.json()) as { client_id: string; grant_types: string[]; scope: string };
      expect(client.grant_types).toEqual(['authorization_code', 'refresh_token']);

      const { verifier, challenge } = pkcePair();
      const authorize = new URL(`${server.issuer}/auth`);
      authorize.search = new URLSearchParams({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: sdkMetadata.redirect_uris[0] ?? '',
        scope: 'mcp:tools offline_access',
        prompt: 'consent',
        resource: GATEWAY_RESOURCE,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        login_hint: 'alice',
      }).toString();
      const end = await walkAuthorization(authorize, sdkMetadata.redirect_uris[0] ?? '');
      if (end.kind !== 'redirect') throw new Error(`expected a redirect, got HTTP ${end.status}`);
      const code = end.url.searchParams.get('code') ?? '';

      const tokenResponse = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          client_id: client.client_id,
          code,
          code_verifier: verifier,
          redirect_uri: sdkMetadata.redirect_uris[0] ?? '',
          resource: GATEWAY_RESOURCE,
        }).toString(),
      });
      expect(tokenResponse.status).toBe(200);
      const tokens = (await tokenResponse.json()) as { access_token: string; refresh_token?: string };
      const { payload } = await verifyAccessToken(server, tokens.access_token);
      expect(payload).toMatchObject({ sub: 'alice', client_id: client.client_id, scope: 'mcp:tools' });
      expect(tokens.refresh_token).toBeTruthy();

      const refreshed = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: client.client_id,
          refresh_token: tokens.refresh_token ?? '',
          resource: GATEWAY_RESOURCE,
        }).toString(),
      });
      expect(refreshed.status).toBe(200);
      const again = (await refreshed.json()) as { access_token: string };
      const { payload: refreshedPayload } = await verifyAccessToken(server, again.access_token);
      expect(refreshedPayload).toMatchObject({
        sub: 'alice',
        client_id: client.client_id,
        aud: GATEWAY_RESOURCE,
      });
    });

    it('gives a registration without scope the dynamic default scopes only', async () => {
      const { scope: _omitted, ...withoutScope } = sdkMetadata;
      const response = await register(withoutScope);

      expect(response.status).toBe(201);
      const client = (await response.json()) as { scope: string };
      expect(client.scope.split(' ').sort()).toEqual(['mcp:tools', 'offline_access', 'openid']);
    });

    it('refuses to register a client for a privileged scope', async () => {
      const response = await register({ ...sdkMetadata, scope: 'mcp:tools audit:read' });

      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_client_metadata' });
    });
  });
});

describe('signing keys', () => {
  it('persist under <dataDir>/authserver/jwks.json with mode 0600, and tokens survive a restart', async () => {
    const dataDir = await tempDataDir();
    try {
      const first = await startDemoServer(dataDir.dir);
      const token = await getDevAccessToken({
        issuer: first.issuer,
        clientId: 'support-bot',
        clientSecret: 'dev-secret-support-bot',
        resource: GATEWAY_RESOURCE,
        scope: 'mcp:tools',
      });
      const before = await verifyAccessToken(first, token);
      await first.close();

      const second = await startDemoServer(dataDir.dir);
      try {
        // The issuer is bound to the port, which changed; verify with the old issuer against the new JWKS.
        const { createRemoteJWKSet, jwtVerify } = await import('jose');
        const { payload, protectedHeader } = await jwtVerify(
          token,
          createRemoteJWKSet(new URL(`${second.issuer}/jwks`)),
          {
            issuer: first.issuer,
            audience: GATEWAY_RESOURCE,
            typ: 'at+jwt',
          },
        );
        expect(protectedHeader.kid).toBe(before.protectedHeader.kid);
        expect(payload.sub).toBe('support-bot');
      } finally {
        await second.close();
      }

      const info = await stat(signingKeyPath(dataDir.dir));
      expect(info.mode & 0o777).toBe(0o600);
    } finally {
      await dataDir.remove();
    }
  });

  it('refuses to start on a corrupt key file rather than silently replacing the keys', async () => {
    const dataDir = await tempDataDir();
    try {
      const { mkdir, writeFile } = await import('node:fs/promises');
      await mkdir(`${dataDir.dir}/authserver`, { recursive: true });
      await writeFile(signingKeyPath(dataDir.dir), '{"keys": "nope"}');

      await expect(startDemoServer(dataDir.dir)).rejects.toMatchObject({
        code: 'GH_ERR_AUTH_KEYSTORE',
        message: expect.stringContaining('jwks.json'),
      });
    } finally {
      await dataDir.remove();
    }
  });
});

describe('configuration', () => {
  it('rejects an invalid config naming the bad key', async () => {
    const dataDir = await tempDataDir();
    try {
      const attempt = createAuthServer({
        config: { ...DEMO_CONFIG, clients: [{ clientId: 'x', clientSecret: 's', scopes: ['bad scope'] }] },
        resource: GATEWAY_RESOURCE,
        port: 0,
        dataDir: dataDir.dir,
      });

      await expect(attempt).rejects.toMatchObject({
        code: 'GH_ERR_AUTH_CONFIG_INVALID',
        message: expect.stringContaining('authserver.clients.0.scopes.0'),
      });
    } finally {
      await dataDir.remove();
    }
  });

  it('refuses to start with a user named like a client, naming authserver.users.N', async () => {
    const dataDir = await tempDataDir();
    try {
      const attempt = createAuthServer({
        config: { ...DEMO_CONFIG, users: ['alice', 'bob', 'admin', 'ops-agent'] },
        resource: GATEWAY_RESOURCE,
        port: 0,
        dataDir: dataDir.dir,
      });

      await expect(attempt).rejects.toMatchObject({
        code: 'GH_ERR_AUTH_CONFIG_INVALID',
        message: expect.stringContaining('authserver.users.3: user "ops-agent" has the name of a client'),
      });
    } finally {
      await dataDir.remove();
    }
  });
});
