import { describe, expect, it } from 'vitest';
import { IngressError, parseIngressConfig } from '../src/index.js';

const valid = {
  gateway: { resource: 'http://localhost:7420/mcp', issuer: 'http://localhost:7422' },
  upstreams: { support: { command: 'node', args: ['server.js'] } },
};

function problemOf(value: unknown): string {
  try {
    parseIngressConfig(value, 'gatehouse.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(IngressError);
    expect((error as IngressError).code).toBe('GH_ERR_INGRESS_CONFIG');
    return (error as Error).message;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('ingress configuration', () => {
  it('fills every default in one place, fail-closed and DNS-rebinding protection included', () => {
    const config = parseIngressConfig(valid);
    expect(config.gateway).toMatchObject({
      requiredScopes: ['mcp:tools'],
      algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
      clockToleranceSec: 5,
      allowedHosts: ['localhost', '127.0.0.1'],
      failOpen: false,
      bodyLimitBytes: 1024 * 1024,
    });
    expect(config.upstreams.support).toEqual({
      kind: 'stdio',
      command: 'node',
      args: ['server.js'],
      env: {},
      cwd: undefined,
      timeoutMs: 60_000,
    });
  });

  it('reads a Streamable HTTP upstream with the gateway’s own static headers', () => {
    const config = parseIngressConfig({
      ...valid,
      upstreams: { crm: { url: 'https://crm.example/mcp', headers: { authorization: 'Bearer gw-own' } } },
    });
    expect(config.upstreams.crm).toEqual({
      kind: 'http',
      url: 'https://crm.example/mcp',
      headers: { authorization: 'Bearer gw-own' },
      timeoutMs: 60_000,
      idleTimeoutMs: 4_000,
    });
  });

  it('takes an HTTP upstream’s idle-connection timeout, and refuses it on a stdio upstream', () => {
    const config = parseIngressConfig({
      ...valid,
      upstreams: { crm: { url: 'https://crm.example/mcp', idleTimeoutMs: 1_500 } },
    });
    expect(config.upstreams.crm).toMatchObject({ kind: 'http', idleTimeoutMs: 1_500 });
    expect(
      problemOf({ ...valid, upstreams: { local: { command: 'node', idleTimeoutMs: 1_500 } } }),
    ).toContain('upstreams.local.idleTimeoutMs');
    expect(
      problemOf({ ...valid, upstreams: { crm: { url: 'https://crm.example/mcp', idleTimeoutMs: 0 } } }),
    ).toContain('upstreams.crm.idleTimeoutMs');
  });

  it('accepts an already parsed configuration (the CLI validates the whole file first)', () => {
    const parsed = parseIngressConfig({
      ...valid,
      upstreams: { ...valid.upstreams, crm: { url: 'https://crm.example/mcp' } },
    });
    expect(parseIngressConfig(parsed)).toEqual(parsed);
  });

  it('ignores the other sections of gatehouse.yaml', () => {
    expect(() => parseIngressConfig({ ...valid, policy: { rules: [] }, query: {} })).not.toThrow();
  });

  it('never accepts alg none or HMAC algorithms, naming the key path', () => {
    expect(problemOf({ ...valid, gateway: { ...valid.gateway, algorithms: ['RS256', 'HS256'] } })).toContain(
      'gateway.algorithms.1',
    );
    expect(problemOf({ ...valid, gateway: { ...valid.gateway, algorithms: ['none'] } })).toContain(
      'gateway.algorithms.0',
    );
  });

  it('names the file and the path of a missing key', () => {
    const message = problemOf({ ...valid, gateway: { issuer: 'http://localhost:7422' } });
    expect(message).toMatch(/^gatehouse\.yaml: invalid ingress configuration: gateway\.resource:/);
  });

  it('rejects unknown keys (typos) instead of ignoring them', () => {
    expect(problemOf({ ...valid, gateway: { ...valid.gateway, failopen: true } })).toContain('failopen');
  });

  it('requires exactly one of command or url per upstream', () => {
    expect(problemOf({ ...valid, upstreams: { both: { command: 'node', url: 'http://x/mcp' } } })).toContain(
      'upstreams.both',
    );
    expect(problemOf({ ...valid, upstreams: { neither: {} } })).toContain('upstreams.neither');
  });

  it('refuses upstream names that would break tool namespacing', () => {
    expect(problemOf({ ...valid, upstreams: { bad__name: { command: 'node' } } })).toContain(
      'upstreams.bad__name',
    );
    expect(problemOf({ ...valid, upstreams: {} })).toContain('at least one upstream');
  });
});
