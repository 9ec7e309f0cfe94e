import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** A signing key the test issuer publishes (or, for hostile tokens, deliberately does not). */
export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/**
 * A minimal authorization server for tests: RFC 8414 metadata and a JWKS on an ephemeral port,
 * plus a token minting helper. Not an OAuth implementation — just enough for a resource server.
 */
export interface TestIssuer {
  readonly issuer: string;
  readonly key: TestKey;
  /** How many times the JWKS was fetched. */
  jwksFetches(): number;
  /** Signs an access token: defaults are a valid RFC 9068 token for `audience`. */
  token(claims: JWTPayload & { client_id?: string; scope?: string }, options?: TokenOptions): Promise<string>;
  /** Generates a key; `publish` adds it to the JWKS (rotation), otherwise it stays unknown. */
  newKey(publish: boolean): Promise<TestKey>;
  close(): Promise<void>;
}

export interface TokenOptions {
  key?: TestKey;
  typ?: string;
  /** Seconds from now; default 300. */
  expiresIn?: number;
  omitExp?: boolean;
  /** Leave `sub` out; otherwise a token without one gets `sub` = its `client_id`, as a client-credentials token does. */
  omitSub?: boolean;
}

export async function startTestIssuer(audience: string): Promise<TestIssuer> {
  const published: TestKey[] = [];
  let fetches = 0;
  const makeKey = async (publish: boolean): Promise<TestKey> => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = `k${Math.random().toString(36).slice(2, 10)}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
    const key = { kid, privateKey, publicJwk };
    if (publish) published.push(key);
    return key;
  };
  const key = await makeKey(true);

  let issuer = '';
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/oauth-authorization-server') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks`, token_endpoint: `${issuer}/token` }));
    } else if (req.url === '/jwks') {
      fetches += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: published.map((k) => k.publicJwk) }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    key,
    jwksFetches: () => fetches,
    async token(claims, options = {}) {
      const signWith = options.key ?? key;
      const now = Math.floor(Date.now() / 1000);
      const sub = options.omitSub ? undefined : (claims.sub ?? claims.client_id);
      const jwt = new SignJWT({ scope: 'mcp:tools', ...claims, ...(sub === undefined ? {} : { sub }) })
        .setProtectedHeader({ alg: 'RS256', kid: signWith.kid, typ: options.typ ?? 'at+jwt' })
        .setIssuer(typeof claims.iss === 'string' ? claims.iss : issuer)
        .setAudience(claims.aud ?? audience)
        .setIssuedAt(now)
        .setJti(Math.random().toString(36).slice(2));
      if (!options.omitExp)
        jwt.setExpirationTime(typeof claims.exp === 'number' ? claims.exp : now + (options.expiresIn ?? 300));
      return jwt.sign(signWith.privateKey);
    },
    newKey: makeKey,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
