import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
