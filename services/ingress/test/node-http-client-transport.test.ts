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
 * A raw HTTP/1.1 upstream (keep-alive) that resets a connection instead of answering a request on
 * it: the second request on a connection (`reused`), what a server whose keep-alive timeout fires
 * just as a request arrives looks like to the client; or the first (`fresh`), a server that fails.
 * Records the bodies it answered and the connections it accepted.
 */
async function startResettingUpstream(resetOn: 'reused' | 'fresh') {
  const answered: unknown[] = [];
  let connections = 0;
  const server = createNetServer((socket) => {
    connections += 1;
    let buffer = Buffer.alloc(0);
    let served = 0;
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
        if (resetOn === 'fresh' || served >= 1) {
          socket.resetAndDestroy();
          return;
        }
        served += 1;
        answered.push(body);
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
    answered,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('NodeHttpClientTransport: an upstream closing a kept-alive connection', () => {
  const call = (id: number): JSONRPCMessage => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'x' },
  });

  it('sends a request again, once, on a new connection when the reused one was reset before any answer', async () => {
    const upstream = await startResettingUpstream('reused');
    const transport = new NodeHttpClientTransport(upstream.url);
    const messages: JSONRPCMessage[] = [];
    const errors: Error[] = [];
    transport.onmessage = (message) => void messages.push(message);
    transport.onerror = (error) => void errors.push(error);
    try {
      await transport.send(call(1));
      await transport.send(call(2)); // reuses the first connection, which the upstream resets
      expect(messages.map((m) => (m as { id: number }).id)).toEqual([1, 2]);
      expect(errors).toEqual([]);
      // Request 2 reached the upstream's handler once: on the second connection.
      expect(upstream.answered.map((b) => (b as { id: number }).id)).toEqual([1, 2]);
      expect(upstream.connections()).toBe(2);
    } finally {
      await transport.close();
      await upstream.close();
    }
  });

  it('does not send again when a fresh connection is reset: the upstream may have read the request', async () => {
    const upstream = await startResettingUpstream('fresh');
    const transport = new NodeHttpClientTransport(upstream.url);
    const errors: Error[] = [];
    transport.onerror = (error) => void errors.push(error);
    try {
      await expect(transport.send(call(1))).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(errors).toHaveLength(1);
      expect(upstream.connections()).toBe(1);
      expect(upstream.answered).toEqual([]);
    } finally {
      await transport.close();
      await upstream.close();
    }
  });
});
