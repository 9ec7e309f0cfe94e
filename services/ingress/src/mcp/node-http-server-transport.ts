import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CancelledNotificationSchema,
  isInitializeRequest,
  JSONRPCMessageSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type JSONRPCResultResponse,
  type MessageExtraInfo,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

export interface NodeHttpServerTransportOptions {
  /** The session id, minted when `initialize` arrives. */
  sessionIdGenerator: () => string;
  /** Interval of the `: keepalive` comment on open SSE streams, ms. Default 15 s (as the SDK). */
  keepAliveMs?: number;
}

/*
 * The kind of a message that is already a JSONRPCMessage (parsed with its schema, or sent by the
 * SDK's server), told by its members: a request has `method` and `id`, a response `result` or
 * `error`. The SDK's guards (`isJSONRPCRequest`, …) each run a zod parse, and a failing parse builds
 * an error object: on every message of every call, that was a good part of the gateway's garbage.
 */
function isRequest(message: JSONRPCMessage): message is JSONRPCRequest {
  return 'method' in message && 'id' in message;
}

function isResponse(message: JSONRPCMessage): message is JSONRPCResultResponse | JSONRPCErrorResponse {
  return !('method' in message) && ('result' in message || 'error' in message);
}

/** `initialize` checked in full (its params) only when the method says so. */
function isInitialize(message: JSONRPCMessage): boolean {
  return isRequest(message) && message.method === 'initialize' && isInitializeRequest(message);
}

/** Most messages in one POSTed batch (as the SDK). */
const MAX_BATCH = 100;
/** Most requests of one session awaiting their answer; past it a POST gets 429. */
export const MAX_REQUESTS_IN_FLIGHT = 512;
const DEFAULT_KEEP_ALIVE_MS = 15_000;
const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/**
 * An open answer: to one POST that carried requests (an SSE stream, or one JSON body once all are
 * answered), or the session's standalone GET stream (no requests).
 */
interface Answer {
  readonly res: ServerResponse;
  readonly sse: boolean;
  /** The POST's request ids, and the responses sent so far (JSON mode keeps them for the body). */
  readonly ids: RequestId[];
  readonly responses: Map<RequestId, JSONRPCMessage>;
  /** Requests the client cancelled before their response: the server sends none (MCP cancellation). */
  readonly cancelled: Set<RequestId>;
  /** The client went away or the answer is complete: nothing more is written. */
  done: boolean;
  keepAlive: NodeJS.Timeout | undefined;
}

/**
 * The MCP Streamable HTTP server transport (protocol revision 2025-11-25) over node:http, for the
 * ingress's sessions: the SDK's `StreamableHTTPServerTransport` wraps a web-standard transport
 * behind a Request/Response/ReadableStream adapter, which costs more per call than the rest of the
 * gateway's own hot path; this one writes to the `ServerResponse` directly. Same status codes and
 * messages as the SDK's for bad requests; no resumability (no event store).
 *
 * A POST that carries requests is answered with an SSE stream when one of them asks for progress
 * (`_meta.progressToken`) — notifications about a request go on its stream — and otherwise with
 * one `application/json` body once every request in it is answered. A GET opens the session's
 * one standalone SSE stream. DELETE is the caller's (the routes end the session and `close` this).
 */
export class NodeHttpServerTransport implements Transport {
  sessionId: string | undefined;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;

  readonly #generateId: () => string;
  readonly #keepAliveMs: number;
  readonly #answers = new Map<RequestId, Answer>();
  /** Cancelled requests whose POST completed without them: a late response to one is dropped quietly. */
  readonly #cancelledAnswered = new Set<RequestId>();
  #standalone: Answer | undefined;
  #initialized = false;
  #closed = false;

  constructor(options: NodeHttpServerTransportOptions) {
    this.#generateId = options.sessionIdGenerator;
    this.#keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
  }

  async start(): Promise<void> {}

