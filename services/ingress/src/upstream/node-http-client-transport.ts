import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { IngressError } from '../errors.js';

/**
 * Default `idleSocketTimeoutMs`: under the 5 s that Node's HTTP server and many others keep an idle
 * connection open.
 */
export const DEFAULT_IDLE_SOCKET_TIMEOUT_MS = 4_000;

/** Largest error body read from an upstream (bytes); the rest is discarded. */
const MAX_ERROR_BODY = 4_096;

/**
 * The upstream answered a POST with something other than a usable answer: a non-2xx status, or a
 * 2xx of an unexpected content type. `sessionLost` tells a lost upstream session (see
 * `isSessionLost`) from a refusal of this one request (400, 413, 429, 5xx…), which must not cost
 * the other calls sharing the connection.
 */
export class UpstreamHttpError extends IngressError {
  readonly httpStatus: number;
  readonly sessionLost: boolean;
  constructor(message: string, httpStatus: number, sessionLost: boolean) {
    super('GH_ERR_INGRESS_UPSTREAM_UNAVAILABLE', message, { status: 502, retryable: httpStatus >= 500 });
    this.name = 'UpstreamHttpError';
    this.httpStatus = httpStatus;
    this.sessionLost = sessionLost;
  }
}

/**
 * Whether an error answer to a request that carried `Mcp-Session-Id` says the upstream no longer
 * knows the session: 404, as the protocol asks, or a 400 that names the session, as the SDK's own
 * examples and older servers answer ("Bad Request: No valid session ID provided").
 */
function isSessionLost(status: number, body: string): boolean {
  return status === 404 || (status === 400 && /session/i.test(body));
}

export interface NodeHttpClientTransportOptions {
  /** Static headers sent with every request: the gateway's own upstream credentials. */
  headers?: Record<string, string>;
  /** Sockets kept per upstream. Default 64. */
  maxSockets?: number;
  /**
   * How long an idle kept-alive connection stays open, in ms; Node shortens it to one second less
   * than a `Keep-Alive: timeout=N` the upstream announces. Default 4,000, under the 5 s that
   * Node's HTTP server and many others keep an idle connection: the gateway closes it first, so
   * that no call goes out on a connection the upstream is closing at that moment (which would fail
   * it with ECONNRESET; such a call is not sent again, since a reset cannot tell whether the
   * upstream ran it).
   */
  idleSocketTimeoutMs?: number;
}

/**
 * A Streamable HTTP client transport (MCP 2025-11-25, client → server POSTs) on `node:http` with a
 * keep-alive agent, for the gateway's long-lived upstream connections.
 *
 * Why not the SDK's `StreamableHTTPClientTransport`: it passes one long-lived AbortSignal to every
 * `fetch` (undici then keeps one `abort` listener per request until GC — ~1,500 calls trigger
 * Node's leak warning), and its fetch + web-streams pipeline costs more CPU per call than the
 * rest of the gateway's hot path. This transport uses no AbortSignal at all; `close()` destroys
 * the requests in flight.
 *
 * Scope: POST of requests/notifications/responses with JSON or SSE answers, `Mcp-Session-Id` and
 * `MCP-Protocol-Version` headers, session DELETE on close. Not implemented (the gateway does not
 * need them): the standalone GET stream for server-initiated messages, SSE resumption, redirects,
 * OAuth (upstream credentials are static headers).
 */
