import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config.js';

const EXAMPLE = new URL('../../../examples/support-desk/gatehouse.yaml', import.meta.url);

async function example(): Promise<{ gateway: { issuer: string }; authserver: { issuer: string } }> {
  return parse(await readFile(EXAMPLE, 'utf8')) as {
    gateway: { issuer: string };
    authserver: { issuer: string };
  };
}

describe('gatehouse.yaml validation', () => {
  it('accepts the support-desk example', async () => {
    const config = validateConfig(await example(), 'gatehouse.yaml');

    expect(config.gateway.issuer).toBe('http://localhost:7422');
    expect(config.authserver?.issuer).toBe('http://localhost:7422');
  });

  it('refuses an authserver whose issuer is not gateway.issuer, naming both keys', async () => {
    const raw = await example();
    raw.authserver.issuer = 'http://localhost:7423';

    expect(() => validateConfig(raw, 'gatehouse.yaml')).toThrow(
      expect.objectContaining({
        code: 'GH_ERR_CONFIG_INVALID',
        message: expect.stringMatching(
          /authserver\.issuer: the development authserver issues tokens with iss "http:\/\/localhost:7423" but gateway\.issuer is "http:\/\/localhost:7422"/,
        ),
      }),
    );
  });

  it('compares the issuer as tokens carry it, so a trailing slash on gateway.issuer is refused', async () => {
    const trailing = await example();
    trailing.gateway.issuer = 'http://localhost:7422/';
    const sameUrl = await example();
    sameUrl.authserver.issuer = 'http://localhost:7422/';

    expect(() => validateConfig(trailing, 'gatehouse.yaml')).toThrow(
      /set gateway\.issuer to "http:\/\/localhost:7422"/,
    );
    expect(validateConfig(sameUrl, 'gatehouse.yaml').gateway.issuer).toBe('http://localhost:7422');
  });

  it('refuses a user named like a client with the full key path', async () => {
    const raw = (await example()) as unknown as { authserver: { users: string[] } };
    raw.authserver.users.push('ops-agent');

    expect(() => validateConfig(raw, 'gatehouse.yaml')).toThrow(
      /authserver\.users(\.3|\[3\]): user "ops-agent" has the name of a client/,
    );
  });
});

describe('GATEHOUSE_AUTH_PORT', () => {
  it('must be a fixed port: the issuer, and every token, names it', async () => {
    const { readSettings } = await import('../src/settings.js');
    expect(() => readSettings({ GATEHOUSE_AUTH_PORT: '0' })).toThrow(
      'GATEHOUSE_AUTH_PORT: "0" is not a TCP port (1-65535)',
    );
    expect(readSettings({ GATEHOUSE_AUTH_PORT: '17422' }).authPort).toBe(17422);
  });
});
