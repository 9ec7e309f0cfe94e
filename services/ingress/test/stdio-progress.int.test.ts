import { fileURLToPath } from 'node:url';
import { createMemoryLog, type MemoryEventLog } from '@gatehouse/eventlog';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngress, type Ingress } from '../src/index.js';
import { demoPolicy } from './helpers/demo-policy.js';
import { RESOURCE } from './helpers/gateway-fixture.js';
import { startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';

const UPSTREAM = fileURLToPath(new URL('./fixtures/malformed-progress-upstream.mjs', import.meta.url));

describe('gateway in front of a stdio upstream that sends malformed progress notifications', () => {
  let issuer: TestIssuer;
  let ingress: Ingress;
  let log: MemoryEventLog;
  let client: Client;

  beforeAll(async () => {
    issuer = await startTestIssuer(RESOURCE);
    log = createMemoryLog();
    ingress = await createIngress({
      config: {
        gateway: { resource: RESOURCE, issuer: issuer.issuer, allowedHosts: ['127.0.0.1'] },
        upstreams: { odd: { command: process.execPath, args: [UPSTREAM] } },
      },
      log,
      policy: await demoPolicy(),
      logger: pino({ level: 'silent' }),
    });
    const base = await ingress.listen(0, '127.0.0.1');
    const token = await issuer.token({ client_id: 'ops-agent', sub: 'admin' });
    client = new Client({ name: 'stdio-progress-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
  });
  afterAll(async () => {
    await client.close();
    await ingress.close();
    await issuer.close();
  });

  it('drops the malformed ones, relays the well-formed one, answers the call and keeps the connection', async () => {
    for (let call = 0; call < 2; call++) {
      const progress: number[] = [];
      const result = (await client.callTool({ name: 'odd__tick', arguments: {} }, undefined, {
        onprogress: (p) => void progress.push(p.progress),
      })) as CallToolResult;
      expect(result.content).toEqual([{ type: 'text', text: 'ticked' }]);
      expect(progress).toEqual([1]);
    }
    // Without a progress token too: the notifications are dropped and the call is answered.
    const plain = (await client.callTool({ name: 'odd__tick', arguments: {} })) as CallToolResult;
    expect(plain.content).toEqual([{ type: 'text', text: 'ticked' }]);
    expect(ingress.stats().upstreams.odd).toMatchObject({ connected: true, connects: 1 });
    await ingress.flush();
    const outcomes = log
      .events()
      .filter((e) => e.type === 'call.completed' && e.tool === 'odd__tick')
      .map((e) => e.outcome?.status);
    expect(outcomes).toEqual(['ok', 'ok', 'ok']);
  });
});
