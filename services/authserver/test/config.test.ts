import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { authServerConfigSchema } from '../src/index.js';

describe('authServerConfigSchema', () => {
  it('accepts the authserver section of the support-desk demo config and applies defaults', async () => {
    const yaml = parse(
      await readFile(new URL('../../../examples/support-desk/gatehouse.yaml', import.meta.url), 'utf8'),
    ) as {
      authserver: unknown;
    };

    const config = authServerConfigSchema.parse(yaml.authserver);

    expect(config.issuer).toBe('http://localhost:7422');
    expect(config.clients.map((client) => client.clientId)).toEqual(['support-bot', 'ops-agent', 'analyst']);
    expect(config.users).toEqual(['alice', 'bob', 'admin']);
    expect(config.dynamicClientScopes).toEqual(['mcp:tools']);
    expect(config.maxDynamicClients).toBe(1000);
  });

  it('refuses a user named like a client, naming the user and why', () => {
    const result = authServerConfigSchema.safeParse({
      issuer: 'http://localhost:7422',
      clients: [
        { clientId: 'support-bot', clientSecret: 's', scopes: ['mcp:tools'] },
        { clientId: 'ops-agent', clientSecret: 't', scopes: ['mcp:tools'] },
      ],
      users: ['alice', 'bob', 'admin', 'ops-agent'],
    });

    expect(result.success).toBe(false);
    expect(result.error?.issues).toEqual([
      expect.objectContaining({
        path: ['users', 3],
        message: expect.stringContaining('user "ops-agent" has the name of a client'),
      }),
    ]);
  });

  it('refuses a maxDynamicClients that is not a positive integer', () => {
    const base = { issuer: 'http://localhost:7422', clients: [], users: [] };

    for (const maxDynamicClients of [0, -1, 1.5]) {
      const result = authServerConfigSchema.safeParse({ ...base, maxDynamicClients });
      expect(result.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['maxDynamicClients']);
    }
  });

  it('names the duplicated client and user', () => {
    const result = authServerConfigSchema.safeParse({
      issuer: 'http://localhost:7422',
      clients: [
        { clientId: 'a', clientSecret: 's', scopes: ['mcp:tools'] },
        { clientId: 'a', clientSecret: 't', scopes: ['mcp:tools'] },
      ],
      users: ['alice', 'alice'],
    });

    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path.join('.'))).toEqual([
      'clients.1.clientId',
      'users.1',
    ]);
  });

  it('rejects an issuer with a query, a non-http URL and unknown keys', () => {
    const base = { clients: [], users: [] };

    expect(authServerConfigSchema.safeParse({ ...base, issuer: 'http://localhost:7422/?x=1' }).success).toBe(
      false,
    );
    expect(authServerConfigSchema.safeParse({ ...base, issuer: 'ftp://localhost' }).success).toBe(false);
    expect(
      authServerConfigSchema.safeParse({ ...base, issuer: 'http://localhost:7422', extra: 1 }).success,
    ).toBe(false);
  });
});
