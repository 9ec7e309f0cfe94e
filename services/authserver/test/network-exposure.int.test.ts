import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tryConnect } from '../../../test/support/try-connect.js';
import {
  createAuthServer,
  runAuthServer,
  type AuthServer,
  type AuthServerConfigInput,
} from '../src/index.js';
import { DEMO_CONFIG, GATEWAY_RESOURCE, rawRequest, tempDataDir } from './auth-flow-helpers.js';

const SUPPORT_BOT_BASIC = `Basic ${Buffer.from('support-bot:dev-secret-support-bot').toString('base64')}`;
const CLIENT_CREDENTIALS = new URLSearchParams({
  grant_type: 'client_credentials',
  scope: 'mcp:tools',
  resource: GATEWAY_RESOURCE,
}).toString();

/** An inspector-like browser client: its redirect URI lives on this origin. */
const INSPECTOR_ORIGIN = 'http://localhost:6274';

/** The demo config, with the issuer on a name that is not a loopback name and a browser redirect URI. */
const CONFIG: AuthServerConfigInput = {
  ...DEMO_CONFIG,
  issuer: 'http://auth.gatehouse.test:1',
  clients: DEMO_CONFIG.clients.map((client) =>
    client.clientId === 'support-bot'
      ? { ...client, redirectUris: [`${INSPECTOR_ORIGIN}/oauth/callback`] }
      : client,
  ),
};