export class NodeHttpClientTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  sessionId?: string;

  readonly #url: URL;
  readonly #headers: Record<string, string>;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;
  readonly #inFlight = new Set<ClientRequest>();
  #protocolVersion: string | undefined;
  #closed = false;

  constructor(url: URL, options: NodeHttpClientTransportOptions = {}) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new IngressError(
        'GH_ERR_INGRESS_CONFIG',
        `upstream url ${url.origin}: only http: and https: are supported`,
      );
    }
    this.#url = url;
    this.#headers = { ...options.headers };
    // `timeout` is what Node sets on a socket going back to the pool (shortened by the upstream's
    // keep-alive hint); on a socket in use it only emits 'timeout', which nothing here acts on.
    const agentOptions = {
      keepAlive: true,
      maxSockets: options.maxSockets ?? 64,
      timeout: options.idleSocketTimeoutMs ?? DEFAULT_IDLE_SOCKET_TIMEOUT_MS,
    };
    this.#agent = url.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.#request = url.protocol === 'https:' ? (httpsRequest as typeof httpRequest) : httpRequest;
  }

  /** Requests whose response has not ended yet. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  async start(): Promise<void> {}

  setProtocolVersion(version: string): void {
    this.#protocolVersion = version;
  }

  /**
   * POSTs one message. Resolves once the answer's headers arrived (JSON bodies are delivered
   * before it resolves; SSE streams keep delivering afterwards); rejects on a non-2xx answer or a
   * network error, which is also reported to `onerror`.
   */
  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    if (this.#closed) throw new IngressError('GH_ERR_INGRESS_CLOSED', 'upstream transport closed');
    try {
      const sentSession = this.sessionId !== undefined;
      const response = await this.#post(JSON.stringify(message));
      const sessionId = response.headers['mcp-session-id'];
      if (typeof sessionId === 'string') this.sessionId = sessionId;
      const status = response.statusCode ?? 0;
      if (status === 202) {
        response.resume();
        return;
      }
      if (status < 200 || status >= 300) {
        const body = await readBody(response, MAX_ERROR_BODY);
        throw new UpstreamHttpError(
          `upstream answered HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`,
          status,
          sentSession && isSessionLost(status, body),
        );
      }
      const type = (response.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type === 'text/event-stream') {
        this.#readEvents(response);
      } else if (type === 'application/json') {
        const text = await readBody(response, Infinity);
        if (text.length > 0) this.#deliver(text);
      } else {
        response.resume();
        if ('id' in message && 'method' in message) {
          throw new UpstreamHttpError(
            `upstream answered with unexpected content type ${JSON.stringify(type ?? '')}`,
            status,
            false,
          );
        }
      }
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      this.onerror?.(failure);
      throw failure;
    }
  }

  /** Destroys requests in flight, ends the upstream session (best effort, 2 s), closes sockets. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const req of this.#inFlight) req.destroy();
    this.#inFlight.clear();
    if (this.sessionId !== undefined) {
      await new Promise<void>((resolve) => {
        const req = this.#request(
          this.#url,
          { method: 'DELETE', headers: this.#requestHeaders(), agent: this.#agent, timeout: 2_000 },
          (res) => {
            res.resume();
            res.on('end', resolve).on('error', () => resolve());
          },
        );
        req.on('error', () => resolve()).on('timeout', () => req.destroy());
        req.end();
      });
    }
    this.#agent.destroy();
    this.onclose?.();
  }

  #requestHeaders(): Record<string, string> {
    const headers: Record<string, string> = { ...this.#headers };
    if (this.sessionId !== undefined) headers['mcp-session-id'] = this.sessionId;
    if (this.#protocolVersion !== undefined) headers['mcp-protocol-version'] = this.#protocolVersion;
    return headers;
  }

  #post(body: string): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = this.#request(
        this.#url,
        {
          method: 'POST',
          agent: this.#agent,
          headers: {
            ...this.#requestHeaders(),
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'content-length': Buffer.byteLength(body),
          },
        },
        (response) => {
          const done = () => this.#inFlight.delete(req);
          response.once('end', done).once('close', done).once('error', done);
          resolve(response);
        },
      );
      this.#inFlight.add(req);
      req.once('error', (error) => {
        this.#inFlight.delete(req);
        reject(error);
      });
      req.end(body);
    });
  }

  /** Parses an SSE body (`event:`/`data:`/`id:` lines, events separated by a blank line). */
  #readEvents(response: IncomingMessage): void {
    response.setEncoding('utf8');
    let buffer = '';
    let data: string[] = [];
    let event = 'message';
    const dispatch = (): void => {
      if (data.length > 0 && event === 'message') this.#deliver(data.join('\n'));
      data = [];
      event = 'message';
    };
    response.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        if (line === '') dispatch();
        else if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
        else if (line.startsWith('event:')) event = line.slice(6).trim();
        // `id:`, `retry:` and comments carry nothing the gateway uses.
      }
    });
    response.on('end', dispatch);
    response.on('error', (error) => this.onerror?.(error));
  }

  #deliver(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      this.onerror?.(
        new IngressError('GH_ERR_INGRESS_UPSTREAM_UNAVAILABLE', 'upstream sent a message that is not JSON', {
          cause: error,
        }),
      );
      return;
    }
    for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
      if (isJsonRpcEnvelope(item)) this.onmessage?.(item);
      else
        this.onerror?.(
          new IngressError(
            'GH_ERR_INGRESS_UPSTREAM_UNAVAILABLE',
            'upstream sent an invalid JSON-RPC message',
          ),
        );
    }
  }
}

/**
 * The envelope check of an upstream message: an object with `jsonrpc: "2.0"` that is a request,
 * a notification or a response (`result` with a string or number `id`; `error`, whose `id` may be
 * null). The SDK's
 * protocol layer validates each message again against its own schemas (responses against the
 * request's result schema) before anything uses it, so the transport does not run the full
 * `JSONRPCMessageSchema` a second time (a zod parse per message, on the gateway's hot path).
 */
function isJsonRpcEnvelope(value: unknown): value is JSONRPCMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const message = value as Record<string, unknown>;
  if (message.jsonrpc !== '2.0') return false;
  // MCP params are objects; anything else (null, an array, a string) is not a valid message.
  const params = message.params;
  if ('params' in message && (typeof params !== 'object' || params === null || Array.isArray(params)))
    return false;
  const id = message.id;
  const hasId = typeof id === 'string' || typeof id === 'number';
  if (typeof message.method === 'string') return hasId || !('id' in message);
  if ('error' in message) return hasId || id === null || !('id' in message);
  return hasId && 'result' in message;
}

function readBody(response: IncomingMessage, limit: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let text = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      if (text.length < limit) text += chunk;
    });
    response.on('end', () => resolve(text.length > limit ? text.slice(0, limit) : text));
    response.on('error', reject);
  });
}
