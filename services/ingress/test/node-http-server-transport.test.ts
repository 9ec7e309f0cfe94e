import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  LATEST_PROTOCOL_VERSION,
  ListToolsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REQUESTS_IN_FLIGHT, NodeHttpServerTransport } from '../src/mcp/node-http-server-transport.js';

/**
 * One session's transport behind a plain node:http server, with an SDK `Server` whose `slow` calls
 * answer only when the test releases them and whose `count` tool reports progress.
 */
async function startSession(): Promise<{
  url: string;
  transport: NodeHttpServerTransport;
  server: Server;
  errors: string[];
  release: () => void;
  close: () => Promise<void>;
}> {
  const transport = new NodeHttpServerTransport({ sessionIdGenerator: () => 'session-1' });
  const errors: string[] = [];
  transport.onerror = (error) => void errors.push(error.message);
  const server = new Server({ name: 't', version: '1' }, { capabilities: { tools: {} } });
  const slow: Array<() => void> = [];
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [] }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    if (request.params.name === 'slow') await new Promise<void>((resolve) => slow.push(resolve));
    if (request.params.name === 'count') {
      const token = extra._meta?.progressToken;
      for (let i = 1; i <= 3 && token !== undefined; i++)
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken: token, progress: i, total: 3 },
        });
    }
    return { content: [{ type: 'text', text: `done ${request.params.name}` }] };
  });
  await server.connect(transport);
  server.onerror = (error) => void errors.push(error.message); // e.g. a response with nowhere to go
  const http: HttpServer = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      await transport.handleRequest(req, res, text === '' ? undefined : (JSON.parse(text) as unknown));
    })();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    transport,
    server,
    errors,
    release: () => {
      for (const resolve of slow.splice(0)) resolve();
    },
    close: async () => {
      await transport.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

const ACCEPT = 'application/json, text/event-stream';
const INIT = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'c', version: '1' },
  },
};

async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; json: unknown; text: string; session: string | null }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { accept: ACCEPT, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  return {
    status: response.status,
    type,
    text,
    json: type.startsWith('application/json') && text !== '' ? (JSON.parse(text) as unknown) : null,
    session: response.headers.get('mcp-session-id'),
  };
}

describe('NodeHttpServerTransport with the SDK client', () => {
  it('serves initialize, tools/list and tools/call, with progress on an SSE answer', async () => {
    const session = await startSession();
    const client = new Client({ name: 'c', version: '1' });
    try {
      const transport = new StreamableHTTPClientTransport(new URL(session.url));
      await client.connect(transport);
      expect(transport.sessionId).toBe('session-1');
      expect((await client.listTools()).tools).toEqual([]);
      const progress: number[] = [];
      const result = await client.callTool({ name: 'count', arguments: {} }, undefined, {
        onprogress: (p) => void progress.push(p.progress),
      });
      expect(result.content).toEqual([{ type: 'text', text: 'done count' }]);
      expect(progress).toEqual([1, 2, 3]);
      expect(session.errors).toEqual([]);
    } finally {
      await client.close();
      await session.close();
    }
  });
});

