import { getEventListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerRequestSignalFetch } from '../src/index.js';

describe('per-request-signal fetch (the SDK abort-listener leak workaround)', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: hello\n\n');
        return; // left open until the client aborts
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('keeps one listener on a long-lived signal however many requests use it', async () => {
    const longLived = new AbortController();
    const { fetch: wrapped, inFlight } = createPerRequestSignalFetch();
    for (let i = 0; i < 300; i++) {
      const response = await wrapped(`${url}/json`, { signal: longLived.signal });
      expect(await response.json()).toEqual({ ok: true });
    }
    expect(getEventListeners(longLived.signal, 'abort')).toHaveLength(1);
    expect(inFlight()).toBe(0);
  });

  it('counts a streaming response as in flight until its body ends, and aborts it with the long-lived signal', async () => {
    const longLived = new AbortController();
    const { fetch: wrapped, inFlight } = createPerRequestSignalFetch();
    const response = await wrapped(`${url}/stream`, { signal: longLived.signal });
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value!).toString()).toBe('data: hello\n\n');
    expect(inFlight()).toBe(1);
    longLived.abort();
    await expect(reader.read()).rejects.toThrow();
    expect(inFlight()).toBe(0);
  });

  it('releases a request whose body is cancelled', async () => {
    const { fetch: wrapped, inFlight } = createPerRequestSignalFetch();
    const response = await wrapped(`${url}/stream`, { signal: new AbortController().signal });
    expect(inFlight()).toBe(1);
    await response.body!.cancel();
    expect(inFlight()).toBe(0);
  });
});