  /** Handles one HTTP request of this session; `parsedBody` is the POST body already parsed as JSON. */
  async handleRequest(req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> {
    if (this.#closed) return this.#reject(res, 404, -32001, 'Session not found');
    if (req.method === 'POST') return this.#post(req, res, parsedBody);
    if (req.method === 'GET') return this.#get(req, res);
    res.writeHead(405, { allow: 'GET, POST, DELETE', 'content-type': 'application/json' });
    res.end(rpcError(-32000, 'Method not allowed.'));
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const response = isResponse(message);
    const requestId = response ? message.id : options?.relatedRequestId;
    if (requestId === undefined) {
      if (response) throw new Error('a response needs the request it answers');
      // Server-initiated: the standalone GET stream, if the client opened one.
      if (this.#standalone && !this.#standalone.done) this.#standalone.res.write(sseEvent(message));
      return;
    }
    const answer = this.#answers.get(requestId);
    if (!answer) {
      if (this.#closed || (response && this.#cancelledAnswered.delete(requestId))) return;
      throw new Error(`no open request ${String(requestId)} on this session`);
    }
    // Cancelled: the client gets no response (even one the SDK sends regardless), and none is
    // counted twice towards completing the POST.
    if (response && answer.cancelled.has(requestId)) return;
    if (!response) {
      // In JSON mode there is nowhere to put a notification about a request (as the SDK).
      if (answer.sse && !answer.done) answer.res.write(sseEvent(message));
      return;
    }
    answer.responses.set(requestId, message);
    this.#settle(answer, message);
  }

  /**
   * Completes `answer` once every request of its POST is answered or cancelled: the SSE stream
   * ends (with `last`, the response that completed it, if any), or the JSON body is written (the
   * responses; 202 without a body when every request was cancelled). Until then a response goes
   * out on the stream as it comes (SSE) or waits for the body (JSON).
   */
  #settle(answer: Answer, last?: JSONRPCMessage): void {
    if (answer.responses.size + answer.cancelled.size < answer.ids.length) {
      if (last !== undefined && answer.sse && !answer.done) answer.res.write(sseEvent(last));
      return;
    }
    // The last answer of this POST: the stream (or the JSON body) ends with it.
    for (const id of answer.ids) this.#answers.delete(id);
    for (const id of answer.cancelled) this.#rememberCancelled(id);
    if (answer.done) return; // the client went away; nothing to write to
    answer.done = true;
    clearInterval(answer.keepAlive);
    if (answer.sse) {
      answer.res.end(last === undefined ? undefined : sseEvent(last));
      return;
    }
    const responses = answer.ids.flatMap((id) => {
      const response = answer.responses.get(id);
      return response === undefined ? [] : [response];
    });
    if (responses.length === 0) {
      answer.res.writeHead(202, this.#headers({})).end();
      return;
    }
    const body = answer.ids.length === 1 ? JSON.stringify(responses[0]) : JSON.stringify(responses);
    answer.res.writeHead(200, this.#headers({ 'content-type': 'application/json' }));
    answer.res.end(body);
  }

  /**
   * After the SDK saw `messages`: a `notifications/cancelled` for a request still awaiting its
   * answer means no response will come for it (the SDK drops a cancelled request's result), so
   * its POST is answered without it rather than held open for the life of the session.
   */
  #forgetCancelled(messages: readonly JSONRPCMessage[]): void {
    for (const message of messages) {
      if (!('method' in message) || message.method !== 'notifications/cancelled' || 'id' in message) continue;
      // Only a cancellation the SDK acts on (it parses the notification and ignores a falsy id).
      const parsed = CancelledNotificationSchema.safeParse(message);
      const requestId = parsed.success ? parsed.data.params.requestId : undefined;
      if (requestId === undefined || requestId === '' || requestId === 0) continue;
      const answer = this.#answers.get(requestId);
      if (answer === undefined || answer.responses.has(requestId)) continue;
      answer.cancelled.add(requestId);
      this.#settle(answer);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const open = new Set(this.#answers.values());
    if (this.#standalone) open.add(this.#standalone);
    this.#answers.clear();
    this.#standalone = undefined;
    for (const answer of open) this.#finish(answer);
    this.onclose?.();
  }

  #post(req: IncomingMessage, res: ServerResponse, parsedBody: unknown): void {
    const accept = req.headers.accept;
    if (!accept?.includes('application/json') || !accept.includes('text/event-stream'))
      return this.#reject(
        res,
        406,
        -32000,
        'Not Acceptable: Client must accept both application/json and text/event-stream',
      );
    if (!isJsonContentType(req.headers['content-type']))
      return this.#reject(res, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
    if (Array.isArray(parsedBody) && parsedBody.length > MAX_BATCH)
      return this.#reject(res, 400, -32600, `Invalid Request: Batch must not exceed ${MAX_BATCH} messages`);
    const raw = Array.isArray(parsedBody) ? parsedBody : [parsedBody];
    const messages: JSONRPCMessage[] = [];
    for (const item of raw) {
      const parsed = JSONRPCMessageSchema.safeParse(item);
      if (!parsed.success) return this.#reject(res, 400, -32700, 'Parse error: Invalid JSON-RPC message');
      messages.push(parsed.data);
    }
    if (messages.length === 0) return this.#reject(res, 400, -32600, 'Invalid Request: empty batch');

    if (messages.some(isInitialize)) {
      if (this.#initialized)
        return this.#reject(res, 400, -32600, 'Invalid Request: Server already initialized');
      if (messages.length > 1)
        return this.#reject(res, 400, -32600, 'Invalid Request: Only one initialization request is allowed');
      this.sessionId = this.#generateId();
      this.#initialized = true;
    } else {
      const invalid = this.#sessionProblem(req);
      if (invalid) return this.#reject(res, invalid.status, invalid.code, invalid.message);
    }

    const extra: MessageExtraInfo = { requestInfo: { headers: req.headers } };
    const requests = messages.filter(isRequest);
    if (requests.length === 0) {
      res.writeHead(202).end();
      for (const message of messages) this.onmessage?.(message, extra);
      this.#forgetCancelled(messages);
      return;
    }
    const ids = requests.map((r) => r.id);
    const clash = ids.find((id, i) => this.#answers.has(id) || ids.indexOf(id) !== i);
    if (clash !== undefined)
      return this.#reject(
        res,
        400,
        -32600,
        `Invalid Request: request id ${String(clash)} is already in flight`,
      );
    if (this.#answers.size + ids.length > MAX_REQUESTS_IN_FLIGHT)
      return this.#reject(
        res,
        429,
        -32000,
        `Too Many Requests: at most ${MAX_REQUESTS_IN_FLIGHT} requests of a session may await their answer`,
      );
    const sse = requests.some((r) => r.params?._meta?.progressToken !== undefined);
    const answer = this.#open(res, ids, sse);
    for (const id of ids) this.#answers.set(id, answer);
    for (const message of messages) this.onmessage?.(message, extra);
    this.#forgetCancelled(messages);
  }

  #get(req: IncomingMessage, res: ServerResponse): void {
    if (!req.headers.accept?.includes('text/event-stream'))
      return this.#reject(res, 406, -32000, 'Not Acceptable: Client must accept text/event-stream');
    const invalid = this.#sessionProblem(req);
    if (invalid) return this.#reject(res, invalid.status, invalid.code, invalid.message);
    if (this.#standalone && !this.#standalone.done)
      return this.#reject(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
    const stream = this.#open(res, [], true);
    this.#standalone = stream;
    res.on('close', () => {
      if (this.#standalone === stream) this.#standalone = undefined;
    });
  }

  /** Whether a non-initialize request may use this session (the routes matched its id already). */
  #sessionProblem(req: IncomingMessage): { status: number; code: number; message: string } | undefined {
    if (!this.#initialized)
      return { status: 400, code: -32000, message: 'Bad Request: Server not initialized' };
    const version = req.headers['mcp-protocol-version'];
    if (typeof version === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version))
      return {
        status: 400,
        code: -32000,
        message: `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
      };
    return undefined;
  }

  /**
   * Opens the answer on `res` to the requests `ids`: from the moment the client goes away nothing
   * more is written; with `sse`, the event stream starts now (headers, keep-alive comments).
   */
  #open(res: ServerResponse, ids: RequestId[], sse: boolean): Answer {
    const answer: Answer = {
      res,
      sse,
      ids,
      responses: new Map(),
      cancelled: new Set(),
      done: false,
      keepAlive: undefined,
    };
    res.on('close', () => {
      answer.done = true;
      clearInterval(answer.keepAlive);
    });
    if (sse) {
      res.writeHead(200, this.#headers(SSE_HEADERS));
      res.flushHeaders();
      answer.keepAlive = this.#keepAlive(answer);
    }
    return answer;
  }

  #rememberCancelled(id: RequestId): void {
    this.#cancelledAnswered.add(id);
    if (this.#cancelledAnswered.size > MAX_REQUESTS_IN_FLIGHT)
      this.#cancelledAnswered.delete(this.#cancelledAnswered.values().next().value!);
  }

  #keepAlive(answer: Answer): NodeJS.Timeout | undefined {
    if (!Number.isFinite(this.#keepAliveMs) || this.#keepAliveMs < 1) return undefined;
    const timer = setInterval(() => {
      if (!answer.done) answer.res.write(': keepalive\n\n');
    }, this.#keepAliveMs);
    timer.unref();
    return timer;
  }

  /** Ends an open answer (session closed): SSE streams end, a pending JSON answer gets 404. */
  #finish(answer: Answer): void {
    if (answer.done) return;
    answer.done = true;
    clearInterval(answer.keepAlive);
    if (answer.res.headersSent) answer.res.end();
    else {
      answer.res.writeHead(404, { 'content-type': 'application/json' });
      answer.res.end(rpcError(-32001, 'Session not found'));
    }
  }

  #headers(base: Readonly<Record<string, string>>): Record<string, string> {
    return this.sessionId === undefined ? { ...base } : { ...base, 'mcp-session-id': this.sessionId };
  }

  #reject(res: ServerResponse, status: number, code: number, message: string): void {
    this.onerror?.(new Error(message));
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(rpcError(code, message));
  }
}

function sseEvent(message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

function rpcError(code: number, message: string): string {
  return JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
}

function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const media = value.split(';', 1)[0]!.trim().toLowerCase();
  return media === 'application/json';
}
