import { access, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_CONFIG, exampleOnFreePorts } from '../../../test/support/test-stack.js';
import { loadConfig } from '../src/config.js';
import { readSettings } from '../src/settings.js';
import { startStack } from '../src/stack.js';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-listen-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** Holds 127.0.0.1:`port` until `release`. */
async function occupy(port: number): Promise<{ release(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { release: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('embedded stack: a port another process holds', () => {
  it('is named by its variable, with what to do, and nothing is left listening', async () => {
    // One data dir for every attempt: chDB binds one per process.
    const { settings, config, ports } = await exampleOnFreePorts(dataDir);
    const { auth: authPort, ingress: ingressPort, query: queryPort } = ports;
    const attempt = () => startStack({ settings, config, logger: pino({ level: 'silent' }) });

    for (const [port, message] of [
      [
        ingressPort,
        `GATEHOUSE_INGRESS_PORT (and gateway.resource, on this machine): the gateway cannot listen on port ${ingressPort} (EADDRINUSE): the port is in use: stop what holds it, or move GATEHOUSE_INGRESS_PORT (and gateway.resource, on this machine) to a free port`,
      ],
      [
        queryPort,
        `GATEHOUSE_QUERY_PORT (and query.resource, on this machine): the query API cannot listen on port ${queryPort} (EADDRINUSE): the port is in use`,
      ],
      [
        authPort,
        `GATEHOUSE_AUTH_PORT and authserver.issuer: the authserver cannot listen on port ${authPort} (EADDRINUSE)`,
      ],
    ] as const) {
      const held = await occupy(port);
      try {
        await expect(attempt()).rejects.toMatchObject({
          code: 'GH_ERR_CONFIG_ENV',
          message: expect.stringContaining(message),
        });
      } finally {
        await held.release();
      }
    }
    // An address this machine does not have names GATEHOUSE_HOST.
    await expect(
      startStack({
        settings: { ...settings, host: '192.0.2.1' },
        config,
        logger: pino({ level: 'silent' }),
      }),
    ).rejects.toMatchObject({
      message:
        'GATEHOUSE_HOST: the gateway cannot listen on 192.0.2.1 (EADDRNOTAVAIL): not an address of this machine',
    });
    // Everything started before the failure was stopped again: the stack starts now.
    const stack = await attempt();
    await stack.close();
  });

  it('refuses a LOG_LEVEL pino does not know, naming the variable and the levels', () => {
    expect(() => readSettings({ LOG_LEVEL: 'loud' })).toThrow(
      'LOG_LEVEL: "loud" is not one of fatal, error, warn, info, debug, trace, silent',
    );
    expect(readSettings({ LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
  });

  it('refuses a loopback resource URI naming another port than its server listens on, before anything starts', async () => {
    const settings = readSettings({
      GATEHOUSE_CONFIG: EXAMPLE_CONFIG,
      GATEHOUSE_DATA_DIR: path.join(dataDir, 'never-made'),
      GATEHOUSE_INGRESS_PORT: '17420',
    });
    const config = await loadConfig(EXAMPLE_CONFIG);
    await expect(startStack({ settings, config, logger: pino({ level: 'silent' }) })).rejects.toMatchObject({
      code: 'GH_ERR_CONFIG_INVALID',
      message:
        'gateway.resource "http://localhost:7420/mcp" names port 7420, but the gateway would listen on port 17420 (GATEHOUSE_INGRESS_PORT): clients check the resource against the URL they connect to; use the same port in both',
    });
    config.gateway.resource = 'https://gateway.example.com/mcp';
    config.query.resource = 'http://localhost:7400';
    await expect(startStack({ settings, config, logger: pino({ level: 'silent' }) })).rejects.toThrow(
      'query.resource "http://localhost:7400" names port 7400, but the query API would listen on port 7421 (GATEHOUSE_QUERY_PORT)',
    );
    await expect(access(path.join(dataDir, 'never-made'))).rejects.toThrow();
  });
});
