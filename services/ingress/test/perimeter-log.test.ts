import { Writable } from 'node:stream';
import { generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { causeSummary } from '../src/perimeter/perimeter-plugin.js';
import { startGateway } from './helpers/gateway-fixture.js';

describe('what the perimeter logs of a refused token', () => {
  it('says why jose refused it, and none of the claims its errors carry', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const gw = await startGateway({ logger: pino({ level: 'info' }, sink) });
    try {
      const expired = await gw.issuer.token({
        client_id: 'ops-agent',
        sub: 'alice@example.com',
        exp: Math.floor(Date.now() / 1000) - 600,
      });
      const response = await gw.post(expired, { jsonrpc: '2.0', id: 1, method: 'ping' });
      expect(response.status).toBe(401);
    } finally {
      await gw.close();
    }
    const refused = lines.filter((line) => line.includes('request rejected at the perimeter'));
    expect(refused).toHaveLength(1);
    expect(JSON.parse(refused[0]!)).toMatchObject({
      reason: 'token_expired',
      cause: { code: 'ERR_JWT_EXPIRED', claim: 'exp' },
    });
    expect(refused[0]).not.toMatch(/ops-agent/);
    expect(lines.join('')).not.toContain('alice@example.com');
  });

  it('summarises an error by name, code, claim and the code under it', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({ client_id: 'ops-agent' })
      .setProtectedHeader({ alg: 'ES256' })
      .setSubject('alice@example.com')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 600)
      .sign(privateKey);
    const error = await jwtVerify(token, publicKey).catch((e: unknown) => e);
    expect(JSON.stringify(error)).toContain('alice@example.com'); // what a logger would have copied
    expect(causeSummary(error)).toMatchObject({ name: 'JWTExpired', code: 'ERR_JWT_EXPIRED', claim: 'exp' });
    expect(JSON.stringify(causeSummary(error))).not.toContain('alice');
    const fetchFailed = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    });
    expect(causeSummary(fetchFailed)).toEqual({
      name: 'TypeError',
      message: 'fetch failed',
      cause: 'ECONNREFUSED',
    });
    expect(causeSummary('plain')).toEqual({ message: 'plain' });
  });
});
