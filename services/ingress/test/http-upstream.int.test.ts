import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMemoryLog } from '@gatehouse/eventlog';
import { createSupportDeskServer } from '@gatehouse/support-desk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngress, GATEWAY_RPC_ERRORS, type Ingress } from '../src/index.js';
import { demoPolicy } from './helpers/demo-policy.js';
import { RESOURCE } from './helpers/gateway-fixture.js';
import { startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';

/**
 * The support desk over Streamable HTTP, recording the headers of every request it receives. Like
 * an express.json() app, it answers 413 to a body over 100 KB; a request naming `HOLD-ME` waits
 * until `release()` (`held` resolves when one arrived).
 */
async function startHttpUpstream(options: { json: boolean; unknownSession?: 400 | 404 }) {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const headers: IncomingHttpHeaders[] = [];
  let heldArrived: () => void = () => undefined;
  let release: () => void = () => undefined;
  const hold = () => {
    const arrived = new Promise<void>((resolve) => (heldArrived = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    return { arrived, released };
  };
  let holding = hold();
  const server: Server = createServer((req, res) => {
    headers.push(req.headers);
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const bytes = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
      if (bytes > 100_000) {
        res.writeHead(413, { 'content-type': 'text/plain' }).end('request entity too large');
        return;
      }
      if (Buffer.concat(chunks).includes('HOLD-ME')) {
        heldArrived();
        await holding.released;
      }
      const body =
        chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined;
      const sessionId = req.headers['mcp-session-id'];
      let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
      if (!transport && sessionId === undefined) {
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: randomUUID,
          enableJsonResponse: options.json,
          onsessioninitialized: (id) => void transports.set(id, created),
        });
        await createSupportDeskServer({ recordFile: '' }).connect(created);
        transport = created;
      }
      if (!transport) {
        // 404 as the protocol asks; 400 as the SDK's examples and older servers answer.
        if (options.unknownSession === 400)
          res
            .writeHead(400, { 'content-type': 'application/json' })
            .end(
              '{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}',
            );
        else
          res
            .writeHead(404, { 'content-type': 'application/json' })
            .end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}');
        return;
      }
      await transport.handleRequest(req, res, body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    headers,
    /** Forgets every session, as an upstream restart would. */
    forgetSessions: () => transports.clear(),
    /** Resolves when a request naming HOLD-ME arrived. */
    held: () => holding.arrived,
    /** Lets the held request through, and holds the next one again. */
    release: () => {
      release();
      holding = hold();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function text(result: unknown): string {
  const first = (result as CallToolResult).content[0];
  return first?.type === 'text' ? first.text : '';
}

for (const [mode, unknownSession] of [
  ['SSE', 404],
  ['JSON', 400],
] as const) {
  describe(`gateway in front of a Streamable HTTP upstream answering with ${mode} (unknown session: ${unknownSession})`, () => {
    let upstream: Awaited<ReturnType<typeof startHttpUpstream>>;
    let issuer: TestIssuer;
    let ingress: Ingress;
    let client: Client;
    let agentToken: string;
    const log = createMemoryLog();

    beforeAll(async () => {
      upstream = await startHttpUpstream({ json: mode === 'JSON', unknownSession });
      issuer = await startTestIssuer(RESOURCE);
      ingress = await createIngress({
        config: {
          gateway: { resource: RESOURCE, issuer: issuer.issuer, allowedHosts: ['127.0.0.1'] },
          upstreams: {
            support: {
              url: upstream.url,
              headers: { authorization: 'Bearer gateway-own-upstream-credential' },
            },
          },
        },
        log,
        policy: await demoPolicy(),
        logger: pino({ level: 'silent' }),
      });
      const base = await ingress.listen(0, '127.0.0.1');
      agentToken = await issuer.token({ client_id: 'ops-agent', sub: 'admin' });
      client = new Client({ name: 'http-upstream-test', version: '1' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
          requestInit: { headers: { authorization: `Bearer ${agentToken}` } },
        }),
      );
    });
    afterAll(async () => {
      await client.close();
      await ingress.close();
      await upstream.close();
      await issuer.close();
    });

    it('forwards calls with the gateway’s own credentials and never the agent’s token', async () => {
      const result = await client.callTool({
        name: 'support__read_ticket',
        arguments: { ticket_id: 'T-1002' },
      });
      expect(text(result)).toContain('How do I export my boards?');
      expect(upstream.headers.length).toBeGreaterThan(0);
      for (const seen of upstream.headers) {
        expect(seen.authorization).toBe('Bearer gateway-own-upstream-credential');
        expect(JSON.stringify(seen)).not.toContain(agentToken);
      }
    });

    it('serves many calls over one upstream connection without leaving requests open', async () => {
      for (let i = 0; i < 200; i++)
        await client.callTool({ name: 'support__list_open_tickets', arguments: { limit: 1 } });
      const stats = ingress.stats().upstreams.support;
      expect(stats).toMatchObject({ connected: true, connects: 1, inFlightHttpRequests: 0 });
    });

    it('fails only the call the upstream refuses (HTTP 413): the connection and the calls in flight on it stay', async () => {
      const connects = ingress.stats().upstreams.support!.connects;
      const held = client.callTool({ name: 'support__read_ticket', arguments: { ticket_id: 'HOLD-ME' } });
      await upstream.held();
      const refused = await client
        .callTool({ name: 'support__read_ticket', arguments: { ticket_id: 'x'.repeat(150_000) } })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(McpError);
      expect((refused as McpError).code).toBe(GATEWAY_RPC_ERRORS.upstreamUnavailable.code);
      upstream.release();
      expect(text(await held)).toContain('HOLD-ME'); // answered, not cut off with the refused one
      await client.callTool({ name: 'support__list_open_tickets', arguments: {} });
      expect(ingress.stats().upstreams.support?.connects).toBe(connects);
      await ingress.flush();
      const failed = log
        .events()
        .filter((event) => event.type === 'call.failed')
        .map((event) => event.outcome?.error);
      expect(failed).toContain('transport: upstream HTTP 413');
    });

    it('reconnects after the upstream lost its session: the failed call is reported, the next one succeeds', async () => {
      upstream.forgetSessions();
      const error = await client
        .callTool({ name: 'support__list_open_tickets', arguments: {} })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(McpError);
      expect((error as McpError).code).toBe(GATEWAY_RPC_ERRORS.upstreamUnavailable.code);
      const result = await client.callTool({ name: 'support__list_open_tickets', arguments: {} });
      expect(JSON.parse(text(result)).tickets.length).toBeGreaterThan(0);
      expect(ingress.stats().upstreams.support?.connects).toBe(2);
    });
  });
}
