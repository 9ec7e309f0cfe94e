import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createAuthServer, getDevAccessToken } from '../src/index.js';
import { DEMO_CONFIG, GATEWAY_RESOURCE, tempDataDir } from './auth-flow-helpers.js';

describe('authserver logging', () => {
  it('takes a pino logger and records development logins without secrets, codes or tokens', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const dataDir = await tempDataDir();
    const server = await createAuthServer({
      config: DEMO_CONFIG,
      resource: GATEWAY_RESOURCE,
      port: 0,
      dataDir: dataDir.dir,
      logger: pino(sink),
    });
    try {
      const token = await getDevAccessToken({
        issuer: server.issuer,
        clientId: 'support-bot',
        clientSecret: 'dev-secret-support-bot',
        user: 'alice',
        resource: GATEWAY_RESOURCE,
        scope: 'mcp:tools',
      });

      const log = lines.join('');
      expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toContainEqual(
        expect.objectContaining({
          user: 'alice',
          client: 'support-bot',
          msg: 'authserver: development login',
        }),
      );
      expect(log).not.toContain('dev-secret-support-bot');
      expect(log).not.toContain(token);
    } finally {
      await server.close();
      await dataDir.remove();
    }
  });
});
