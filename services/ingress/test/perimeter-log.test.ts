import { generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { causeSummary } from '../src/perimeter/perimeter-plugin.js';

describe('causeSummary', () => {
  it('keeps why jose refused a token and drops the claims its errors carry', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({ client_id: 'ops-agent', scope: 'mcp:tools' })
      .setProtectedHeader({ alg: 'ES256' })
      .setSubject('alice@example.com')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 600)
      .sign(privateKey);
    const error = await jwtVerify(token, publicKey).catch((e: unknown) => e);
    expect(JSON.stringify(error)).toContain('alice@example.com'); // what a logger would have copied

    const summary = causeSummary(error);
    expect(summary).toMatchObject({ code: 'ERR_JWT_EXPIRED', claim: 'exp', name: 'JWTExpired' });
    expect(JSON.stringify(summary)).not.toMatch(/alice|ops-agent|mcp:tools/);
    expect(causeSummary('plain')).toEqual({ message: 'plain' });
  });
});
