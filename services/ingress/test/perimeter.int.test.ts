import { request as httpRequest } from 'node:http';
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCE, startGateway, type GatewayFixture } from './helpers/gateway-fixture.js';

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'probe', version: '0' } },
};
const METADATA_URL = 'http://127.0.0.1/.well-known/oauth-protected-resource/mcp';

function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

interface Answer {
  status: number;
  challenge: string | null;
  body: unknown;
}

describe('perimeter', () => {
  let gw: GatewayFixture;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => {
    await gw.close();
  });

  const post = async (
    token: string | null,
    options: { query?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer> => {
    const response = await fetch(`${gw.base}/mcp${options.query ?? ''}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...options.headers,
      },
      body: JSON.stringify(INITIALIZE),
    });
    const text = await response.text();
    return {
      status: response.status,
      challenge: response.headers.get('www-authenticate'),
      body: text.startsWith('{') ? JSON.parse(text) : text,
    };
  };

  const lastRejection = async () => {
    await gw.ingress.flush();
    return gw.eventsOf('perimeter:test-node').at(-1);
  };

  it('serves RFC 9728 metadata at both well-known URLs', async () => {
    for (const path of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
    ]) {
      const response = await fetch(`${gw.base}${path}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({
        resource: RESOURCE,
        authorization_servers: [gw.issuer.issuer],
        scopes_supported: ['mcp:tools'],
        bearer_methods_supported: ['header'],
      });
    }
  });

  it('answers a request without a token with 401 and a challenge naming the metadata and scope', async () => {
    const answer = await post(null);
    expect(answer.status).toBe(401);
    expect(answer.challenge).toBe(`Bearer resource_metadata="${METADATA_URL}", scope="mcp:tools"`);
    expect(await lastRejection()).toMatchObject({
      type: 'auth.rejected',
      agent: null,
      client_ip: '127.0.0.1',
      data: { http_status: 401, reason: 'missing_token', method: 'POST', path: '/mcp' },
    });
  });

  it('accepts a valid token (the control for the hostile cases below)', async () => {
    const answer = await post(await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' }));
    expect(answer.status).toBe(200);
  });

  const hostile: [string, string, () => Promise<string>][] = [
    [
      'alg none',
      'alg_not_allowed',
      async () =>
        `${b64url({ alg: 'none', typ: 'at+jwt' })}.${b64url({ iss: gw.issuer.issuer, aud: RESOURCE, client_id: 'ops-agent', sub: 'admin', scope: 'mcp:tools', exp: Math.floor(Date.now() / 1000) + 300 })}.`,
    ],
    [
      'HS256 signed with the public key as the secret',
      'alg_not_allowed',
      async () => {
        const header = b64url({ alg: 'HS256', typ: 'at+jwt', kid: gw.issuer.key.kid });
        const payload = b64url({
          iss: gw.issuer.issuer,
          aud: RESOURCE,
          client_id: 'ops-agent',
          sub: 'admin',
          scope: 'mcp:tools',
          exp: Math.floor(Date.now() / 1000) + 300,
        });
        const secret = JSON.stringify(gw.issuer.key.publicJwk);
        const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
        return `${header}.${payload}.${signature}`;
      },
    ],
    [
      'expired',
      'token_expired',
      () => gw.issuer.token({ client_id: 'support-bot', exp: Math.floor(Date.now() / 1000) - 120 }),
    ],
    [
      'not yet valid',
      'token_not_yet_valid',
      () => gw.issuer.token({ client_id: 'support-bot', nbf: Math.floor(Date.now() / 1000) + 600 }),
    ],
    [
      'from another issuer',
      'wrong_issuer',
      () => gw.issuer.token({ client_id: 'support-bot', iss: 'https://evil.example' }),
    ],
    [
      'for another audience',
      'wrong_audience',
      () => gw.issuer.token({ client_id: 'support-bot', aud: 'https://other-service.example/mcp' }),
    ],
    [
      'signed with an unknown kid',
      'unknown_kid',
      async () => gw.issuer.token({ client_id: 'support-bot' }, { key: await gw.issuer.newKey(false) }),
    ],
    [
      'with a tampered payload',
      'bad_signature',
      async () => {
        const [header, , signature] = (
          await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' })
        ).split('.');
        const forged = b64url({
          iss: gw.issuer.issuer,
          aud: RESOURCE,
          client_id: 'ops-agent',
          sub: 'admin',
          scope: 'mcp:tools',
          exp: Math.floor(Date.now() / 1000) + 300,
        });
        return `${header}.${forged}.${signature}`;
      },
    ],
    ['without exp', 'missing_claim', () => gw.issuer.token({ client_id: 'support-bot' }, { omitExp: true })],
    [
      'without sub (an agent that would act for nobody, on its own grants alone)',
      'missing_claim',
      () => gw.issuer.token({ client_id: 'ops-agent' }, { omitSub: true }),
    ],
    [
      'with a sub that is not a usable name',
      'missing_claim',
      () => gw.issuer.token({ client_id: 'ops-agent', sub: 'x'.repeat(257) }),
    ],
    [
      'of the wrong type (an ID token)',
      'wrong_token_type',
      () => gw.issuer.token({ client_id: 'support-bot' }, { typ: 'id_token+jwt' }),
    ],
    ['without a client id', 'missing_client_id', () => gw.issuer.token({ sub: 'alice' })],
    ['that is not a JWT at all', 'malformed_token', async () => 'not.a.jwt'],
  ];

  for (const [name, reason, make] of hostile) {
    it(`rejects a token ${name}: 401 invalid_token, recorded as ${reason}, attacker input not echoed`, async () => {
      const answer = await post(await make());
      expect(answer.status).toBe(401);
      expect(answer.challenge).toContain('error="invalid_token"');
      expect(answer.challenge).toContain(`resource_metadata="${METADATA_URL}"`);
      expect(JSON.stringify(answer.body)).not.toMatch(/admin|ops-agent|evil|other-service/);
      expect(await lastRejection()).toMatchObject({
        type: 'auth.rejected',
        data: { http_status: 401, reason },
      });
    });
  }

  it('refuses a token in the query string even when it is valid', async () => {
    const token = await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' });
    const answer = await post(null, { query: `?access_token=${token}` });
    expect(answer.status).toBe(401);
    expect(answer.challenge).toContain('error="invalid_request"');
    const event = await lastRejection();
    expect(event?.data).toMatchObject({ reason: 'token_in_query', path: '/mcp' });
    expect(JSON.stringify(event)).not.toContain(token);
  });

  it('answers a token without the required scope with 403 insufficient_scope', async () => {
    const answer = await post(await gw.issuer.token({ client_id: 'analyst', scope: 'audit:read' }));
    expect(answer.status).toBe(403);
    expect(answer.challenge).toContain('error="insufficient_scope"');
    expect(answer.challenge).toContain('scope="mcp:tools"');
    expect(await lastRejection()).toMatchObject({ data: { http_status: 403, reason: 'insufficient_scope' } });
  });

  it('refuses a foreign Host header with 403 (DNS rebinding)', async () => {
    const token = await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' });
    const port = Number(new URL(gw.base).port);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/mcp',
          method: 'POST',
          headers: {
            host: 'attacker.example',
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(INITIALIZE));
    });
    expect(status).toBe(403);
    expect(await lastRejection()).toMatchObject({ data: { http_status: 403, reason: 'host_not_allowed' } });
  });

  it('refuses a foreign Origin with 403', async () => {
    const answer = await post(await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' }), {
      headers: { origin: 'https://attacker.example' },
    });
    expect(answer.status).toBe(403);
    expect(await lastRejection()).toMatchObject({ data: { reason: 'origin_not_allowed' } });
  });

  it('follows key rotation: a token signed with a newly published key is accepted', async () => {
    const rotated = await gw.issuer.newKey(true);
    const fetchesBefore = gw.issuer.jwksFetches();
    const answer = await post(
      await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' }, { key: rotated }),
    );
    expect(answer.status).toBe(200);
    expect(gw.issuer.jwksFetches()).toBe(fetchesBefore + 1);
  });

  it('chains every rejection of this node on its own perimeter stream', async () => {
    await gw.ingress.flush();
    const events = gw.eventsOf('perimeter:test-node');
    expect(events.length).toBeGreaterThan(10);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
  });
});