describe('NodeHttpServerTransport: the HTTP contract', () => {
  let session: Awaited<ReturnType<typeof startSession>>;
  const headers = { 'mcp-session-id': 'session-1', 'mcp-protocol-version': LATEST_PROTOCOL_VERSION };
  beforeAll(async () => {
    session = await startSession();
    const init = await post(session.url, INIT);
    expect(init.status).toBe(200);
    expect(init.type).toBe('application/json');
    expect(init.session).toBe('session-1');
    expect(
      await post(session.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers),
    ).toMatchObject({ status: 202 });
  });
  afterAll(async () => {
    await session.close();
  });

  it('answers a request without a progress token with one JSON body, and a batch with an array', async () => {
    const one = await post(session.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, headers);
    expect(one).toMatchObject({ status: 200, type: 'application/json', session: 'session-1' });
    expect(one.json).toEqual({ jsonrpc: '2.0', id: 1, result: { tools: [] } });
    const batch = await post(
      session.url,
      [
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'a' } },
      ],
      headers,
    );
    expect(batch.json).toEqual([
      { jsonrpc: '2.0', id: 2, result: { tools: [] } },
      { jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: 'done a' }] } },
    ]);
  });

  it('answers a request with a progress token as SSE: the notifications, then the response', async () => {
    const answer = await post(
      session.url,
      {
        jsonrpc: '2.0',
        id: 4,
        method: 'tools/call',
        params: { name: 'count', _meta: { progressToken: 'p' } },
      },
      headers,
    );
    expect(answer.status).toBe(200);
    expect(answer.type).toBe('text/event-stream');
    const data = answer.text
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)) as { method?: string; id?: number });
    expect(data.map((m) => m.method ?? `response ${m.id}`)).toEqual([
      'notifications/progress',
      'notifications/progress',
      'notifications/progress',
      'response 4',
    ]);
  });

  it('answers a POST whose requests the client cancelled without holding it open', async () => {
    const cancel = (requestId: number) => ({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId, reason: 'changed my mind' },
    });
    // A request and its cancellation in one batch: nothing to answer, so 202 without a body.
    const alone = await post(
      session.url,
      [{ jsonrpc: '2.0', id: 20, method: 'tools/list' }, cancel(20)],
      headers,
    );
    expect(alone).toMatchObject({ status: 202, text: '' });
    // A cancelled request beside an answered one: the body holds the one answer.
    const beside = await post(
      session.url,
      [
        { jsonrpc: '2.0', id: 21, method: 'tools/call', params: { name: 'slow' } },
        { jsonrpc: '2.0', id: 22, method: 'tools/list' },
        cancel(21),
      ],
      headers,
    );
    expect(beside.json).toEqual([{ jsonrpc: '2.0', id: 22, result: { tools: [] } }]);
    // A cancellation in a POST of its own ends the SSE answer the request is waiting on.
    const waiting = post(
      session.url,
      {
        jsonrpc: '2.0',
        id: 23,
        method: 'tools/call',
        params: { name: 'slow', _meta: { progressToken: 's' } },
      },
      headers,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await post(session.url, cancel(23), headers)).toMatchObject({ status: 202 });
    const ended = await waiting;
    expect(ended).toMatchObject({ status: 200, type: 'text/event-stream' });
    expect(ended.text).not.toContain('"id":23');
    session.release();
    // Cancellations the SDK ignores (request id 0; a reason that is not a string) change nothing.
    const ignored = await post(
      session.url,
      [
        { jsonrpc: '2.0', id: 0, method: 'tools/list' },
        { jsonrpc: '2.0', id: 24, method: 'tools/list' },
        cancel(0),
        { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 24, reason: 42 } },
      ],
      headers,
    );
    expect(ignored.json).toEqual([
      { jsonrpc: '2.0', id: 0, result: { tools: [] } },
      { jsonrpc: '2.0', id: 24, result: { tools: [] } },
    ]);
    // The ids are free again, and nothing is left waiting on the session.
    const again = await post(session.url, { jsonrpc: '2.0', id: 23, method: 'tools/list' }, headers);
    expect(again.json).toEqual({ jsonrpc: '2.0', id: 23, result: { tools: [] } });
    expect(session.errors.filter((error) => /no open request/.test(error))).toEqual([]);
  });

  it(`answers 429 past ${MAX_REQUESTS_IN_FLIGHT} requests of the session awaiting their answer`, async () => {
    const batches = Array.from({ length: MAX_REQUESTS_IN_FLIGHT / 64 }, (_, b) =>
      Array.from({ length: 64 }, (_, i) => ({
        jsonrpc: '2.0',
        id: `held-${b}-${i}`,
        method: 'tools/call',
        params: { name: 'slow' },
      })),
    );
    const held = batches.map((batch) => post(session.url, batch, headers));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await post(
      session.url,
      { jsonrpc: '2.0', id: 'one-more', method: 'tools/list' },
      headers,
    );
    expect(refused.status).toBe(429);
    expect(refused.json).toMatchObject({
      error: { code: -32000, message: expect.stringMatching(/Too Many Requests/) },
    });
    session.release();
    await Promise.all(held);
  });

  it('refuses bad requests with the status, JSON-RPC code and message of the SDK transport', async () => {
    const cases: [string, Promise<{ status: number; json: unknown }>, number, number, RegExp][] = [
      [
        'accept without text/event-stream',
        post(
          session.url,
          { jsonrpc: '2.0', id: 9, method: 'tools/list' },
          { ...headers, accept: 'application/json' },
        ),
        406,
        -32000,
        /Not Acceptable/,
      ],
      [
        'a content type other than JSON',
        post(
          session.url,
          { jsonrpc: '2.0', id: 9, method: 'tools/list' },
          { ...headers, 'content-type': 'text/plain' },
        ),
        415,
        -32000,
        /Unsupported Media Type/,
      ],
      [
        'not JSON-RPC',
        post(session.url, { hello: 'world' }, headers),
        400,
        -32700,
        /Invalid JSON-RPC message/,
      ],
      [
        'a batch of 101',
        post(
          session.url,
          Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: 100 + i, method: 'tools/list' })),
          headers,
        ),
        400,
        -32600,
        /Batch must not exceed 100/,
      ],
      ['an empty batch', post(session.url, [], headers), 400, -32600, /empty batch/],
      ['a second initialize', post(session.url, INIT, headers), 400, -32600, /already initialized/],
      [
        'an unsupported protocol version',
        post(
          session.url,
          { jsonrpc: '2.0', id: 9, method: 'tools/list' },
          { ...headers, 'mcp-protocol-version': '1999-01-01' },
        ),
        400,
        -32000,
        /Unsupported protocol version: 1999-01-01/,
      ],
      [
        'one request id twice in a batch',
        post(
          session.url,
          [
            { jsonrpc: '2.0', id: 7, method: 'tools/list' },
            { jsonrpc: '2.0', id: 7, method: 'tools/list' },
          ],
          headers,
        ),
        400,
        -32600,
        /request id 7 is already in flight/,
      ],
    ];
    for (const [what, answer, status, code, message] of cases) {
      const { status: got, json } = await answer;
      expect({ what, status: got }).toEqual({ what, status });
      const error = (json as { error: { code: number; message: string } }).error;
      expect({ what, code: error.code }).toEqual({ what, code });
      expect(error.message).toMatch(message);
    }
    const put = await fetch(session.url, { method: 'PUT', headers });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, POST, DELETE');
  });

  it('refuses a request id already in flight on another POST, and still answers the first', async () => {
    const first = post(
      session.url,
      { jsonrpc: '2.0', id: 20, method: 'tools/call', params: { name: 'slow' } },
      headers,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await post(session.url, { jsonrpc: '2.0', id: 20, method: 'tools/list' }, headers);
    expect(second.status).toBe(400);
    expect(second.json).toMatchObject({
      error: { code: -32600, message: expect.stringMatching(/20 is already in flight/) },
    });
    session.release();
    expect((await first).json).toMatchObject({ id: 20, result: { content: [{ text: 'done slow' }] } });
  });

  it('drops the answer of a caller that went away, without an error', async () => {
    const aborted = new AbortController();
    const pending = fetch(session.url, {
      method: 'POST',
      headers: { accept: ACCEPT, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 30, method: 'tools/call', params: { name: 'slow' } }),
      signal: aborted.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    aborted.abort();
    await expect(pending).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 50));
    session.release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The id is free again, and the session still answers.
    const next = await post(session.url, { jsonrpc: '2.0', id: 30, method: 'tools/list' }, headers);
    expect(next.json).toEqual({ jsonrpc: '2.0', id: 30, result: { tools: [] } });
  });

  it('opens one standalone SSE stream per session (409 for a second) and delivers server notifications on it', async () => {
    const controller = new AbortController();
    const stream = await fetch(session.url, {
      headers: { ...headers, accept: 'text/event-stream' },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const second = await fetch(session.url, { headers: { ...headers, accept: 'text/event-stream' } });
    expect(second.status).toBe(409);
    const reader = stream.body!.getReader();
    await session.server.sendToolListChanged();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain('"method":"notifications/tools/list_changed"');
    const notAcceptable = await fetch(session.url, { headers: { ...headers, accept: 'application/json' } });
    expect(notAcceptable.status).toBe(406);
    controller.abort();
  });
});

describe('NodeHttpServerTransport: closing', () => {
  it('ends open streams, answers the session as gone, and calls onclose once', async () => {
    const session = await startSession();
    let closes = 0;
    session.transport.onclose = () => void (closes += 1);
    const headers = { 'mcp-session-id': 'session-1', 'mcp-protocol-version': LATEST_PROTOCOL_VERSION };
    await post(session.url, INIT);
    const pending = post(
      session.url,
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow' } },
      headers,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await session.transport.close();
    await session.transport.close();
    const answer = await pending;
    expect(answer.status).toBe(404);
    expect(answer.json).toMatchObject({ error: { code: -32001, message: 'Session not found' } });
    const after = await post(session.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, headers);
    expect(after.status).toBe(404);
    expect(closes).toBe(1);
    await session.close();
  });

  it('refuses requests before initialize', async () => {
    const session = await startSession();
    try {
      const answer = await post(session.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({
        error: { code: -32000, message: 'Bad Request: Server not initialized' },
      });
    } finally {
      await session.close();
    }
  });
});
