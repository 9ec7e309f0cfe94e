import { describe, expect, it } from 'vitest';
import { EXAMPLE_CONFIG } from '../../../test/support/test-stack.js';
import { loadConfig } from '../src/config.js';
import { gatewayWithSelfActingAgents } from '../src/config.js';

describe('gatewayWithSelfActingAgents', () => {
  it('lets only the authserver clients allowed client_credentials act for themselves', async () => {
    const config = await loadConfig(EXAMPLE_CONFIG);
    const derived = gatewayWithSelfActingAgents(config).selfActingAgents;
    expect(derived).toContain('support-bot');
    expect(derived).not.toContain('ops-agent');
    expect(derived).toEqual(
      config
        .authserver!.clients.filter((c) => c.grantTypes.includes('client_credentials'))
        .map((c) => c.clientId),
    );
  });

  it('keeps a list the config sets, and sets none without an authserver (an external provider)', async () => {
    const config = await loadConfig(EXAMPLE_CONFIG);
    const listed = { ...config, gateway: { ...config.gateway, selfActingAgents: ['analyst'] } };
    expect(gatewayWithSelfActingAgents(listed).selfActingAgents).toEqual(['analyst']);
    const external = { ...config, authserver: undefined };
    expect(gatewayWithSelfActingAgents(external).selfActingAgents).toBeUndefined();
  });
});
