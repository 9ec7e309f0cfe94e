import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeHttpClientTransport } from '../src/upstream/node-http-client-transport.js';

/** An upstream that answers every POST with the JSON body queued next (as application/json). */
async function startScriptedUpstream(): Promise<{
  url: URL;
  answers: unknown[];
  close: () => Promise<void>;
}> {
  const answers: unknown[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answers.shift()));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`),
    answers,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('NodeHttpClientTransport: what it hands to the SDK', () => {
  let upstream: Awaited<ReturnType<typeof startScriptedUpstream>>;
  beforeAll(async () => {
    upstream = await startScriptedUpstream();
  });
  afterAll(async () => {
    await upstream.close();
  });

  const exchange = async (answer: unknown) => {
    const transport = new NodeHttpClientTransport(upstream.url);
    const messages: JSONRPCMessage[] = [];
    const errors: Error[] = [];
    transport.onmessage = (message) => void messages.push(message);
    transport.onerror = (error) => void errors.push(error);
    upstream.answers.push(answer);
    await transport.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } });
    await transport.close();
    return { messages, errors };
  };

  it('delivers results, error responses (also with a null id), requests and notifications', async () => {
    const valid = [
      { jsonrpc: '2.0', id: 1, result: { content: [] } },
      { jsonrpc: '2.0', id: 'a', error: { code: -32601, message: 'no' } },
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } },
      { jsonrpc: '2.0', id: 7, method: 'sampling/createMessage', params: {} },
      { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 1 } },
    ];
    const { messages, errors } = await exchange(valid);
    expect(errors).toEqual([]);
    expect(messages).toEqual(valid);
  });

  it('reports messages that are not JSON-RPC 2.0 to onerror and delivers nothing of them', async () => {
    const invalid = [
      { id: 1, result: {} },
      { jsonrpc: '1.0', id: 1, result: {} },
      { jsonrpc: '2.0', id: { nested: true }, result: {} },
      { jsonrpc: '2.0', result: {} },
      { jsonrpc: '2.0', id: null, method: 'tools/call' },
      { jsonrpc: '2.0', id: 1 },
      { jsonrpc: '2.0', method: 'notifications/progress', params: null },
      { jsonrpc: '2.0', method: 'notifications/progress', params: [1, 2] },
      { jsonrpc: '2.0', id: 2, method: 'sampling/createMessage', params: 'x' },
      'text',
      null,
    ];
    const { messages, errors } = await exchange(invalid);
    expect(messages).toEqual([]);
    expect(errors.map((e) => e.message)).toEqual(
      invalid.map(() => 'upstream sent an invalid JSON-RPC message'),
    );
  });
});

/**
 * A raw HTTP/1.1 upstream (keep-alive) that answers the first request on a connection and resets
 * the connection after reading the second one: from the client's side, an upstream that crashed or
 * shut down while running a call, or closed an idle connection as the call went out. Records the
 * requests it read and the connections it accepted.
 */
async function startResettingUpstream() {
  const read: number[] = [];
  let connections = 0;
  const server = createNetServer((socket) => {
    connections += 1;
    let buffer = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString();
        const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        const body = JSON.parse(buffer.subarray(end + 4, end + 4 + length).toString()) as { id: number };
        buffer = buffer.subarray(end + 4 + length);
        read.push(body.id);
        if (read.length > 1) {
          socket.resetAndDestroy();
          return;
        }
        const answer = JSON.stringify({ jsonrpc: '2.0', id: body.id, result: { content: [] } });
        socket.write(
          `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(answer)}\r\nConnection: keep-alive\r\n\r\n${answer}`,
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`),
    read,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('NodeHttpClientTransport: kept-alive upstream connections', () => {
  const call = (id: number): JSONRPCMessage => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'x' },
  });

  it('reports a call reset on a reused connection and does not send it again: the upstream may have run it', async () => {
    const upstream = await startResettingUpstream();
    const transport = new NodeHttpClientTransport(upstream.url);
    const errors: Error[] = [];
    transport.onerror = (error) => void errors.push(error);
    try {
      await transport.send(call(1));
      await expect(transport.send(call(2))).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(errors).toHaveLength(1);
      expect(upstream.read).toEqual([1, 2]);
      expect(upstream.connections()).toBe(1);
    } finally {
      await transport.close();
      await upstream.close();
    }
  });

  it("closes an idle connection a second before the upstream's announced keep-alive timeout", async () => {
    let clientClosed = 0;
    let connections = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [] } }));
      });
    });
    server.keepAliveTimeout = 2_000; // announced as `Keep-Alive: timeout=2`
    server.on('connection', (socket) => {
      connections += 1;
      socket.on('end', () => (clientClosed += 1)); // a FIN from the client, before the server's own timeout
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const transport = new NodeHttpClientTransport(
      new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`),
    );
    try {
      await transport.send(call(1));
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(clientClosed).toBe(1);
      await transport.send(call(1));
      expect(connections).toBe(2);
    } finally {
      await transport.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('keeps a call in flight past the idle timeout: it only applies to connections in the pool', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () =>
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [] } }));
        }, 400),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const transport = new NodeHttpClientTransport(
      new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`),
      { idleSocketTimeoutMs: 100 },
    );
    const messages: JSONRPCMessage[] = [];
    transport.onmessage = (message) => void messages.push(message);
    try {
      await transport.send(call(1));
      expect(messages).toEqual([{ jsonrpc: '2.0', id: 1, result: { content: [] } }]);
    } finally {
      await transport.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
