import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tryConnect } from '../../../test/support/try-connect.js';
import { exampleOnFreePorts, startTestStack, type TestStack } from '../../../test/support/test-stack.js';
import { startStack } from '../src/stack.js';

const external = Object.values(os.networkInterfaces())
  .flat()
  .find((address) => address !== undefined && !address.internal && address.family === 'IPv4');

/** The example on free ports in a fresh data dir (the caller removes `dataDir`). */
async function fresh() {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-stack-'));
  const { settings, config, ports } = await exampleOnFreePorts(dataDir);
  return {
    dataDir,
    authPort: ports.auth,
    ingressPort: ports.ingress,
    queryPort: ports.query,
    settings,
    config,
  };
}

describe('embedded stack: the development authserver', () => {
  it('refuses to start when GATEHOUSE_AUTH_PORT is not the port of authserver.issuer, before anything listens', async () => {
    const { dataDir, authPort, ingressPort, queryPort, settings, config } = await fresh();
    try {
      // The shipped issuer, on another port than the authserver's.
      config.gateway.issuer = 'http://localhost:7422';
      config.authserver!.issuer = 'http://localhost:7422';

      await expect(startStack({ settings, config, logger: pino({ level: 'silent' }) })).rejects.toMatchObject(
        {
          code: 'GH_ERR_AUTH_CONFIG_INVALID',
          message: expect.stringContaining(
            `authserver.issuer "http://localhost:7422" names port 7422, but the authserver would listen on port ${authPort} (GATEHOUSE_AUTH_PORT)`,
          ),
        },
      );
      for (const port of [authPort, ingressPort, queryPort]) {
        expect(await tryConnect('127.0.0.1', port)).toBe('ECONNREFUSED');
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('listens on ::1 when the issuer names it', async () => {
    const { dataDir, authPort, settings, config } = await fresh();
    const issuer = `http://[::1]:${authPort}`;
    config.gateway.issuer = issuer;
    config.authserver!.issuer = issuer;
    const stack = await startStack({ settings, config, logger: pino({ level: 'silent' }) });
    try {
      const discovery = await fetch(`${issuer}/.well-known/openid-configuration`);
      expect(discovery.status).toBe(200);
      expect(((await discovery.json()) as { issuer: string }).issuer).toBe(issuer);
    } finally {
      await stack.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  describe('with GATEHOUSE_HOST=0.0.0.0 (the gateway shared on the network)', () => {
    let t: TestStack;
    beforeAll(async () => {
      t = await startTestStack({ env: { GATEHOUSE_HOST: '0.0.0.0' } });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('keeps the authserver on 127.0.0.1', () => {
      expect(t.stack.authServer?.url).toBe(`http://127.0.0.1:${t.settings.authPort}`);
    });

    it.skipIf(external === undefined)(
      'serves the gateway on a network interface but not the authserver',
      async () => {
        const address = external?.address ?? '';

        expect(await tryConnect(address, t.settings.ingressPort)).toBe('connected');
        expect(await tryConnect(address, t.settings.authPort)).toBe('ECONNREFUSED');
      },
    );
  });
});
