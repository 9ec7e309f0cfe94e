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