/** A TCP port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new TypeError('no port');
  return address.port;
}

describe('network exposure of the development authserver', () => {
  let dataDir: { dir: string; remove: () => Promise<void> };
  let server: AuthServer;
  let port: number;

  beforeAll(async () => {
    dataDir = await tempDataDir();
    server = await createAuthServer({
      config: CONFIG,
      resource: GATEWAY_RESOURCE,
      port: 0,
      dataDir: dataDir.dir,
    });
    port = Number(new URL(server.url).port);
  });

  afterAll(async () => {
    await server.close();
    await dataDir.remove();
  });

  describe('binding', () => {
    it('listens on 127.0.0.1', () => {
      expect(server.url).toBe(`http://127.0.0.1:${port}`);
    });

    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address !== undefined && !address.internal && address.family === 'IPv4');

    it.skipIf(external === undefined)(
      'cannot be reached on a network interface of this machine',
      async () => {
        expect(await tryConnect(external?.address ?? '', port)).toBe('ECONNREFUSED');
      },
    );

    it('refuses to bind a non-loopback address, naming the option', async () => {
      const attempt = createAuthServer({
        config: CONFIG,
        resource: GATEWAY_RESOURCE,
        port: 0,
        host: '0.0.0.0',
        dataDir: dataDir.dir,
      });

      await expect(attempt).rejects.toMatchObject({
        code: 'GH_ERR_AUTH_CONFIG_INVALID',
        message: expect.stringContaining('host: "0.0.0.0" is not a loopback address'),
      });
    });

    it('refuses GATEHOUSE_AUTH_HOST=0.0.0.0 in the process entry, naming the variable', async () => {
      const attempt = runAuthServer({
        config: CONFIG,
        resource: GATEWAY_RESOURCE,
        env: { GATEHOUSE_AUTH_HOST: '0.0.0.0', GATEHOUSE_AUTH_PORT: '0', GATEHOUSE_DATA_DIR: dataDir.dir },
        handleSignals: false,
      });

      await expect(attempt).rejects.toMatchObject({
        code: 'GH_ERR_AUTH_CONFIG_INVALID',
        message: expect.stringContaining('GATEHOUSE_AUTH_HOST must be 127.0.0.1 or ::1'),
      });
    });
  });

  describe('Host header (DNS rebinding)', () => {
    it('refuses a token request whose Host is another name, with 403 invalid_request and no token', async () => {
      const response = await rawRequest(`${server.url}/token`, {
        method: 'POST',
        host: `rebind.evil.example:${port}`,
        headers: { authorization: SUPPORT_BOT_BASIC, 'content-type': 'application/x-www-form-urlencoded' },
        body: CLIENT_CREDENTIALS,
      });

      expect(response.status).toBe(403);
      expect(JSON.parse(response.body)).toEqual({
        error: 'invalid_request',
        error_description: 'the Host header does not name this authorization server',
      });
      expect(response.body).not.toContain('rebind.evil.example');
    });

    it.each([
      ['another name', 'rebind.evil.example:{port}'],
      ['another name without a port', 'rebind.evil.example'],
      ['a loopback name with another port', 'localhost:1'],
      ['a loopback name without the port (80)', 'localhost'],
      ['the issuer name with another port', 'auth.gatehouse.test:1'],
      ['userinfo before a loopback name', 'evil@localhost:{port}'],
      ['a loopback name as the prefix of another name', 'localhost.evil.example:{port}'],
      ['a path after a loopback name', 'localhost:{port}/x'],
    ])('refuses %s', async (_case, template) => {
      const response = await rawRequest(`${server.url}/.well-known/openid-configuration`, {
        host: template.replace('{port}', String(port)),
      });

      expect(response.status).toBe(403);
    });

    it('refuses an HTTP/1.1 request without a Host header (node:http answers 400 before any handler)', async () => {
      const response = await rawRequest(`${server.url}/.well-known/openid-configuration`, { host: null });

      expect(response.status).toBe(400);
      expect(response.body).not.toContain('issuer');
    });

    it.each(['auth.gatehouse.test', 'localhost', 'LOCALHOST', '127.0.0.1', '[::1]'])(
      'serves Host %s with the listening port',
      async (name) => {
        const response = await rawRequest(`${server.url}/.well-known/openid-configuration`, {
          host: `${name}:${port}`,
        });

        expect(response.status).toBe(200);
        expect(JSON.parse(response.body)).toMatchObject({ issuer: server.issuer });
      },
    );

    it('still issues tokens to a request that names a loopback host', async () => {
      const response = await rawRequest(`${server.url}/token`, {
        method: 'POST',
        host: `localhost:${port}`,
        headers: { authorization: SUPPORT_BOT_BASIC, 'content-type': 'application/x-www-form-urlencoded' },
        body: CLIENT_CREDENTIALS,
      });

      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toHaveProperty('access_token');
    });
  });

  describe('CORS', () => {
    const tokenRequest = (origin: string) =>
      rawRequest(`${server.url}/token`, {
        method: 'POST',
        host: `localhost:${port}`,
        headers: {
          authorization: SUPPORT_BOT_BASIC,
          'content-type': 'application/x-www-form-urlencoded',
          origin,
        },
        body: CLIENT_CREDENTIALS,
      });

    it('refuses a token request from an origin that is none of the client redirect URIs', async () => {
      const response = await tokenRequest('http://evil.example');

      expect(response.status).toBe(400);
      expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_request' });
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
      expect(response.body).not.toContain('access_token');
    });

    it('lets the origin of a registered redirect URI read the token response', async () => {
      const response = await tokenRequest(INSPECTOR_ORIGIN);

      expect(response.status).toBe(200);
      expect(response.headers['access-control-allow-origin']).toBe(INSPECTOR_ORIGIN);
    });

    it('keeps discovery readable from any origin (a public document)', async () => {
      const response = await rawRequest(`${server.url}/.well-known/oauth-authorization-server`, {
        host: `localhost:${port}`,
        headers: { origin: 'http://evil.example' },
      });

      expect(response.status).toBe(200);
      expect(response.headers['access-control-allow-origin']).toBe('http://evil.example');
    });
  });
});

describe('issuer and listening port', () => {
  it('refuses to start when the issuer names another port than the one to listen on, and binds nothing', async () => {
    const dataDir = await tempDataDir();
    try {
      const port = await freePort();
      const attempt = createAuthServer({
        config: { ...DEMO_CONFIG, issuer: 'http://localhost:7422' },
        resource: GATEWAY_RESOURCE,
        port,
        dataDir: dataDir.dir,
      });

      await expect(attempt).rejects.toMatchObject({
        code: 'GH_ERR_AUTH_CONFIG_INVALID',
        message: expect.stringMatching(
          new RegExp(
            `authserver\\.issuer "http://localhost:7422" names port 7422.*port ${port} \\(GATEHOUSE_AUTH_PORT\\)`,
          ),
        ),
      });
      expect(await tryConnect('127.0.0.1', port)).toBe('ECONNREFUSED');
    } finally {
      await dataDir.remove();
    }
  });

  it('refuses GATEHOUSE_AUTH_PORT other than the issuer port in the process entry', async () => {
    const dataDir = await tempDataDir();
    try {
      const port = await freePort();
      const attempt = runAuthServer({
        config: { ...DEMO_CONFIG, issuer: 'http://localhost:7422' },
        resource: GATEWAY_RESOURCE,
        env: { GATEHOUSE_AUTH_PORT: String(port), GATEHOUSE_DATA_DIR: dataDir.dir },
        handleSignals: false,
      });

      await expect(attempt).rejects.toMatchObject({
        code: 'GH_ERR_AUTH_CONFIG_INVALID',
        message: expect.stringContaining('GATEHOUSE_AUTH_PORT'),
      });
    } finally {
      await dataDir.remove();
    }
  });

  it('starts when they agree, with the issuer as configured', async () => {
    const dataDir = await tempDataDir();
    try {
      const port = await freePort();
      const server = await createAuthServer({
        config: { ...DEMO_CONFIG, issuer: `http://localhost:${port}` },
        resource: GATEWAY_RESOURCE,
        port,
        dataDir: dataDir.dir,
      });
      try {
        expect(server.issuer).toBe(`http://localhost:${port}`);
        const metadata = (await (
          await fetch(`${server.issuer}/.well-known/oauth-authorization-server`)
        ).json()) as { issuer: string };
        expect(metadata.issuer).toBe(server.issuer);
      } finally {
        await server.close();
      }
    } finally {
      await dataDir.remove();
    }
  });
});
