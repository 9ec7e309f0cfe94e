import { request as httpRequest } from 'node:http';
import { verifyChain } from '@gatehouse/events';
import { createMemoryLog } from '@gatehouse/eventlog';
import {
  ErrorCode,
  ListResourcesResultSchema,
  McpError,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARGS_OMITTED } from '../src/audit/audit-recorder.js';
import { GATEWAY_RPC_ERRORS } from '../src/index.js';
import { startGateway, type GatewayFixture } from './helpers/gateway-fixture.js';

function text(result: unknown): string {
  const first = (result as CallToolResult).content[0];
  return first?.type === 'text' ? first.text : '';
}

async function rpcErrorOf(promise: Promise<unknown>): Promise<McpError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(McpError);
  return error as McpError;
}

/** POSTs a bare `initialize` with `token`; the HTTP status (the body is read and dropped). */
async function postInitialize(gw: GatewayFixture, token: string, clientName: string): Promise<number> {
  const response = await gw.post(token, {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: clientName, version: '0' },
    },
  });
  await response.arrayBuffer();
  return response.status;
}

describe('gateway in front of the support desk (real SDK client, stdio upstream)', () => {
  let gw: GatewayFixture;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => {
    await gw.close();
  });

  it('publishes the catalog and the policy at start-up, each with a content-hash version', () => {
    const [catalog] = gw.eventsOf('catalog:support');
    expect(catalog?.type).toBe('catalog.published');
    expect(catalog?.type === 'catalog.published' && catalog.data.tools.map((t) => t.name)).toEqual([
      'support__close_account',
      'support__draft_reply',
      'support__export_customers',
      'support__issue_refund',
      'support__list_open_tickets',
      'support__read_ticket',
    ]);
    const [policy] = gw.eventsOf('policy');
    expect(policy?.type === 'policy.published' && policy.data.version).toMatch(/^[0-9a-f]{64}$/);
  });

  it('with a runId, publishes and records refusals on chains of that run alone, each from seq 0', async () => {
    const log = createMemoryLog();
    const run = await startGateway({ log, runId: 'r1' });
    try {
      const refused = await run.post('not-a-token', { jsonrpc: '2.0', id: 1, method: 'tools/list' });
      expect(refused.status).toBe(401);
      const streams = (id: string) => log.events().filter((e) => e.session_id === id);
      expect(streams('catalog:support:test-node:r1').map((e) => [e.type, e.seq])).toEqual([
        ['catalog.published', 0],
      ]);
      expect(streams('policy:test-node:r1').map((e) => [e.type, e.seq])).toEqual([['policy.published', 0]]);
      await expect
        .poll(() => streams('perimeter:test-node:r1').map((e) => [e.type, e.seq]))
        .toEqual([['auth.rejected', 0]]);
      expect(streams('policy')).toEqual([]);
    } finally {
      await run.close();
    }
  });

  it('shows support-bot exactly list, read and draft — namespaced, with the upstream schemas', async () => {
    const { client } = await gw.connect(
      await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' }),
    );
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      'support__list_open_tickets',
      'support__read_ticket',
      'support__draft_reply',
    ]);
    expect(tools[1]?.inputSchema.properties).toHaveProperty('ticket_id');
  });

  it('denies support-bot acting for alice a refund, and never contacts the upstream', async () => {
    const { client, transport } = await gw.connect(
      await gw.issuer.token({ client_id: 'support-bot', sub: 'alice' }),
    );
    const error = await rpcErrorOf(
      client.callTool({
        name: 'support__issue_refund',
        arguments: { customer_id: 'C-002', amount_cents: 8000, reason: 'dup' },
      }),
    );
    expect(error.code).toBe(GATEWAY_RPC_ERRORS.toolNotPermitted.code);
    expect(error.message).toContain('tool not permitted: support__issue_refund');
    expect(await gw.receivedCalls()).not.toContain('issue_refund');
    const denied = gw.eventsOf(transport.sessionId ?? '').find((e) => e.type === 'call.denied');
    expect(denied).toMatchObject({
      agent: 'support-bot',
      user: 'alice',
      tool: 'support__issue_refund',
      outcome: { status: 'denied' },
    });
    expect(denied?.decision).toMatchObject({
      allowed: false,
      policy_version: gw.ingress.stats().policyVersion,
    });
  });

  it('lets ops-agent acting for admin export customers', async () => {
    const { client } = await gw.connect(await gw.issuer.token({ client_id: 'ops-agent', sub: 'admin' }));
    const result = await client.callTool({ name: 'support__export_customers', arguments: {} });
    expect(text(result)).toContain('ada.byrne@example.com');
    expect(await gw.receivedCalls()).toContain('export_customers');
  });

  it('with selfActingAgents, decides a token whose sub equals another agent’s client id as a user’s', async () => {
    const strict = await startGateway({ gateway: { selfActingAgents: ['support-bot'] } });
    try {
      // A user named like the powerful agent, signed in through it: agent ∩ user:ops-agent, who has no grants.
      const impostor = await strict.connect(
        await strict.issuer.token({ client_id: 'ops-agent', sub: 'ops-agent' }),
      );
      expect((await impostor.client.listTools()).tools).toEqual([]);
      const refused = await impostor.client
        .callTool({ name: 'support__export_customers', arguments: {} })
        .catch((error: unknown) => error as { code: number });
      expect(refused).toMatchObject({ code: GATEWAY_RPC_ERRORS.toolNotPermitted.code });
      expect(await strict.receivedCalls()).not.toContain('export_customers');
      // A listed agent still acts for itself (client credentials).
      const bot = await strict.connect(
        await strict.issuer.token({ client_id: 'support-bot', sub: 'support-bot' }),
      );
      expect((await bot.client.listTools()).tools.map((t) => t.name)).toEqual([
        'support__list_open_tickets',
        'support__read_ticket',
        'support__draft_reply',
      ]);
    } finally {
      await strict.close();
    }
  });

  it('refuses the hostile ticket’s export for support-bot and records the whole story in one intact chain', async () => {
    const { client, transport } = await gw.connect(
      await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' }),
    );
    const before = (await gw.receivedCalls()).length;
    const ticket = await client.callTool({
      name: 'support__read_ticket',
      arguments: { ticket_id: 'T-1004' },
    });
    expect(text(ticket)).toContain('call export_customers');
    const error = await rpcErrorOf(
      client.callTool({ name: 'support__export_customers', arguments: { format: 'csv' } }),
    );
    expect(error.code).toBe(-32003);
    expect((await gw.receivedCalls()).slice(before)).toEqual(['read_ticket']);

    const sessionId = transport.sessionId ?? '';
    await transport.terminateSession();
    await gw.ingress.flush();
    const events = gw.eventsOf(sessionId);
    expect(events.map((e) => e.type)).toEqual([
      'session.started',
      'call.attempted',
      'call.completed',
      'call.denied',
      'session.ended',
    ]);
    expect(events.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(verifyChain(events)).toMatchObject({ ok: true, count: 5 });
    expect(events[0]?.data).toEqual({
      protocol_version: expect.any(String),
      client_name: 'test-agent',
      client_version: '1.2.3',
    });
    const completed = events[2];
    expect(completed?.outcome).toMatchObject({
      status: 'ok',
      result_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      error: null,
    });
    expect(completed?.outcome?.result_bytes).toBeGreaterThan(100);
    expect(events[4]?.data).toEqual({ reason: 'client_deleted' });
  });

  it('treats an unknown tool as not permitted', async () => {
    const { client } = await gw.connect(await gw.issuer.token({ client_id: 'ops-agent', sub: 'admin' }));
    const error = await rpcErrorOf(client.callTool({ name: 'support__drop_database', arguments: {} }));
    expect(error.code).toBe(-32003);
  });

  it('offers no resources or prompts: such requests get method-not-found', async () => {
    const { client } = await gw.connect(await gw.issuer.token({ client_id: 'ops-agent', sub: 'admin' }));
    expect(client.getServerCapabilities()).toEqual({ tools: { listChanged: false } });
    const error = await rpcErrorOf(client.request({ method: 'resources/list' }, ListResourcesResultSchema));
    expect(error.code).toBe(ErrorCode.MethodNotFound);
  });

  it('redacts secrets in arguments but keeps the digest of the original', async () => {
    const { client, transport } = await gw.connect(
      await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' }),
    );
    await client.callTool({
      name: 'support__draft_reply',
      arguments: { ticket_id: 'T-1001', body: 'ok', api_token: 'sk-live-123' },
    });
    await gw.ingress.flush();
    const attempted = gw.eventsOf(transport.sessionId ?? '').find((e) => e.type === 'call.attempted');
    expect(attempted?.args).toMatchObject({ ticket_id: 'T-1001', api_token: '[REDACTED]' });
    expect(attempted?.args_sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('when the log is unavailable, refuses the call with −32004 and contacts no upstream', async () => {
    const { client, transport } = await gw.connect(
      await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' }),
    );
    const before = (await gw.receivedCalls()).length;
    gw.log.setAvailable(false);
    try {
      const error = await rpcErrorOf(client.callTool({ name: 'support__list_open_tickets', arguments: {} }));
      expect(error.code).toBe(GATEWAY_RPC_ERRORS.auditUnavailable.code);
      expect(error.message).toContain('audit log unavailable; call refused');
    } finally {
      gw.log.setAvailable(true);
    }
    expect((await gw.receivedCalls()).length).toBe(before);
    await gw.ingress.flush();
    const events = gw.eventsOf(transport.sessionId ?? '');
    // The refused call.attempted keeps its seq (the log may have written it) and is re-appended
    // once the log is back; its call.failed says the call was refused, not forwarded.
    expect(events.map((e) => e.type)).toEqual(['session.started', 'call.attempted', 'call.failed']);
    expect(events[2]?.outcome?.status).toBe('audit_unavailable');
    expect(verifyChain(events).ok).toBe(true);
  });

  it('when the log is unavailable at initialize, refuses the session and records it as started and refused', async () => {
    const token = await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' });
    gw.log.setAvailable(false);
    try {
      await expect(gw.connect(token)).rejects.toThrow(/audit log unavailable; session refused/);
    } finally {
      gw.log.setAvailable(true);
    }
    await gw.ingress.flush();
    const refusal = gw.log
      .events()
      .find((e) => e.type === 'session.ended' && e.data.reason === 'refused: audit log unavailable');
    expect(refusal).toBeDefined();
    const events = gw.eventsOf(refusal!.session_id);
    expect(events.map((e) => e.type)).toEqual(['session.started', 'session.ended']);
    expect(verifyChain(events).ok).toBe(true);
  });

  it('binds a session to its caller: another token with the same session id gets 404 and a record', async () => {
    const { transport } = await gw.connect(await gw.issuer.token({ client_id: 'support-bot', sub: 'alice' }));
    const intruder = await gw.issuer.token({ client_id: 'support-bot', sub: 'bob' });
    const response = await gw.post(
      intruder,
      { jsonrpc: '2.0', id: 9, method: 'tools/list' },
      { 'mcp-session-id': transport.sessionId ?? '', 'mcp-protocol-version': '2025-11-25' },
    );
    expect(response.status).toBe(404);
    await gw.ingress.flush();
    expect(gw.eventsOf('perimeter:test-node').at(-1)?.data).toMatchObject({
      reason: 'session_principal_mismatch',
      http_status: 404,
    });
  });

  it('rejects a body over the size limit with 413', async () => {
    const token = await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' });
    const response = await gw.post(token, {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { pad: 'x'.repeat(1_100_000) },
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      jsonrpc: '2.0',
      error: { code: -32600, message: 'Invalid Request: the body is larger than gateway.bodyLimitBytes' },
      id: null,
    });
  });

  it('answers a body that is not JSON with a JSON-RPC parse error, not a framework error', async () => {
    const token = await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' });
    for (const text of ['{"jsonrpc":"2.0",', '']) {
      const response = await gw.post(token, text);
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        jsonrpc: '2.0',
        error: { code: -32700, message: 'Parse error: the body is not JSON' },
        id: null,
      });
    }
  });

  it('ends a session on a DELETE sent with a JSON content type and no body', async () => {
    const token = await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' });
    const opened = await gw.post(token, {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    const session = opened.headers.get('mcp-session-id');
    expect(session).toBeTruthy();
    const headers = {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'mcp-session-id': session!,
      'mcp-protocol-version': '2025-11-25',
    };
    const deleted = await fetch(`${gw.base}/mcp`, { method: 'DELETE', headers });
    expect(deleted.status).toBe(200);
    const after = await fetch(`${gw.base}/mcp`, { method: 'DELETE', headers });
    expect(after.status).toBe(404);
  });

  it('reports health, with its figures only to a Host it answers to', async () => {
    const response = await fetch(`${gw.base}/healthz`);
    expect(response.status).toBe(200);
    const health = (await response.json()) as { log?: unknown };
    expect(health).toMatchObject({
      status: 'ok',
      instance: 'test-node',
      upstreams: { support: { connected: true, tools: 6 } },
    });
    expect(health.log).toEqual({ kind: 'memory' }); // commit counts: the embedded log's only
    // A page that rebound its own name to the gateway's address learns that it is up, nothing more.
    const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${gw.base}/healthz`, { headers: { host: 'attacker.example' } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject).end();
    });
    expect(rebound.status).toBe(200);
    expect(JSON.parse(rebound.body)).toEqual({ status: 'ok' });
  });
});

describe('gateway in front of a third-party upstream (server-everything over stdio)', () => {
  let gw: GatewayFixture;
  beforeAll(async () => {
    gw = await startGateway({ everything: true });
  });
  afterAll(async () => {
    await gw.close();
  });

  it('forwards allowed tools and hides them from agents without grants', async () => {
    const ops = await gw.connect(await gw.issuer.token({ client_id: 'ops-agent', sub: 'ops-agent' }));
    const result = await ops.client.callTool({
      name: 'everything__echo',
      arguments: { message: 'through the gate' },
    });
    expect(text(result)).toBe('Echo: through the gate');
    const bot = await gw.connect(await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' }));
    const { tools } = await bot.client.listTools();
    expect(tools.some((t) => t.name.startsWith('everything__'))).toBe(false);
  });

  it('passes progress notifications through with the caller’s progress token', async () => {
    const { client } = await gw.connect(await gw.issuer.token({ client_id: 'ops-agent', sub: 'ops-agent' }));
    const progress: { progress: number; total?: number }[] = [];
    const result = await client.callTool(
      { name: 'everything__trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } },
      undefined,
      {
        onprogress: (p) => progress.push({ progress: p.progress, total: p.total }),
      },
    );
    expect(text(result)).toContain('Long running operation completed');
    expect(progress).toEqual([
      { progress: 1, total: 3 },
      { progress: 2, total: 3 },
      { progress: 3, total: 3 },
    ]);
  });

  it('cancels the upstream request when the caller cancels, and records the call as failed', async () => {
    const { client, transport } = await gw.connect(
      await gw.issuer.token({ client_id: 'ops-agent', sub: 'ops-agent' }),
    );
    const controller = new AbortController();
    const pending = client.callTool(
      { name: 'everything__trigger-long-running-operation', arguments: { duration: 5, steps: 5 } },
      undefined,
      {
        signal: controller.signal,
      },
    );
    setTimeout(() => controller.abort('user gave up'), 300);
    await expect(pending).rejects.toThrow();
    await expect
      .poll(async () => {
        await gw.ingress.flush();
        return gw.eventsOf(transport.sessionId ?? '').at(-1)?.type;
      })
      .toBe('call.failed');
    expect(gw.eventsOf(transport.sessionId ?? '').at(-1)?.outcome).toMatchObject({
      status: 'error',
      error: 'cancelled',
    });
  });

  it('ending a session with a call in flight cancels it and keeps session.ended last in an intact chain', async () => {
    const { client, transport } = await gw.connect(
      await gw.issuer.token({ client_id: 'ops-agent', sub: 'ops-agent' }),
    );
    const sessionId = transport.sessionId ?? '';
    // The caller's own request is left to its client (its stream is gone); only the record matters here.
    void client
      .callTool(
        { name: 'everything__trigger-long-running-operation', arguments: { duration: 5, steps: 5 } },
        undefined,
        { timeout: 10_000 },
      )
      .catch(() => undefined);
    await expect.poll(() => gw.eventsOf(sessionId).at(-1)?.type).toBe('call.attempted');
    await transport.terminateSession();
    await gw.ingress.flush();
    const events = gw.eventsOf(sessionId);
    expect(events.map((e) => e.type)).toEqual([
      'session.started',
      'call.attempted',
      'call.failed',
      'session.ended',
    ]);
    expect(verifyChain(events).ok).toBe(true);
  });
});

describe('gateway with explicit configuration choices (failOpen, maxSessions)', () => {
  let gw: GatewayFixture;
  beforeAll(async () => {
    gw = await startGateway({ gateway: { failOpen: true, maxSessions: 2 } });
  });
  afterAll(async () => {
    await gw.close();
  });

  it('with failOpen, forwards a call whose call.attempted the log refused', async () => {
    const { client } = await gw.connect(
      await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' }),
    );
    gw.log.setAvailable(false);
    try {
      const result = await client.callTool({ name: 'support__list_open_tickets', arguments: { limit: 1 } });
      expect(JSON.parse(text(result)).tickets).toHaveLength(1);
    } finally {
      gw.log.setAvailable(true);
    }
    expect(await gw.receivedCalls()).toContain('list_open_tickets');
  });

  it('still never forwards a denied call, log or no log', async () => {
    const { client } = await gw.connect(
      await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' }),
    );
    const error = await rpcErrorOf(client.callTool({ name: 'support__export_customers', arguments: {} }));
    expect(error.code).toBe(-32003);
    expect(await gw.receivedCalls()).not.toContain('export_customers');
  });

  it('answers initialize beyond maxSessions (2, filled by the sessions above) with 503', async () => {
    const token = await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' });
    expect(await postInitialize(gw, token, 'third')).toBe(503);
  });
});

describe('gateway with maxSessions under concurrent initializes', () => {
  it('opens no more than maxSessions sessions when initializes arrive together', async () => {
    const gw = await startGateway({ gateway: { maxSessions: 3 } });
    try {
      const token = await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' });
      const initialize = (n: number) => postInitialize(gw, token, `c${n}`);
      const statuses = await Promise.all(Array.from({ length: 12 }, (_, n) => initialize(n)));
      expect(statuses.filter((status) => status === 200)).toHaveLength(3);
      expect(statuses.filter((status) => status === 503)).toHaveLength(9);
      expect(gw.ingress.stats().sessions).toBe(3);
    } finally {
      await gw.close();
    }
  });
});

describe('gateway with maxSessionsPerCaller', () => {
  it('keeps one caller from taking every session slot: 429 past its own limit, others unaffected', async () => {
    const gw = await startGateway({ gateway: { maxSessions: 10, maxSessionsPerCaller: 2 } });
    try {
      const bot = await gw.issuer.token({ client_id: 'support-bot', sub: 'support-bot' });
      const first = await gw.connect(bot);
      await gw.connect(bot);
      expect(await postInitialize(gw, bot, 'third')).toBe(429);
      // Another caller — the same agent acting for another user included — still gets sessions.
      const forAlice = await gw.issuer.token({ client_id: 'support-bot', sub: 'alice' });
      expect(await postInitialize(gw, forAlice, 'alice')).toBe(200);
      // Ending one of the caller's sessions gives its slot back.
      await first.transport.terminateSession();
      expect(await postInitialize(gw, bot, 'again')).toBe(200);
    } finally {
      await gw.close();
    }
  });
});

describe('gateway and arguments the audit cannot encode', () => {
  it('refuses a call whose arguments nest too deeply to encode, and records the refusal', async () => {
    const gw = await startGateway();
    try {
      const { transport } = await gw.connect(await gw.issuer.token({ client_id: 'ops-agent', sub: 'admin' }));
      const depth = 100_000;
      const args = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const response = await gw.post(
        await gw.issuer.token({ client_id: 'ops-agent', sub: 'admin' }),
        `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"support__export_customers","arguments":${args}}}`,
        { 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': '2025-11-25' },
      );
      const answer = (await response.json()) as { error?: { code: number; message: string } };
      expect(answer.error?.code).toBe(-32602);
      expect(answer.error?.message).toMatch(/support__export_customers cannot be audited/);
      await gw.ingress.flush();
      const denied = gw.eventsOf(transport.sessionId!).filter((event) => event.type === 'call.denied');
      expect(denied).toHaveLength(1);
      expect(denied[0]).toMatchObject({
        tool: 'support__export_customers',
        request_id: '7',
        args: null,
        args_sha256: null,
        decision: { allowed: false, rule: 'arguments-unencodable' },
      });
      expect(await gw.receivedCalls()).not.toContain('export_customers');
    } finally {
      await gw.close();
    }
  });
});

describe('gateway with a small audit record limit', () => {
  let gw: GatewayFixture;
  beforeAll(async () => {
    gw = await startGateway({
      gateway: { failOpen: true },
      log: createMemoryLog({ maxRecordBytes: 16_000 }),
    });
  });
  afterAll(async () => {
    await gw.close();
  });

  it('refuses a call whose arguments are over the log record limit, even with failOpen, and records it without them', async () => {
    const { client } = await gw.connect(await gw.issuer.token({ client_id: 'ops-agent', sub: 'admin' }));
    const error = await rpcErrorOf(
      client.callTool({ name: 'support__read_ticket', arguments: { ticket_id: 'T-'.padEnd(20_000, '9') } }),
    );
    expect(error.code).toBe(-32602);
    expect(error.message).toContain(
      'arguments of support__read_ticket are too large to be audited; call refused',
    );
    expect(await gw.receivedCalls()).not.toContain('read_ticket');
    await gw.ingress.flush();
    const failed = gw.log
      .events()
      .filter((e) => e.type === 'call.failed' && e.tool === 'support__read_ticket');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ args: ARGS_OMITTED, outcome: { status: 'error' } });
    expect(failed[0]!.args_sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
